// Bundles the CLI (driver), the worker entry, the job-runner entry (one process per server job) and the public API into dist/,
// and the panel (webview/src/panel.ts, which imports its stylesheet) for the browser into dist/webview/ (panel.js, panel.css).
import { build } from "esbuild";

const entries = {
  cli: "server/src/cli/index.ts", worker: "server/src/cluster/worker.ts", "job-runner": "server/src/http/runner.ts", api: "server/src/api/index.ts",
};
await build({
  entryPoints: entries, outdir: "dist", bundle: true, platform: "node", target: "node20", format: "cjs",
  packages: "external", sourcemap: true, logLevel: "warning",
});
await build({
  entryPoints: { panel: "webview/src/panel.ts" }, outdir: "dist/webview", bundle: true,
  platform: "browser", target: "chrome120", format: "iife", sourcemap: true, logLevel: "warning",
});
