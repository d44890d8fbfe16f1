// The first thing bin/rdpipe.js runs, before the CLI's bundle loads (an entry of its own, dist/cli-start.js,
// kept small). A command that runs a job in this process starts again under the engine's malloc settings
// (cluster/allocator.ts), and `rdpipe run` has its worker threads start now, while the CLI loads and the
// pipeline is bundled and planned: a worker thread takes ~0.25 s to start, loading the CLI ~0.15 s.
import os from "node:os";
import { restartWithEngineMalloc } from "../cluster/allocator";
import { tuneEngineProcess } from "../cluster/paths";

/** The value of `--name N` or `--name=N` among the arguments, or whether the flag is there at all. */
function option(args: string[], name: string): string | boolean {
  const at = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (at < 0) return false;
  return args[at].includes("=") ? args[at].slice(name.length + 1) : args[at + 1] ?? true;
}

/** Sets the process up for the command in `argv` (process.argv); returns how many worker threads to start now. */
export function startProcess(argv: string[]): number {
  // V8's flags are set before any bundle loads or worker starts: a flag set meanwhile changes the tag
  // of the code caches being made (code-cache.ts), and they would be refused or not kept.
  tuneEngineProcess();
  const [command, ...args] = argv.slice(2);
  if (command === "node") restartWithEngineMalloc();
  // A job on a server or on nodes runs elsewhere: this process only drives it.
  if (command !== "run" || option(args, "--server") !== false || option(args, "--nodes") !== false) return 0;
  // A preview reads a few blocks: restarting would cost it more than malloc's settings save.
  if (option(args, "--preview") === false) restartWithEngineMalloc();
  const workers = Number(option(args, "--workers"));
  return Number.isInteger(workers) && workers > 0 ? workers : os.availableParallelism();
}
