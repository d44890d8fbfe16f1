// Where the engine's own files are, for starting workers and nodes.
import fs from "node:fs";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import type { Worker } from "node:worker_threads";
import { adoptEngineTunables, engineMallocEnv } from "./allocator";

export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "rdpipe") return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the rdpipe package root above ${__dirname}`);
    dir = parent;
  }
}

/**
 * The environment of an engine process this one starts (a server's job runner, a node): glibc's malloc
 * set from its start (./allocator.ts); a tunable the user set wins.
 */
export function engineProcessEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, ...engineMallocEnv(env) };
}

/**
 * V8's settings in a process the engine owns. TurboFan waits for 4× V8's default interrupt budget before
 * optimizing a function: every worker isolate optimized Arrow's per-batch machinery (~300 functions
 * called a few thousand times per job), 0.25 CPU-s per worker of a 5M-row Parquet job (2 workers, 6
 * alternating runs: 3.53 → 3.19 CPU-s median; the row UDF job unchanged). Wasm functions move from
 * Liftoff to TurboFan after 10× V8's default tiering budget: parquet-wasm's large decoders tiered up
 * after a few calls each, ~1 CPU-s of TurboFan compilation on the same job, 0.5 s of it on functions
 * run too little to repay it, on the second core that the second worker needs (2 workers, 6 alternating
 * runs: 2.32 → 1.98 s wall, 3.75 → 3.18 CPU-s; 1 worker 2.43 → 2.32 s; the row UDF job unchanged).
 */
export const ENGINE_V8_FLAGS = ["--interrupt-budget=270336", "--wasm-tiering-budget=18000000"];

/**
 * Settings of a process the engine owns (the CLI's commands, a server's job runner), made before it
 * starts worker threads or loads parquet-wasm: the user's GLIBC_TUNABLES back in its environment where it
 * started under the engine's (./allocator.ts), and V8's (ENGINE_V8_FLAGS); the in-process API leaves its
 * host process's settings alone.
 */
export function tuneEngineProcess(): void {
  adoptEngineTunables();
  for (const flag of ENGINE_V8_FLAGS) setFlagsFromString(flag);
}

export function workerScript(): string {
  const script = path.join(packageRoot(), "dist", "worker.js");
  if (!fs.existsSync(script)) throw new Error(`worker bundle missing at ${script}: run \`npm run build\``);
  return script;
}

/** The worker threads' loader (dist/code-cache.js, beside the bundles): it may hold threads bin/rdpipe.js started early. */
interface WorkerLoader { workerThread(script: string): Worker }

/**
 * A worker thread running the worker bundle, compiled from its V8 code cache (each thread would
 * otherwise parse and compile the whole bundle again): one `rdpipe run` started early, or a new one.
 */
export function workerThread(script = workerScript()): Worker {
  return (require(path.join(path.dirname(script), "code-cache.js")) as WorkerLoader).workerThread(script);
}
