// Running a loaded pipeline to a JSON-safe outcome (the contract's JobResult or JobError): what both
// `rdpipe run` and a server job do.
import type { Schema } from "apache-arrow";
import { formatRow, type Dataset } from "../api/dataset";
import { TaskError } from "../cluster/transforms";
import type { FieldInfo, JobError, JobResult, ProgressSnapshot } from "../contract";
import { ExecutionError } from "../exec";
import { PipelineLoadError } from "../loader";
import { PlanError } from "../plan";
import { IoError } from "../io";
import { BlockError } from "../block";

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
      written: { path: op.path, files: result.written.length, bytes: result.written.reduce((s, f) => s + f.bytes, 0) },
    };
  }
  const rows = await dataset.take(options.preview, runOptions);
  const result = dataset.lastRun()!;
  return {
    rowsOut: rows.length, durationMs: result.durationMs, peakMemoryBytes: result.peakMemoryBytes, statsText: result.statsText,
    previewRows: rows.map(formatRow),
  };
}

const ENGINE_ERRORS = [ExecutionError, TaskError, PipelineLoadError, PlanError, IoError, BlockError];

/** Whether an error is one of the engine's own, whose message is meant for the user (any other is an internal error). */
export function isEngineError(e: unknown): e is Error {
  return ENGINE_ERRORS.some((kind) => e instanceof kind);
}

/** The stack of the UDF an engine error came from, when a UDF failed. */
export function udfStackOf(e: unknown): string | undefined {
  return e instanceof ExecutionError || e instanceof TaskError ? e.info?.stack : undefined;
}

/** The user-facing description of why a job failed. */
export function toJobError(e: unknown): JobError {
  if (e instanceof ExecutionError) return { ...e.info, message: e.message, kind: e.info?.kind };
  if (e instanceof PipelineLoadError) return { message: e.message, kind: "load" };
  if (e instanceof PlanError) return { message: e.message, kind: "plan" };
  if (e instanceof IoError || e instanceof BlockError) return { message: e.message, kind: "input" };
  const error = e instanceof Error ? e : new Error(String(e));
  return { message: error.message, kind: "internal", stack: error.stack };
}

export function schemaFields(schema: Schema): FieldInfo[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
}
