// What the server and a job-runner process say over IPC: the parent sends one RunnerRequest; the
// runner answers with RunnerMessages and exits.
import type { CheckpointSettings } from "../checkpoint";
import type { HeadAddress, TlsFiles } from "../cluster";
import type { CheckpointView, JobError, JobOptions, JobResult, PlanExplanation, PlanInspection, ProgressSnapshot } from "../contract";
import type { CheckpointViewRequest } from "./checkpoint-view";

/** A pipeline to load: a file to compile, or an already compiled bundle. */
export type RunnerPipeline = { filename: string; code?: string };

export type RunnerRequest =
  /**
   * `resume`: this run continues the checkpoint at that path, so the pipeline must still use it. `cluster`: the
   * server heads a cluster; the runner heads one of its own on that interface and answers `head` (nodes join it).
   */
  | { type: "run"; pipeline: RunnerPipeline; options: JobOptions; resume?: { checkpointPath: string }; cluster?: { host: string; tls?: TlsFiles; heartbeatTimeoutMs?: number } }
  | { type: "plan"; pipeline: RunnerPipeline }
  | ({ type: "checkpoint" } & CheckpointViewRequest);

/** The checkpoint a loaded pipeline runs with, or why it runs without one. */
export type RunCheckpoint = { settings: CheckpointSettings } | { reason: string };

export type RunnerMessage =
  /** After loading: the checkpoint this run uses, or why it runs without one, and the plan it runs. */
  | { type: "started"; checkpoint: RunCheckpoint; plan: PlanExplanation }
  | { type: "progress"; progress: ProgressSnapshot }
  /** Where this job's nodes join it (a server with a cluster port opens a session there on each of its nodes). */
  | { type: "head"; head: HeadAddress }
  | { type: "done"; result: JobResult }
  | ({ type: "plan" } & PlanInspection)
  | { type: "checkpointView"; view: CheckpointView }
  | { type: "refused"; status: 403 | 404; message: string }
  | { type: "failed"; error: JobError };
