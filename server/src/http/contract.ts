// The wire contract of the execution server: every request body, response body and SSE event, as
// JSON-safe types. The server, the CLI's remote mode, the extension and the webview all import this
// file; it has no runtime dependencies beyond the type-only import of the engine's progress shape.
import type { OperatorProgress, ProgressSnapshot } from "../exec";

export type { OperatorProgress, ProgressSnapshot };

/** Bumped on any incompatible change to this file. */
export const API_VERSION = 1;

// ------------------------------------------------------------------ jobs

export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export const FINISHED_STATES: readonly JobState[] = ["succeeded", "failed", "cancelled", "interrupted"];

/** What to run: a pipeline file on the server's disk (inside its roots), or a bundle compiled by the client. */
export type JobSource =
  | { kind: "path"; path: string }
  | { kind: "bundle"; filename: string; code: string };

export interface JobOptions {
  /** Rows to return for a plan that does not end in a write (default 20). */
  preview?: number;
  /** Worker threads for this job. */
  workers?: number;
  /** Memory budget for queued blocks, in bytes. */
  memoryBytes?: number;
}

/** A job failure: the engine's TaskErrorInfo when a task failed, else just the message. */
export interface JobError {
  message: string;
  kind?: "udf" | "input" | "internal" | "load" | "plan" | "worker";
  operator?: string;
  file?: string;
  row?: number;
  rowPreview?: string;
  stack?: string;
}

export interface JobResult {
  rowsOut: number;
  /** Set when the plan ends in a write. */
  written?: { path: string; files: number; bytes: number };
  /** Formatted rows, for a plan without a write. */
  previewRows?: string[];
  durationMs: number;
  peakMemoryBytes: number;
  statsText: string;
}

/**
 * Job-level checkpointing (issue 5) is not built yet; this is where its counters will appear.
 * Until then every job reports `available: false` with the reason.
 */
export type CheckpointStatus =
  | { available: false; reason: string }
  | { available: true; committedFiles: number; committedIds: number; erroredRows: number };

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
}

export interface JobDetail { job: JobSummary; progress?: ProgressSnapshot }

// ------------------------------------------------------------------ inspection

export interface FieldInfo { name: string; type: string; nullable: boolean }

export interface PlanOperator {
  /** Position in the plan's canonical order (what workers use to find UDFs). */
  index: number;
  name: string;
  kind: string;
  inputs: number[];
  /** The operator's output schema, from executing the plan up to it on its first block; null when it could not be found. */
  schema: FieldInfo[] | null;
  schemaError?: string;
}

export interface PlanResponse { type: "plan"; pipeline: string; operators: PlanOperator[] }

export interface SchemaResponse { type: "schema"; path: string; files: number; rows?: number; schema: FieldInfo[] | null }

// ------------------------------------------------------------------ requests

export type ApiRequest =
  | { type: "submitJob"; source: JobSource; options?: JobOptions }
  | { type: "inspectPlan"; source: JobSource };

export type SubmitJobRequest = Extract<ApiRequest, { type: "submitJob" }>;
export type InspectPlanRequest = Extract<ApiRequest, { type: "inspectPlan" }>;

// ------------------------------------------------------------------ responses

export type ApiResponse =
  | { type: "health"; ok: true; apiVersion: number; version: string }
  | { type: "job"; job: JobSummary; progress?: ProgressSnapshot }
  | { type: "jobs"; jobs: JobSummary[] }
  | PlanResponse
  | SchemaResponse
  | ApiErrorResponse;

export type ErrorCode =
  | "bad_request" | "unauthorized" | "forbidden" | "not_found" | "payload_too_large" | "unsupported_media_type"
  | "conflict" | "not_implemented" | "internal";

export interface ApiErrorResponse { type: "error"; error: { code: ErrorCode; message: string } }

// ------------------------------------------------------------------ SSE events (GET /jobs/:id/events)

/**
 * Each event is one SSE message whose `data` is a JobEvent and whose `id` is `seq`. A subscriber first
 * gets a `state` event (the job's current state and latest progress), then live events; one that sends
 * `Last-Event-ID` first gets the `log` events it missed. The stream ends after `finished`. `at` is the
 * server's clock (ms since epoch) when the event was created, so clients can measure event lag.
 */
export type JobEvent =
  | { type: "state"; seq: number; at: number; job: JobSummary; progress?: ProgressSnapshot }
  | { type: "progress"; seq: number; at: number; jobId: string; progress: ProgressSnapshot }
  | { type: "log"; seq: number; at: number; jobId: string; stream: "stdout" | "stderr"; text: string }
  | { type: "finished"; seq: number; at: number; job: JobSummary }
  | { type: "checkpoint"; seq: number; at: number; jobId: string; checkpoint: CheckpointStatus };

// ------------------------------------------------------------------ endpoints

/** Every route, for clients. `:id` is a job id. */
export const ROUTES = {
  health: "GET /health",
  submitJob: "POST /jobs",
  listJobs: "GET /jobs",
  getJob: "GET /jobs/:id",
  cancelJob: "POST /jobs/:id/cancel",
  resumeJob: "POST /jobs/:id/resume",
  jobEvents: "GET /jobs/:id/events",
  checkpoint: "GET /jobs/:id/checkpoint",
  checkpointIds: "GET /jobs/:id/checkpoint/ids?offset&limit",
  checkpointRows: "GET /jobs/:id/checkpoint/rows?offset&limit",
  checkpointErrors: "GET /jobs/:id/checkpoint/errors?offset&limit",
  inspectPlan: "POST /plan",
  datasetSchema: "GET /schema?path=",
} as const;
