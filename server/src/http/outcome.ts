// Running a loaded pipeline to a JSON-safe outcome: what both `rdpipe run` and a server job do.
import type { Schema } from "apache-arrow";
import { formatRow, type Dataset } from "../api/dataset";
import { ExecutionError, type ProgressSnapshot } from "../exec";
import { PipelineLoadError } from "../loader";
import { PlanError } from "../plan";
import { IoError } from "../io";
import { BlockError } from "../block";
import type { FieldInfo, JobError, JobResult } from "./contract";

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
