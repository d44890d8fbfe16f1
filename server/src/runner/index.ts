// The job runner: runs a loaded pipeline to an outcome for `rdpipe run`, and (job-runner.ts, its own
// process entry) runs the server's jobs, plan inspections and checkpoint views.
export { isEngineError, runDataset, schemaFields, toJobError, udfStackOf, type RunDatasetOptions } from "./outcome";
export type { CheckpointViewRequest } from "./checkpoint-view";
export type { RunCheckpoint, RunnerMessage, RunnerPipeline, RunnerRequest } from "./protocol";
export { insideRoots, realRoots } from "./roots";
