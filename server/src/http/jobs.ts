// Jobs: each runs in its own child process (the job runner); the manager keeps every job's latest
// state and progress, fans events out to subscribers, and persists job records so that after a
// server restart the jobs that were running show as interrupted.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { CheckpointSettings } from "../checkpoint";
import { engineProcessEnv, type Membership } from "../cluster";
import {
  FINISHED_STATES, type CheckpointCounters, type CheckpointViewName, type ErrorCode, type CheckpointStatus, type CheckpointView, type JobEvent, type JobOptions, type JobSource,
  type JobSummary, type PlanInspection, type ProgressSnapshot,
} from "../contract";
import { HttpError } from "./errors";
import type { RunnerMessage, RunnerPipeline, RunnerRequest } from "../runner";

/** A job's checkpoint is known once its runner has loaded the pipeline. */
const CHECKPOINT_PENDING: Extract<CheckpointStatus, { available: false }> = { available: false, reason: "not known until the job's pipeline has loaded" };
const CHECKPOINT_NEVER_KNOWN: CheckpointStatus = { available: false, reason: "unknown: the job ended before its pipeline loaded" };

export interface JobManagerOptions {
  stateDir: string;
  /** The job-runner entry (dist/job-runner.js). */
  runnerPath: string;
  /** Jobs running at once; later submissions wait in state `queued`. */
  maxRunningJobs: number;
  /** Time a cancelled job gets to clean up after SIGTERM before SIGKILL. */
  cancelGraceMs: number;
  /** The server's roots: a bundle job's local checkpoint (a path from a client) is read only inside them. */
  roots: string[];
  /** The nodes joined to the server's cluster port: every job runs its tasks there. */
  cluster?: Membership;
}

type Listener = (event: JobEvent) => void;

/** A job record on disk (one JSON file per job). `checkpoint` is what reading and resuming its checkpoint need. */
interface PersistedJob { summary: JobSummary; pipeline: RunnerPipeline; workDir: string; progress?: ProgressSnapshot; checkpoint?: CheckpointSettings }
type EventBody = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, "seq" | "at"> : never) : never;

interface Job {
  summary: JobSummary;
  pipeline: RunnerPipeline;
  /** The runner's working directory: the pipeline file's folder, or the server-owned folder of an uploaded bundle. */
  workDir: string;
  progress?: ProgressSnapshot;
  /** The checkpoint the pipeline uses (from its runner; for a resume, the original's until its runner confirms it). */
  checkpoint?: CheckpointSettings;
  seq: number;
  /** The latest log events, replayed to a client that reattaches with Last-Event-ID. */
  logTail: JobEvent[];
  listeners: Set<Listener>;
  child?: ChildProcess;
  cancelRequested: boolean;
}

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Plan inspection and checkpoint reading in a runner process must answer within this. */
const INSPECTION_TIMEOUT_MS = 120_000;
const RUNNER_NICENESS = 10;
const LOG_TAIL_EVENTS = 1000;

export class JobManager {
  private readonly jobs = new Map<string, Job>();
  private readonly jobsDir: string;
  private readonly bundlesDir: string;
  private closing = false;

  constructor(private readonly options: JobManagerOptions) {
    this.jobsDir = path.join(options.stateDir, "jobs");
    this.bundlesDir = path.join(options.stateDir, "bundles");
    fs.mkdirSync(this.jobsDir, { recursive: true });
    fs.mkdirSync(this.bundlesDir, { recursive: true });
    this.loadPersistedJobs();
  }

  /** Jobs recorded by an earlier server process; those it left unfinished are now interrupted. */
  private loadPersistedJobs(): void {
    for (const name of fs.readdirSync(this.jobsDir).filter((n) => n.endsWith(".json"))) {
      let record: PersistedJob;
      try {
        record = JSON.parse(fs.readFileSync(path.join(this.jobsDir, name), "utf8"));
      } catch {
        continue; // a record cut short by a crash mid-write is ignored, never fatal
      }
      const job: Job = { ...record, seq: 0, logTail: [], listeners: new Set(), cancelRequested: false };
      this.jobs.set(job.summary.id, job);
      if (!FINISHED_STATES.includes(job.summary.state)) this.interrupt(job);
    }
  }

