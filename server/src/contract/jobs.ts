// Jobs as the execution server keeps them: what to run, with which options, and how it ended.
import type { FieldInfo, PlanExplanation } from "./inspection";
import type { ProgressSnapshot } from "./progress";

export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export const FINISHED_STATES: readonly JobState[] = ["succeeded", "failed", "cancelled", "interrupted"];

/** What to run: a pipeline file on the server's disk (inside its roots), or a bundle compiled by the client. */
export type JobSource =
  | { kind: "path"; path: string }
  | { kind: "bundle"; filename: string; code: string };

/** A pipeline compiled by a client (`rdpipe bundle`), as uploaded to a server that cannot read the client's disk. */
export type BundleSource = Extract<JobSource, { kind: "bundle" }>;

export interface JobOptions {
  /** Rows to return for a plan that does not end in a write (default 20). */
  preview?: number;
  /** Worker threads for this job. */
  workers?: number;
  /** Memory budget for queued blocks, in bytes. */
  memoryBytes?: number;
  /**
   * "Run to here": run the plan only up to the operator at this index of its canonical order (the
   * `index` of POST /plan's operators) and return its first `preview` rows; nothing is written.
   */
  untilOperator?: number;
}

/** A job failure: the engine's TaskErrorInfo when a task failed, else just the message. */
export interface JobError {
  message: string;
  kind?: "udf" | "input" | "internal" | "load" | "plan" | "worker" | "checkpoint";
  operator?: string;
  file?: string;
  row?: number;
  rowPreview?: string;
  /** The failing row as JSON, for debugging it: bigints as decimal strings, cut (ending in …) past 64 KiB. */
  rowInput?: string;
  stack?: string;
}

export interface JobResult {
  rowsOut: number;
  /** Set when the plan ends in a write. */
  written?: { path: string; files: number; bytes: number };
  /** The first rows of a plan without a write, typed (the panel's grid; the CLI prints them). */
  preview?: JobPreview;
  durationMs: number;
  /** The most bytes blocks held at once (ProgressSnapshot's peakMemoryBytes). */
  peakMemoryBytes: number;
  statsText: string;
}

/**
 * A cell as JSON holds it: null stays null; a value JSON cannot hold exactly (an int64 beyond 2^53, NaN,
 * ±Infinity, binary as base64, a timestamp as ISO 8601) is a string, which its field's Arrow type tells apart.
 */
export type PreviewCell = string | number | boolean | null | PreviewCell[] | { [key: string]: PreviewCell };

/** A column of the preview rows: its smallest and largest value (absent for lists, structs, binary and all-null columns) and its nulls. */
export interface ColumnSummary { min?: PreviewCell; max?: PreviewCell; nulls: number }

/** Preview rows with their schema: `rows[r][c]` is the value of `fields[c]`; `summary[c]` summarizes column c over these rows. */
export interface JobPreview {
  fields: FieldInfo[];
  rows: PreviewCell[][];
  summary: ColumnSummary[];
}

/** What a checkpointed job's runs have committed, from the latest progress of this attempt. */
export interface CheckpointCounters {
  /** Output files and IDs committed, by earlier attempts and this one. */
  committedFiles: number;
  committedIds: number;
  /** Rows a UDF failed on in this attempt (onError: "skip"); their IDs stay uncommitted for a resume. */
  erroredRows: number;
  /** Input rows this attempt dropped as it read them, because earlier attempts committed their IDs. */
  rowsAlreadyDone: number;
  /** Input files this attempt did not read: earlier attempts consumed them whole. */
  inputFilesSkipped: number;
}

/**
 * A job's job-level checkpoint. `available: false` until the pipeline has loaded, and for a job that
 * runs without `DataContext.getCurrent().checkpointConfig` (the reason says which). `counters` appear
 * once the attempt has opened the checkpoint; `deleted` is set when a success removed it
 * (deleteCheckpointOnSuccess), after which there is nothing to inspect or resume.
 */
export type CheckpointStatus =
  | { available: false; reason: string }
  | { available: true; path: string; idColumn: string; backend: "batch" | "row"; counters?: CheckpointCounters; deleted: boolean };

export interface JobSummary {
  id: string;
  state: JobState;
  /** The pipeline file (server path, or the client's path for a bundle). */
  pipeline: string;
  sourceKind: JobSource["kind"];
  options: JobOptions;
  submittedAt: string;
  startedAt?: string;
  finishedAt?: string;
  error?: JobError;
  result?: JobResult;
  checkpoint: CheckpointStatus;
  /** Set on a job that resumes another: the id of the job it resumes. */
  resumedFrom?: string;
  /** Set on a job once it has been resumed: the id of the new job, whose events a client follows next. */
  resumedBy?: string;
  /** What the job runs, once loaded: explain()'s plans and what was pushed into each read (the panel's Plan section). */
  plan?: PlanExplanation;
}

export interface JobDetail { job: JobSummary; progress?: ProgressSnapshot }
