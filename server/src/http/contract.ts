// The wire contract of the execution server: every request body, response body and SSE event, as
// JSON-safe types. The server, the CLI's remote mode, the extension and the webview all import this
// file; it has no runtime dependencies beyond type-only imports of the engine's progress and errored-row shapes.
import type { ErroredRow } from "../checkpoint";
import type { OperatorProgress, ProgressSnapshot } from "../exec";

export type { OperatorProgress, ProgressSnapshot };

/** Bumped on any incompatible change to this file. */
export const API_VERSION = 1;

/** The line `rdpipe serve` prints on stdout once it listens, followed by JSON `{ url, port }`: how a parent process learns the address. */
export const LISTENING_PREFIX = "RDPIPE_SERVER_LISTENING ";

/** The address in `rdpipe serve`'s output so far, once it has printed its listening line. */
export function parseListening(output: string): { url: string; port: number } | undefined {
  const line = output.split("\n").find((l) => l.startsWith(LISTENING_PREFIX));
  return line ? (JSON.parse(line.slice(LISTENING_PREFIX.length)) as { url: string; port: number }) : undefined;
}

/** A pipeline compiled by a client (`rdpipe bundle`), as uploaded to a server that cannot read the client's disk. */
export type BundleSource = Extract<JobSource, { kind: "bundle" }>;

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
  /**
   * "Run to here": run the plan only up to the operator at this index of its canonical order (the
   * `index` of POST /plan's operators) and return its first `preview` rows; nothing is written.
   */
  untilOperator?: number;
}

/** A job failure: the engine's TaskErrorInfo when a task failed, else just the message. */
export interface JobError {
  message: string;
  kind?: "udf" | "input" | "internal" | "load" | "plan" | "worker";
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
  /** Formatted rows, for a plan without a write. */
  previewRows?: string[];
  durationMs: number;
  peakMemoryBytes: number;
  statsText: string;
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

/** A reason the engine would refuse to run the plan, at the operator at fault (null: the plan as a whole). */
export interface PlanProblem { operatorIndex: number | null; message: string }

export interface PlanInspection { operators: PlanOperator[]; problems: PlanProblem[] }

export interface PlanResponse extends PlanInspection { type: "plan"; pipeline: string }

export interface SchemaResponse { type: "schema"; path: string; files: number; rows?: number; schema: FieldInfo[] | null }

// ------------------------------------------------------------------ checkpoint contents (GET /jobs/:id/checkpoint...)

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Every checkpoint view is one page: `offset` and `limit` as asked (or defaulted), `total` items in all. */
export interface Page { offset: number; limit: number; total: number }

/** The largest `limit` a checkpoint view accepts; the default is CHECKPOINT_PAGE_DEFAULT. */
export const CHECKPOINT_PAGE_MAX = 1000;
export const CHECKPOINT_PAGE_DEFAULT = 100;

export interface CheckpointManifestInfo { idColumn: string; output: { path: string; format: string }; createdAt: string }

/** GET /jobs/:id/checkpoint: the checkpoint's totals; the page is of committed output files, each with its ID count. */
export interface CheckpointSummaryResponse extends Page {
  type: "checkpoint";
  jobId: string;
  path: string;
  manifest?: CheckpointManifestInfo;
  /** Attempts that have run on this checkpoint (output file prefixes). */
  attempts: string[];
  committedIds: number;
  /** Input files earlier attempts consumed whole (a resume does not read them again). */
  doneFiles: number;
  /** Errored rows whose IDs are still uncommitted (a resume processes exactly these). */
  erroredRows: number;
  files: { output: string; ids: number }[];
}

/** GET /jobs/:id/checkpoint/ids: committed IDs in commit-record order, as strings (IDs may exceed 2^53). */
export interface CheckpointIdsResponse extends Page { type: "checkpointIds"; jobId: string; ids: string[] }

/**
 * GET /jobs/:id/checkpoint/rows: rows of the committed output files, each with its file. Values are JSON:
 * 64-bit integers as decimal strings, dates as ISO strings, binary values as "<N bytes>".
 */
export interface CheckpointRowsResponse extends Page { type: "checkpointRows"; jobId: string; rows: { file: string; row: Record<string, JsonValue> }[] }

/** A row a UDF failed on under onError: "skip", recorded beside the checkpoint (its ID as JSON: 64-bit integers as strings). */
export type CheckpointErroredRow = Omit<ErroredRow, "id"> & { id: JsonValue };

/** GET /jobs/:id/checkpoint/errors: errored rows that no later attempt committed. */
export interface CheckpointErrorsResponse extends Page { type: "checkpointErrors"; jobId: string; rows: CheckpointErroredRow[] }

export type CheckpointView = CheckpointSummaryResponse | CheckpointIdsResponse | CheckpointRowsResponse | CheckpointErrorsResponse;

/** The views of a job's checkpoint: GET /jobs/:id/checkpoint and /checkpoint/{ids,rows,errors}. */
export type CheckpointViewName = "summary" | "ids" | "rows" | "errors";

// ------------------------------------------------------------------ requests

export type ApiRequest =
  | { type: "submitJob"; source: JobSource; options?: JobOptions }
  | { type: "inspectPlan"; source: JobSource }
  /**
   * Resume a finished job from its checkpoint, as a new job (`resumedFrom` names the original). A path job
   * re-reads its file; a bundle job runs `source` when given (a fixed bundle), else its original bundle.
   * `options` override the original job's.
   */
  | { type: "resumeJob"; source?: Extract<JobSource, { kind: "bundle" }>; options?: JobOptions };

export type SubmitJobRequest = Extract<ApiRequest, { type: "submitJob" }>;
export type InspectPlanRequest = Extract<ApiRequest, { type: "inspectPlan" }>;

// ------------------------------------------------------------------ responses

export type ApiResponse =
  | { type: "health"; ok: true; apiVersion: number; version: string }
  | { type: "job"; job: JobSummary; progress?: ProgressSnapshot }
  | { type: "jobs"; jobs: JobSummary[] }
  | PlanResponse
  | SchemaResponse
  | CheckpointView
  | ApiErrorResponse;

/**
 * `bad_request` (400) is a malformed request. The 422 codes say what could not be processed: `pipeline_error`, a
 * pipeline file that does not load (syntax error, no default export, a throw at its top level) or whose plan cannot
 * be inspected; `checkpoint_unreadable`, a checkpoint whose contents cannot be read; `data_unreadable`, input files
 * whose schema cannot be read or that no read could take as one dataset (none found, damaged, schemas that differ).
 */
export type ErrorCode =
  | "bad_request" | "unauthorized" | "forbidden" | "not_found" | "payload_too_large" | "unsupported_media_type"
  | "conflict" | "pipeline_error" | "checkpoint_unreadable" | "data_unreadable" | "internal";

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
  /** The job's checkpoint status changed: it became known after loading, its counters moved, or it was deleted. */
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
  checkpoint: "GET /jobs/:id/checkpoint?offset&limit",
  checkpointIds: "GET /jobs/:id/checkpoint/ids?offset&limit",
  checkpointRows: "GET /jobs/:id/checkpoint/rows?offset&limit",
  checkpointErrors: "GET /jobs/:id/checkpoint/errors?offset&limit",
  inspectPlan: "POST /plan",
  datasetSchema: "GET /schema?path=",
} as const;
