// The extension's activation: the rdpipe language client for *.rdpipe.ts (beside the built-in TypeScript
// support) and the CodeLens commands, which call the execution server. The panel and the server
// management commands of issue 7 come later; commands not implemented yet say so.
import * as vscode from "vscode";
import { LanguageClient, TransportKind } from "vscode-languageclient/node";
import { RemoteClient } from "../../server/src/http/client";
import { latestJobOf } from "./jobs";
import type { LanguageServerOptions, OperatorCommandArgument } from "./server/language-server";

let languageClient: LanguageClient | undefined;

const TOKEN_SECRET = "rdpipe.token";

async function serverSettings(context: vscode.ExtensionContext): Promise<LanguageServerOptions> {
  const serverUrl = vscode.workspace.getConfiguration("rdpipe").get<string>("serverUrl", "http://127.0.0.1:7717");
  return { serverUrl, token: await context.secrets.get(TOKEN_SECRET) };
}

/** Runs a command body, showing its failure (an unreachable server, a refused request) as an error message. */
function command(name: string, body: (argument: OperatorCommandArgument) => Promise<string>): (argument: OperatorCommandArgument) => Promise<void> {
  return async (argument) => {
    try {
      void vscode.window.showInformationMessage(await body(argument));
    } catch (e) {
      void vscode.window.showErrorMessage(`rdpipe ${name}: ${(e as Error).message}`);
    }
  };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const settings = await serverSettings(context);
  const server = new RemoteClient(settings.serverUrl, settings.token);
  const pipelinePath = (argument: OperatorCommandArgument) => vscode.Uri.parse(argument.uri).fsPath;
  const latestJob = async (argument: OperatorCommandArgument) => {
    const job = await latestJobOf(server, pipelinePath(argument));
    if (!job) throw new Error(`no job of ${pipelinePath(argument)} on the server at ${settings.serverUrl}; run it first`);
    return job;
  };

  context.subscriptions.push(
    vscode.commands.registerCommand("rdpipe.run", command("Run", async (argument) => {
      const { job } = await server.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: pipelinePath(argument) } });
      return `rdpipe: submitted job ${job.id} (${job.state}). Following its progress in the editor is not implemented yet.`;
    })),
    vscode.commands.registerCommand("rdpipe.runToHere", command("Run to here", async (argument) => {
      const { job } = await server.request("POST", "/jobs", "job", {
        type: "submitJob", source: { kind: "path", path: pipelinePath(argument) }, options: { untilOperator: argument.operatorIndex },
      });
      return `rdpipe: submitted job ${job.id} (${job.state}), running the plan up to operator ${argument.operatorIndex}. Following its progress in the editor is not implemented yet.`;
    })),
    vscode.commands.registerCommand("rdpipe.resume", command("Resume", async (argument) => {
      const previous = await latestJob(argument);
      const { job } = await server.request("POST", `/jobs/${previous.id}/resume`, "job", { type: "resumeJob" });
      return `rdpipe: job ${previous.id} resumed as job ${job.id} (${job.state}).`;
    })),
    vscode.commands.registerCommand("rdpipe.inspectCheckpoint", command("Inspect checkpoint", async (argument) => {
      const job = await latestJob(argument);
      const summary = await server.request("GET", `/jobs/${job.id}/checkpoint`, "checkpoint");
      return `rdpipe: checkpoint of job ${job.id} at ${summary.path}: ${summary.committedIds} IDs committed in ${summary.total} files, `
        + `${summary.erroredRows} errored rows to retry. The checkpoint inspector panel is not implemented yet.`;
    })),
  );

  languageClient = new LanguageClient("rdpipe", "rdpipe", {
    run: { module: context.asAbsolutePath("dist/server.js"), transport: TransportKind.ipc },
    debug: { module: context.asAbsolutePath("dist/server.js"), transport: TransportKind.ipc },
  }, {
    documentSelector: [{ scheme: "file", language: "typescript", pattern: "**/*.rdpipe.ts" }],
    initializationOptions: settings,
  });
  await languageClient.start();
}

export async function deactivate(): Promise<void> {
  await languageClient?.stop();
}
