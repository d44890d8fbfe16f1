// What every host of worker threads shares — the shared task pool and actor pools: running tasks on
// workers, output credits, hung-task timers, and failing a lost worker's tasks so they can be retried.
import { EventEmitter } from "node:events";
import type { DriverMessage, TaskErrorInfo, TaskReport, TaskSpec, WorkerMessage } from "./protocol";

/** Why a task did not complete: its own error (not retried by default), or the loss of its worker. */
export class TaskFailure extends Error {
  constructor(readonly kind: "application" | "workerLost", readonly info: TaskErrorInfo) {
    super(info.message);
  }
}

export type TaskMessage = Extract<WorkerMessage, { type: "output" | "written" | "inputRows" | "rowError" | "schema" | "mapOutput" | "moved" | "flushing" }> & TaskReport;

/** A worker as a host sees it: a local worker thread, or a thread hosted by a node process. */
export interface WorkerChannel {
  postMessage(message: DriverMessage, transfer?: ArrayBuffer[]): void;
  on(event: "message", listener: (message: WorkerMessage) => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "exit", listener: (code: number) => void): this;
  /** Emitted when the worker's node got a preemption notice: it takes no new task and leaves once idle. */
  on(event: "draining", listener: () => void): this;
  removeAllListeners(): this;
  terminate(): unknown;
  ref(): void;
  unref(): void;
  /** Its node is draining (only node-hosted workers ever are). */
  readonly draining?: boolean;
  /** Its node was lost: the worker died through no fault of its own. */
  readonly nodeLost?: boolean;
}

interface Running {
  task: TaskSpec;
  onMessage: (m: TaskMessage) => void;
  resolve: (udfMs: number) => void;
  reject: (e: TaskFailure) => void;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  /** Outputs the task may still send; at zero it waits for us, so it is not hung. */
  credits: number;
  /** Only its last writes are in flight ("flushing"): its worker may take another task. */
  flushing?: boolean;
}

export interface HostedWorker {
  channel: WorkerChannel;
  readonly running: Map<number, Running>;
  /** When its last task ended (or it became ready). */
  lastActiveAt: number;
}

/**
 * Whether the worker has room for a task: none runs, or the one that does only waits for its last writes.
 * One such task at most: its writes go on only between the next task's blocks, and more would trail further.
 */
export function hasRoomForTask(worker: HostedWorker): boolean {
  if (worker.running.size === 0) return true;
  return worker.running.size === 1 && worker.running.values().next().value!.flushing === true;
}

/** Emits "idle" whenever a worker gains room for a task, so every execution using the host can launch. */
export abstract class TaskHost<W extends HostedWorker = HostedWorker> extends EventEmitter {
  protected readonly workers: W[] = [];

  constructor() {
    super();
    this.setMaxListeners(0); // one listener per concurrent execution
  }

  /** The worker the next task goes to, if one has room (never one on a draining node). */
  protected abstract pick(): W | undefined;
  /** The worker is gone and its tasks have failed as lost: replace it, restart it, or let it go. */
  protected abstract onLost(worker: W): void;
  /** A message that belongs to no task (actor construction). */
  protected onControl(_worker: W, _message: WorkerMessage): void { /* plain workers send none */ }

  run(task: TaskSpec, timeoutMs: number, onMessage: (m: TaskMessage) => void): Promise<number> {
    const worker = this.pick();
    if (!worker) throw new Error(`${this.constructor.name}.run called without room for a task`);
    return new Promise<number>((resolve, reject) => {
      const running: Running = { task, onMessage, resolve, reject, timeoutMs, credits: task.outputCredits };
      worker.running.set(task.taskId, running);
      worker.channel.ref();
      this.armTimer(worker, running);
      worker.channel.postMessage({ type: "run", task });
    });
  }

  /** Tells every worker the file formats a job reads and writes (see DriverMessage "prepare"). */
  prepare(formats: string[]): void {
    for (const worker of this.workers) worker.channel.postMessage({ type: "prepare", formats });
  }

  /** Asks the task to stop after its current block. */
  cancel(taskId: number): void {
    this.workerOf(taskId)?.channel.postMessage({ type: "cancel", taskId });
  }

  /** Lets the task send one more output block. */
  grantCredit(taskId: number): void {
    const worker = this.workerOf(taskId);
    const running = worker?.running.get(taskId);
    if (!worker || !running) return;
    running.credits++;
    this.armTimer(worker, running);
    worker.channel.postMessage({ type: "credit", taskId });
  }

  /** Answers a running task's request. */
  send(taskId: number, message: DriverMessage): void {
    this.workerOf(taskId)?.channel.postMessage(message);
  }

  /** Workers being ended by abandon: drained first, so that no upload of theirs lands after the job ended. */
  private readonly toDrain = new Set<W>();
  private readonly ending = new Map<W, Promise<void>>();

