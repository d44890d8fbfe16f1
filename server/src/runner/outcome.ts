// Running a loaded pipeline to a JSON-safe outcome (the contract's JobResult or JobError): what both
// `rdpipe run` and a server job do.
import type { Dataset } from "../api/dataset";
import { TaskError } from "../cluster/transforms";
import type { JobError, JobResult, ProgressSnapshot } from "../contract";
import { ExecutionError } from "../exec";
import { RdpipeError } from "../errors";
import { FileDatasink } from "../io";
import { opDisplayName } from "../plan";
import { previewOf } from "./preview";

export interface RunDatasetOptions {
  preview: number;
  onProgress?: (snapshot: ProgressSnapshot) => void;
  signal?: AbortSignal;
}

/** Runs a plan: one ending in a write writes, any other returns its first `preview` rows. */
export async function runDataset(dataset: Dataset, options: RunDatasetOptions): Promise<JobResult> {
  const runOptions = { onProgress: options.onProgress, signal: options.signal };
  const op = dataset.op;
  if (op.kind === "write") {
    const result = await dataset.run(runOptions);
    return {
      rowsOut: result.rowsOut, durationMs: result.durationMs, peakMemoryBytes: result.peakMemoryBytes, statsText: result.statsText,
      written: { path: op.datasink instanceof FileDatasink ? op.datasink.path : opDisplayName(op), files: result.written.length, bytes: result.written.reduce((s, f) => s + f.bytes, 0) },
    };
  }
  const limited = dataset.limit(options.preview);
  const table = await limited.toArrow(runOptions);
  const result = limited.lastRun()!;
  const preview = previewOf(table);
  return {
    rowsOut: table.numRows, durationMs: result.durationMs, peakMemoryBytes: result.peakMemoryBytes, statsText: result.statsText,
    preview,
  };
}

/** The stack of the UDF an engine error came from, when a UDF failed. */
export function udfStackOf(e: unknown): string | undefined {
  return e instanceof ExecutionError || e instanceof TaskError ? e.info?.stack : undefined;
}

/** The user-facing description of why a job failed. */
export function toJobError(e: unknown): JobError {
  if (e instanceof ExecutionError || e instanceof TaskError) return { ...e.info, message: e.message, kind: e.info?.kind };
  if (e instanceof RdpipeError && e.code !== "usage" && e.code !== "config") return { message: e.message, kind: e.code };
  const error = e instanceof Error ? e : new Error(String(e));
  return { message: error.message, kind: "internal", stack: error.stack };
}
