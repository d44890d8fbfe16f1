// Bundles the CLI (driver), the worker entry, the job-runner entry (one process per server job) and the public API into dist/.
// (The panel's webview bundle is the extension's: extension/build.mjs.)
import { build } from "esbuild";

const entries = {
  cli: "server/src/cli/index.ts", worker: "server/src/worker/index.ts", "job-runner": "server/src/runner/job-runner.ts", api: "server/src/api/index.ts",
};
await build({
  entryPoints: entries, outdir: "dist", bundle: true, platform: "node", target: "node20", format: "cjs",
  packages: "external", sourcemap: true, logLevel: "warning",
});
