// Jobs: each runs in its own child process (the job runner); the manager keeps every job's latest
// state and progress, fans events out to subscribers, and persists job records so that after a
// server restart the jobs that were running show as interrupted.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  FINISHED_STATES, type CheckpointStatus, type JobEvent, type JobOptions, type JobSource, type JobSummary, type PlanOperator,
  type ProgressSnapshot,
} from "./contract";
import { HttpError } from "./errors";
import type { RunnerMessage, RunnerPipeline, RunnerRequest } from "./runner";

/** Job-level checkpointing (issue 5) has not landed; every job says so instead of pretending. */
export const CHECKPOINT_UNAVAILABLE: Extract<CheckpointStatus, { available: false }> = {
  available: false, reason: "checkpointing not available for this job: job-level checkpointing is not built yet",
};

export interface JobManagerOptions {
  stateDir: string;
  /** The job-runner entry (dist/job-runner.js). */
  runnerPath: string;
  /** Jobs running at once; later submissions wait in state `queued`. */
  maxRunningJobs: number;
  /** Time a cancelled job gets to clean up after SIGTERM before SIGKILL. */
  cancelGraceMs: number;
}

type Listener = (event: JobEvent) => void;

/** A job record on disk (one JSON file per job). */
interface PersistedJob { summary: JobSummary; pipeline: RunnerPipeline; workDir: string; progress?: ProgressSnapshot }
type EventBody = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, "seq" | "at"> : never) : never;

interface Job {
  summary: JobSummary;
  pipeline: RunnerPipeline;
  /** The runner's working directory: the pipeline file's folder, or the server-owned folder of an uploaded bundle. */
  workDir: string;
  progress?: ProgressSnapshot;
  seq: number;
  /** The latest log events, replayed to a client that reattaches with Last-Event-ID. */
  logTail: JobEvent[];
  listeners: Set<Listener>;
  child?: ChildProcess;
  cancelRequested: boolean;
}

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PLAN_TIMEOUT_MS = 120_000;
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

  list(): JobSummary[] {
    return [...this.jobs.values()].map((j) => j.summary).sort((a, b) => a.submittedAt.localeCompare(b.submittedAt));
  }

  get(id: string): { job: JobSummary; progress?: ProgressSnapshot } {
    const job = this.find(id);
    return { job: job.summary, progress: job.progress };
  }

  submit(source: JobSource, resolvedPath: string | undefined, options: JobOptions): JobSummary {
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
    const job: Job = {
      summary: {
        id, state: "queued", pipeline: pipeline.filename, sourceKind: source.kind, options,
        submittedAt: new Date().toISOString(), checkpoint: CHECKPOINT_UNAVAILABLE,
      },
      pipeline, workDir, seq: 0, logTail: [], listeners: new Set(), cancelRequested: false,
    };
    this.jobs.set(id, job);
    this.persist(job);
    this.startQueued();
    return job.summary;
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

  /** Resuming needs job-level checkpointing (issue 5); rerunning from scratch would be a different operation. */
  resume(id: string): never {
    const job = this.find(id);
    if (!FINISHED_STATES.includes(job.summary.state)) throw new HttpError(409, "conflict", `job ${id} is still ${job.summary.state}`);
    throw new HttpError(501, "not_implemented", `cannot resume job ${id}: ${CHECKPOINT_UNAVAILABLE.reason}`);
  }

  /** The checkpoint of a job; none exists until job-level checkpointing lands. */
  checkpoint(id: string): never {
    this.find(id);
    throw new HttpError(501, "not_implemented", CHECKPOINT_UNAVAILABLE.reason);
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
  inspectPlan(pipeline: RunnerPipeline): Promise<PlanOperator[]> {
    return new Promise((resolve, reject) => {
      const child = this.spawnRunner(this.options.stateDir); // a bundle's folder is on the client, not here
      const timer = setTimeout(() => child.kill("SIGKILL"), PLAN_TIMEOUT_MS);
      let answered = false;
      child.on("message", (message: RunnerMessage) => {
        if (message.type === "plan") { answered = true; resolve(message.operators); }
        if (message.type === "failed") { answered = true; reject(new HttpError(422, "bad_request", `cannot inspect the plan: ${message.error.message}`)); }
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (!answered) reject(new HttpError(422, "bad_request", `plan inspection ended without an answer (${signal ?? `exit code ${code}`})`));
      });
      child.send({ type: "plan", pipeline } satisfies RunnerRequest);
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
    job.summary.state = "interrupted";
    job.summary.finishedAt = new Date().toISOString();
    job.summary.error = { message: "the server stopped while this job was unfinished", kind: "worker" };
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
    const child = fork(this.options.runnerPath, [], { cwd, stdio: ["ignore", "pipe", "pipe", "ipc"] });
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
      if (message.type === "progress") {
        job.progress = message.progress;
        this.emit(job, { type: "progress", jobId: job.summary.id, progress: message.progress });
      } else if (message.type === "done") {
        job.summary.result = message.result;
      } else if (message.type === "failed") {
        job.summary.error = message.error;
      }
    });
    child.on("exit", (code, signal) => {
      job.child = undefined;
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
    child.send({ type: "run", pipeline: job.pipeline, options: job.summary.options } satisfies RunnerRequest);
  }

  private finish(job: Job, state: JobSummary["state"]): void {
    job.summary.state = state;
    job.summary.finishedAt = new Date().toISOString();
    this.persist(job);
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
    const record: PersistedJob = { summary: job.summary, pipeline: { filename: job.pipeline.filename }, workDir: job.workDir, progress: job.progress };
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(record));
    fs.renameSync(`${file}.tmp`, file);
  }
}
