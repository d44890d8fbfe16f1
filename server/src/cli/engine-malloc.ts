// The first thing bin/rdpipe.js runs, before the CLI's bundle loads: a command that runs jobs in this
// process (`run`, `node`) starts again under the engine's malloc settings (cluster/allocator.ts).
import { restartWithEngineMalloc } from "../cluster/allocator";

const JOB_COMMANDS = new Set(["run", "node"]);

export function setUpProcess(argv: string[]): void {
  if (JOB_COMMANDS.has(argv[2])) restartWithEngineMalloc();
}
