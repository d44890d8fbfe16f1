// The language server's process entry (dist/extension/server.js), started by the extension's language client over IPC.
import { ProposedFeatures, createConnection } from "vscode-languageserver/node";
import { startLanguageServer } from "./language-server";

startLanguageServer(createConnection(ProposedFeatures.all));