  /** True while a job is queued or running. */
  hasActive(): boolean {
    for (const job of this.jobs.values()) if (!FINISHED_STATES.includes(job.summary.state)) return true;
    return false;
  }

  list(): JobSummary[] {
    return [...this.jobs.values()].map((j) => j.summary).sort((a, b) => a.submittedAt.localeCompare(b.submittedAt));
  }

  get(id: string): { job: JobSummary; progress?: ProgressSnapshot } {
    const job = this.find(id);
    return { job: job.summary, progress: job.progress };
  }

  submit(source: JobSource, resolvedPath: string | undefined, options: JobOptions): JobSummary {
    return this.create(source, resolvedPath, options).summary;
  }

  private create(source: JobSource, resolvedPath: string | undefined, options: JobOptions, resumes?: Job): Job {
    const id = randomUUID();
    let pipeline: RunnerPipeline;
    let workDir: string;
    if (source.kind === "bundle") {
      // The bundle is kept in a server-owned folder; the runner evaluates it under the client's file
      // name, so stack traces and error locations point at the file the user edits.
      workDir = path.join(this.bundlesDir, id);
      fs.mkdirSync(workDir);
      fs.writeFileSync(path.join(workDir, "bundle.js"), source.code);
      pipeline = { filename: source.filename, code: source.code };
    } else {
      pipeline = { filename: resolvedPath! };
      workDir = path.dirname(resolvedPath!);
    }
    const settings = resumes?.checkpoint;
    const job: Job = {
      summary: {
        id, state: "queued", pipeline: pipeline.filename, sourceKind: source.kind, options, submittedAt: new Date().toISOString(),
        checkpoint: settings ? availableStatus(settings) : CHECKPOINT_PENDING, resumedFrom: resumes?.summary.id,
      },
      pipeline, workDir, checkpoint: settings, seq: 0, logTail: [], listeners: new Set(), cancelRequested: false,
    };
    this.jobs.set(id, job);
    if (resumes) {
      resumes.summary.resumedBy = id;
      this.persist(resumes);
    }
    this.persist(job);
    this.startQueued();
    return job;
  }

  cancel(id: string): JobSummary {
    const job = this.find(id);
    if (FINISHED_STATES.includes(job.summary.state)) throw new HttpError(409, "conflict", `job ${id} has already finished (${job.summary.state})`);
    job.cancelRequested = true;
    if (job.summary.state === "queued") {
      this.finish(job, "cancelled");
    } else if (job.child) {
      job.child.kill("SIGTERM");
      const killer = setTimeout(() => job.child?.kill("SIGKILL"), this.options.cancelGraceMs);
      job.child.once("exit", () => clearTimeout(killer));
    }
    return job.summary;
  }

  /**
   * The job, if it can be resumed: finished, not resumed already, with a checkpoint that still exists and
   * that no unfinished job is using. Otherwise a 409 that says why (never a silent rerun from scratch).
   */
  resumable(id: string): JobSummary {
    const job = this.find(id);
    const { state, resumedBy, checkpoint } = job.summary;
    const refuse = (why: string) => new HttpError(409, "conflict", `cannot resume job ${id}: ${why}`);
    if (!FINISHED_STATES.includes(state)) throw refuse(`it is still ${state}; cancel it or wait for it to finish`);
    if (resumedBy) throw refuse(`it was resumed already, as job ${resumedBy}; resume that one (the latest attempt) instead`);
    if (!checkpoint.available || !job.checkpoint) {
      throw refuse("resume continues from a job-level checkpoint and this job has none " +
        `(${checkpoint.available ? "its checkpoint settings are unknown" : checkpoint.reason}). Set DataContext.getCurrent().checkpointConfig = ` +
        "new CheckpointConfig({ idColumn, checkpointPath }) in the pipeline and submit it as a new job");
    }
    if (checkpoint.deleted) throw refuse(`it succeeded and its checkpoint ${checkpoint.path} was deleted (deleteCheckpointOnSuccess): every input was processed`);
    const user = [...this.jobs.values()].find((j) => !FINISHED_STATES.includes(j.summary.state) && j.checkpoint?.checkpointPath === checkpoint.path);
    if (user) throw refuse(`its checkpoint ${checkpoint.path} is in use by job ${user.summary.id} (${user.summary.state})`);
    return job.summary;
  }

