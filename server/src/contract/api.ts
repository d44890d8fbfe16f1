// The execution server's HTTP API: request and response bodies, error codes, SSE events and routes.
import type { CheckpointView } from "./checkpoint";
import type { PlanResponse, SchemaResponse } from "./inspection";
import type { BundleSource, CheckpointStatus, JobOptions, JobSource, JobSummary } from "./jobs";
import type { ProgressSnapshot } from "./progress";

/**
 * A node joined to a server's cluster port (`GET /cluster`). `jobs`: the jobs with a session on it and their
 * CPU slots there; `tasksRunning`: tasks of all its jobs running there (from the jobs' latest progress).
 */
export interface ClusterNode {
  id: number; address: string; pid: number; cpus: number; state: "alive" | "draining" | "lost";
  jobs: { jobId: string; cpus: number }[]; tasksRunning: number;
}

/** Bumped on any incompatible change to the contract. */
export const API_VERSION = 1;

// ------------------------------------------------------------------ requests

export type ApiRequest =
  | { type: "submitJob"; source: JobSource; options?: JobOptions }
  | { type: "inspectPlan"; source: JobSource }
  /**
   * Resume a finished job from its checkpoint, as a new job (`resumedFrom` names the original). A path job
   * re-reads its file; a bundle job runs `source` when given (a fixed bundle), else its original bundle.
   * `options` override the original job's.
   */
  | { type: "resumeJob"; source?: BundleSource; options?: JobOptions };

export type SubmitJobRequest = Extract<ApiRequest, { type: "submitJob" }>;
export type InspectPlanRequest = Extract<ApiRequest, { type: "inspectPlan" }>;

// ------------------------------------------------------------------ responses

export type ApiResponse =
  | { type: "health"; ok: true; apiVersion: number; version: string }
  | { type: "job"; job: JobSummary; progress?: ProgressSnapshot }
  | { type: "jobs"; jobs: JobSummary[] }
  /** `url`: where nodes join (`rdpipe node --head URL --token T`). */
  | { type: "cluster"; url: string; nodes: ClusterNode[] }
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
  cluster: "GET /cluster",
} as const;
