// Where the engine's own files are, for starting workers and nodes.
import fs from "node:fs";
import path from "node:path";

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

export function workerScript(): string {
  const script = path.join(packageRoot(), "dist", "worker.js");
  if (!fs.existsSync(script)) throw new Error(`worker bundle missing at ${script}: run \`npm run build\``);
  return script;
}

/**
 * Node options of a worker thread: none of the parent's (loaders such as tsx in tests stay out; workers
 * run plain bundled JS), but a V8 CPU profile of each worker in the folder RDPIPE_WORKER_CPU_PROF names.
 */
export function workerExecArgv(): string[] {
  const dir = process.env.RDPIPE_WORKER_CPU_PROF;
  return dir ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(dir)] : [];
}
