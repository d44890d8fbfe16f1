// The job runner: runs a pipeline to an outcome for `rdpipe run` (in this process), and, in its own
// process entry (job-runner.ts), the server's jobs, plan inspections and checkpoint views.
export { runLocal, type LocalRunOptions } from "./local";
export { udfStackOf } from "./outcome";
export { previewLines, schemaFields } from "./preview";
export type { RunnerMessage, RunnerPipeline, RunnerRequest } from "./protocol";
export { insideRoots, realRoots } from "./roots";
