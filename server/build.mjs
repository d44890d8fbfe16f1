// Bundles the CLI (driver), the worker entry, the job-runner entry (one process per server job) and the public API into dist/.
// (The panel's webview bundle is the extension's: extension/build.mjs.)
import fs from "node:fs";
import { build } from "esbuild";

const common = { outdir: "dist", bundle: true, platform: "node", target: "node20", format: "cjs", sourcemap: true, logLevel: "warning" };
const { dependencies, devDependencies } = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"));
// The entries that start processes and threads carry apache-arrow (with what it imports) inside: loaded
// from its ~160 files it costs ~3x the CPU of one bundle, in the CLI and again in every worker. The public
// API keeps it external, so that a program importing both rdpipe and apache-arrow shares its classes.
// They hold no dynamic import(): bin/rdpipe.js and worker threads load them through a V8 code cache
// (dist/code-cache.js, a small entry of its own) as vm scripts, which have no ES module loader.
await build({
  ...common, entryPoints: { cli: "server/src/cli/index.ts", worker: "server/src/worker/index.ts", "job-runner": "server/src/runner/job-runner.ts" },
  external: Object.keys({ ...dependencies, ...devDependencies }).filter((name) => name !== "apache-arrow"),
  supported: { "dynamic-import": false },
});
await build({ ...common, entryPoints: { "code-cache": "server/src/loader/code-cache.ts" } });
// bin/rdpipe.js's first step, small: it may replace the process before the CLI loads.
await build({ ...common, entryPoints: { "cli-start": "server/src/cli/start.ts" }, packages: "external" });
await build({ ...common, entryPoints: { api: "server/src/api/index.ts" }, packages: "external" });