  /**
   * Ends the task now by ending its worker (for tasks of a job that has ended). Resolves once the worker
   * has stopped its uploads (or did not answer within DRAIN_TIMEOUT_MS) and its thread is ended.
   */
  abandon(taskId: number): Promise<void> {
    const worker = this.workerOf(taskId);
    if (!worker) return Promise.resolve();
    this.toDrain.add(worker);
    this.lose(worker, "was ended");
    this.toDrain.delete(worker);
    return this.ending.get(worker) ?? Promise.resolve();
  }

  private workerOf(taskId: number): W | undefined {
    return this.workers.find((w) => w.running.has(taskId));
  }

  /** Starts routing the channel's messages; an idle worker does not keep the process alive. */
  protected listen(worker: W): void {
    const { channel } = worker;
    channel.on("message", (m: WorkerMessage) => this.onMessage(worker, m));
    channel.on("error", (e: Error) => this.lose(worker, `crashed: ${e.message}`));
    channel.on("exit", (code: number) => this.lose(worker, `exited with code ${code}`));
    channel.on("draining", () => { if (worker.running.size === 0) this.retire(worker); });
    channel.unref(); // after the listeners: adding a "message" listener refs the port again
  }

  private armTimer(worker: W, running: Running): void {
    clearTimeout(running.timer);
    running.timer = setTimeout(() => {
      this.finish(worker, running.task.taskId)?.reject(new TaskFailure("application", {
        kind: "udf", operator: running.task.stage,
        message: `${running.task.stage}: the task reported nothing for ${running.timeoutMs / 1000}s and was ended as hung (DataContext.taskTimeoutMs)`,
      }));
      this.lose(worker, "was ended after a hung task");
    }, running.timeoutMs);
  }

  private onMessage(worker: W, message: WorkerMessage): void {
    if (message.type === "ready" || message.type === "drained") return;
    if (message.type === "constructed" || message.type === "constructFailed") { this.onControl(worker, message); return; }
    const running = worker.running.get(message.taskId);
    if (!running) return;
    if (message.type === "done") this.finish(worker, message.taskId)?.resolve(message.udfMs);
    else if (message.type === "error") this.finish(worker, message.taskId)?.reject(new TaskFailure("application", message.error));
    else {
      if (message.type === "output") running.credits--;
      if (message.type === "flushing") {
        running.flushing = true;
        setImmediate(() => this.emit("idle"));
      }
      if (running.credits > 0) this.armTimer(worker, running);
      else clearTimeout(running.timer);
      running.onMessage(message);
    }
  }

  private finish(worker: W, taskId: number): Running | undefined {
    const running = worker.running.get(taskId);
    if (!running) return undefined;
    clearTimeout(running.timer);
    worker.running.delete(taskId);
    worker.lastActiveAt = Date.now();
    if (worker.running.size === 0) worker.channel.unref();
    if (worker.running.size === 0 && worker.channel.draining) this.retire(worker);
    setImmediate(() => this.emit("idle"));
    return running;
  }

  protected lose(worker: W, how: string): void {
    if (!this.workers.includes(worker)) return;
    this.failTasks(worker, how);
    this.onLost(worker);
  }

  private failTasks(worker: W, how: string): void {
    for (const [taskId, running] of [...worker.running]) {
      this.finish(worker, taskId);
      running.reject(new TaskFailure("workerLost", {
        kind: "internal", operator: running.task.stage, message: `${running.task.stage}: the worker running this task ${how}`,
      }));
    }
  }

  /** Takes the worker out of the host and ends its thread; tasks still on it fail as lost. */
  protected retire(worker: W): void {
    const index = this.workers.indexOf(worker);
    if (index >= 0) this.workers.splice(index, 1);
    this.failTasks(worker, "was stopped");
    if (!this.toDrain.has(worker)) {
      worker.channel.removeAllListeners();
      void worker.channel.terminate();
      return;
    }
    const ended = endAfterDrain(worker.channel);
    this.ending.set(worker, ended);
    void ended.then(() => this.ending.delete(worker));
  }
}

/** How long a worker asked to drain may take (a CompleteMultipartUpload in flight is awaited; a thread stuck in a UDF never answers). */
const DRAIN_TIMEOUT_MS = 15_000;

/** The host's own listeners stay until the end (a message listener added after a Worker's removeAllListeners is never called); they ignore a retired worker. */
function endAfterDrain(channel: WorkerChannel): Promise<void> {
  return new Promise<void>((resolve) => {
    const end = () => {
      clearTimeout(timer);
      channel.removeAllListeners();
      Promise.resolve(channel.terminate()).then(() => resolve(), () => resolve());
    };
    const timer = setTimeout(end, DRAIN_TIMEOUT_MS);
    channel.on("message", (message: WorkerMessage) => { if (message.type === "drained") end(); });
    channel.on("exit", end);
    channel.on("error", end);
    channel.postMessage({ type: "drain" });
  });
}