  /**
   * Resumes a finished job as a new job linked to it (`resumedFrom`, and `resumedBy` on the original): the same
   * pipeline (a path job's file as it is on disk now; a bundle job's new bundle if given, else its original one)
   * continues the same checkpoint, so only what no earlier attempt committed is processed.
   */
  resume(id: string, resolvedPath: string | undefined, bundle: Extract<JobSource, { kind: "bundle" }> | undefined, options: JobOptions): JobSummary {
    this.resumable(id);
    const original = this.find(id);
    const source: JobSource = original.summary.sourceKind === "path"
      ? { kind: "path", path: original.summary.pipeline }
      : bundle ?? { kind: "bundle", filename: original.pipeline.filename, code: this.storedBundle(original) };
    return this.create(source, resolvedPath, { ...original.summary.options, ...options }, original).summary;
  }

  private storedBundle(job: Job): string {
    try {
      return fs.readFileSync(path.join(job.workDir, "bundle.js"), "utf8");
    } catch {
      throw new HttpError(409, "conflict", `cannot resume job ${job.summary.id}: its uploaded bundle is gone from the server; send the (fixed) bundle as source`);
    }
  }

  /** One page of a job's checkpoint contents, read in a runner process (loading a checkpoint can be slow). */
  async checkpointView(id: string, view: CheckpointViewName, offset: number, limit: number): Promise<CheckpointView> {
    const job = this.find(id);
    const status = job.summary.checkpoint;
    if (!status.available || !job.checkpoint) throw new HttpError(404, "not_found", `job ${id} has no checkpoint: ${status.available ? "its settings are unknown" : status.reason}`);
    if (status.deleted) throw new HttpError(404, "not_found", `the checkpoint of job ${id} (${status.path}) was deleted when the job succeeded (deleteCheckpointOnSuccess)`);
    const { checkpointPath, filesystem } = job.checkpoint;
    const request: RunnerRequest = {
      type: "checkpoint", jobId: id, checkpoint: { path: checkpointPath, filesystem }, view, offset, limit,
      roots: job.summary.sourceKind === "bundle" ? this.options.roots : undefined,
    };
    return (await this.ask(request, "checkpointView", { code: "checkpoint_unreadable", message: `cannot read the checkpoint ${checkpointPath}` })).view;
  }

  /**
   * Sends the job's current state now, then every live event, until the returned function is called.
   * A client reattaching with the id of the last event it saw first gets the log events it missed
   * (progress needs no replay: the state carries the latest).
   */
  subscribe(id: string, listener: Listener, lastEventId?: number): () => void {
    const job = this.find(id);
    if (lastEventId !== undefined) for (const event of job.logTail) if (event.seq > lastEventId) listener(event);
    listener({ type: "state", seq: job.seq, at: Date.now(), job: job.summary, progress: job.progress });
    job.listeners.add(listener);
    return () => job.listeners.delete(listener);
  }

  /** The plan of a pipeline with each operator's schema, found in a runner process (the pipeline's code never runs here). */
  async inspectPlan(pipeline: RunnerPipeline): Promise<PlanInspection> {
    const { operators, problems, checkpointed } = await this.ask({ type: "plan", pipeline }, "plan", { code: "pipeline_error", message: "cannot inspect the plan" });
    return { operators, problems, checkpointed };
  }

