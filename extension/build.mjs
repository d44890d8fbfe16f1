// Bundles the VS Code extension (extension.js, the language client) and its language server (server.js)
// into extension/dist/, each with its dependencies inlined; only `vscode` comes from the editor.
import { build } from "esbuild";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
await build({
  entryPoints: { extension: path.join(here, "src/extension.ts"), server: path.join(here, "src/server/main.ts") },
  outdir: path.join(here, "dist"), bundle: true, platform: "node", target: "node20", format: "cjs",
  external: ["vscode"], sourcemap: true, logLevel: "warning",
});