  /** One request to a short-lived runner process, answered with one message of the expected type. */
  private ask<T extends "plan" | "checkpointView">(
    request: RunnerRequest, expected: T, failure: { code: ErrorCode; message: string },
  ): Promise<Extract<RunnerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const child = this.spawnRunner(this.options.stateDir); // a bundle's folder is on the client, not here
      const timer = setTimeout(() => child.kill("SIGKILL"), INSPECTION_TIMEOUT_MS);
      let answered = false;
      child.on("message", (message: RunnerMessage) => {
        if (message.type === expected) resolve(message as Extract<RunnerMessage, { type: T }>);
        else if (message.type === "refused") reject(new HttpError(message.status, message.status === 403 ? "forbidden" : "not_found", message.message));
        else if (message.type === "failed") reject(new HttpError(422, failure.code, `${failure.message}: ${message.error.message}`));
        else return;
        answered = true;
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (!answered) reject(new HttpError(422, failure.code, `${failure.message}: the runner ended without an answer (${signal ?? `exit code ${code}`})`));
      });
      child.send(request);
    });
  }

  /** Server shutdown: every unfinished job is stopped and recorded as interrupted. */
  close(): void {
    this.closing = true;
    for (const job of this.jobs.values()) {
      if (FINISHED_STATES.includes(job.summary.state)) continue;
      job.child?.kill("SIGKILL");
      this.interrupt(job);
    }
  }

  private interrupt(job: Job): void {
    job.summary.error = { message: "the server stopped while this job was unfinished", kind: "worker" };
    this.end(job, "interrupted");
  }

  private end(job: Job, state: JobSummary["state"]): void {
    job.summary.state = state;
    job.summary.finishedAt = new Date().toISOString();
    const { checkpoint } = job.summary; // a record read back from disk is a copy: compare the reason
    if (!checkpoint.available && checkpoint.reason === CHECKPOINT_PENDING.reason) job.summary.checkpoint = CHECKPOINT_NEVER_KNOWN;
    this.persist(job);
  }

  private find(id: string): Job {
    if (!JOB_ID.test(id)) throw new HttpError(400, "bad_request", `'${id.slice(0, 80)}' is not a job id`);
    const job = this.jobs.get(id);
    if (!job) throw new HttpError(404, "not_found", `no job ${id}`);
    return job;
  }

  /** Runners get a lower CPU priority (their worker threads inherit it), so the API stays responsive while jobs saturate the cores. */
  private spawnRunner(cwd: string): ChildProcess {
    const child = fork(this.options.runnerPath, [], { cwd, env: engineProcessEnv(), stdio: ["ignore", "pipe", "pipe", "ipc"] });
    try {
      os.setPriority(child.pid!, RUNNER_NICENESS);
    } catch { /* not permitted here: runners share the server's priority */ }
    return child;
  }

  private startQueued(): void {
    const running = [...this.jobs.values()].filter((j) => j.summary.state === "running").length;
    const queued = [...this.jobs.values()].filter((j) => j.summary.state === "queued");
    for (const job of queued.slice(0, Math.max(0, this.options.maxRunningJobs - running))) this.start(job);
  }

  private start(job: Job): void {
    const child = this.spawnRunner(job.workDir);
    job.child = child;
    job.summary.state = "running";
    job.summary.startedAt = new Date().toISOString();
    this.persist(job);
    this.emit(job, { type: "state", job: job.summary, progress: job.progress });
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream]!.setEncoding("utf8").on("data", (text: string) => this.emit(job, { type: "log", jobId: job.summary.id, stream, text }));
    }
    child.on("message", (message: RunnerMessage) => {
      if (message.type === "started") {
        const known = message.checkpoint;
        job.summary.plan = message.plan;
        job.checkpoint = "settings" in known ? known.settings : undefined;
        this.setCheckpoint(job, "settings" in known ? availableStatus(known.settings) : { available: false, reason: known.reason });
        this.persist(job); // a restarted server can read and resume the checkpoint of a job it lost
        this.emit(job, { type: "state", job: job.summary, progress: job.progress }); // now with the plan it runs
      } else if (message.type === "head") {
        this.options.cluster?.addJob(job.summary.id, message.head);
      } else if (message.type === "progress") {
        job.progress = message.progress;
        this.emit(job, { type: "progress", jobId: job.summary.id, progress: message.progress });
        const status = job.summary.checkpoint;
        const { checkpoint } = message.progress;
        if (status.available && checkpoint) {
          const counters: CheckpointCounters = {
            committedFiles: checkpoint.filesAtStart + checkpoint.filesCommitted, committedIds: checkpoint.idsAtStart + checkpoint.rowsCommitted,
            erroredRows: message.progress.erroredRows, rowsAlreadyDone: checkpoint.rowsAlreadyDone, inputFilesSkipped: checkpoint.inputFilesSkipped,
          };
          this.setCheckpoint(job, { ...status, counters, deleted: checkpoint.deleted ?? false });
        }
      } else if (message.type === "done") {
        job.summary.result = message.result;
      } else if (message.type === "failed") {
        job.summary.error = message.error;
      }
    });
    child.on("exit", (code, signal) => {
      job.child = undefined;
      this.options.cluster?.removeJob(job.summary.id);
      if (this.closing) return;
      if (job.cancelRequested) {
        job.summary.error = undefined;
        this.finish(job, "cancelled");
      } else if (job.summary.result) {
        this.finish(job, "succeeded");
      } else {
        job.summary.error ??= { message: `the job runner exited unexpectedly (${signal ?? `exit code ${code}`})`, kind: "worker" };
        this.finish(job, "failed");
      }
      this.startQueued();
    });
    const resume = job.summary.resumedFrom && job.checkpoint ? { checkpointPath: job.checkpoint.checkpointPath } : undefined;
    const cluster = this.options.cluster && { host: this.options.cluster.options.host, tls: this.options.cluster.options.tls, heartbeatTimeoutMs: this.options.cluster.options.heartbeatTimeoutMs };
    child.send({ type: "run", pipeline: job.pipeline, options: job.summary.options, resume, cluster } satisfies RunnerRequest);
  }

  /** A changed checkpoint status is sent to subscribers as a `checkpoint` event. */
  private setCheckpoint(job: Job, status: CheckpointStatus): void {
    if (JSON.stringify(status) === JSON.stringify(job.summary.checkpoint)) return;
    job.summary.checkpoint = status;
    this.emit(job, { type: "checkpoint", jobId: job.summary.id, checkpoint: status });
  }

  private finish(job: Job, state: JobSummary["state"]): void {
    this.end(job, state);
    this.emit(job, { type: "finished", job: job.summary });
  }

  private emit(job: Job, body: EventBody): void {
    const event = { ...body, seq: ++job.seq, at: Date.now() } as JobEvent;
    if (event.type === "log") {
      job.logTail.push(event);
      if (job.logTail.length > LOG_TAIL_EVENTS) job.logTail.shift();
    }
    for (const listener of job.listeners) listener(event);
  }

  /** Written to a temporary name and renamed, so a crash never leaves half a record. */
  private persist(job: Job): void {
    const file = path.join(this.jobsDir, `${job.summary.id}.json`);
    // A bundle's code is in its file already; the record names the file.
    const record: PersistedJob = {
      summary: job.summary, pipeline: { filename: job.pipeline.filename }, workDir: job.workDir, progress: job.progress, checkpoint: job.checkpoint,
    };
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(record));
    fs.renameSync(`${file}.tmp`, file);
  }
}

function availableStatus(settings: CheckpointSettings): CheckpointStatus {
  return { available: true, path: settings.checkpointPath, idColumn: settings.idColumn, backend: settings.backend, deleted: false };
}
