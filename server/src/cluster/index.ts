// A pool of worker threads that run tasks, one task per worker at a time. A worker that dies
// (crash, process.exit in a UDF, OOM) or hangs past the timeout is replaced.
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { DriverMessage, TaskErrorInfo, TaskSpec, WorkerMessage } from "./protocol";

export type { BlockOrigin, TaskErrorInfo, TaskInput, TaskSpec, WorkerMessage } from "./protocol";

/** Why a task did not complete: its own error (not retried by default), or the loss of its worker. */
export class TaskFailure extends Error {
  constructor(readonly kind: "application" | "workerLost", readonly info: TaskErrorInfo) {
    super(info.message);
  }
}

type TaskMessage = Exclude<WorkerMessage, { type: "ready" | "done" | "error" }>;

interface Running {
  task: TaskSpec;
  onMessage: (m: TaskMessage) => void;
  resolve: (udfMs: number) => void;
  reject: (e: TaskFailure) => void;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  /** Outputs the task may still send; at zero it waits for us, so it is not hung. */
  credits: number;
}

interface PoolWorker { thread: Worker; running?: Running }

export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "rdpipe") return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the rdpipe package root above ${__dirname}`);
    dir = parent;
  }
}

export function workerScript(): string {
  const script = path.join(packageRoot(), "dist", "worker.js");
  if (!fs.existsSync(script)) throw new Error(`worker bundle missing at ${script}: run \`npm run build\``);
  return script;
}

let sharedPool: WorkerPool | undefined;

/**
 * The process-wide pool, grown to at least `size` workers. Workers stay warm between executions
 * (starting one costs ~200 ms) and do not keep the process alive while idle.
 */
export function sharedWorkerPool(size: number): WorkerPool {
  sharedPool ??= new WorkerPool();
  sharedPool.growTo(size);
  return sharedPool;
}

/** Emits "idle" whenever a worker becomes free, so every execution sharing the pool can launch. */
export class WorkerPool extends EventEmitter {
  private readonly workers: PoolWorker[] = [];

  constructor() {
    super();
    this.setMaxListeners(0); // one listener per concurrent execution
  }

  growTo(size: number): void {
    while (this.workers.length < size) this.workers.push(this.spawn());
  }

  get idleCount(): number {
    return this.workers.filter((w) => !w.running).length;
  }

  run(task: TaskSpec, timeoutMs: number, onMessage: (m: TaskMessage) => void): Promise<number> {
    const worker = this.workers.find((w) => !w.running);
    if (!worker) throw new Error("WorkerPool.run called without an idle worker");
    return new Promise<number>((resolve, reject) => {
      worker.running = { task, onMessage, resolve, reject, timeoutMs, credits: task.outputCredits };
      worker.thread.ref();
      this.armTimer(worker);
      this.post(worker, { type: "run", task });
    });
  }

  /** Asks the task to stop after its current block. */
  cancel(taskId: number): void {
    for (const w of this.workers) if (w.running?.task.taskId === taskId) this.post(w, { type: "cancel", taskId });
  }

  /** Lets the task send one more output block. */
  grantCredit(taskId: number): void {
    const worker = this.workers.find((w) => w.running?.task.taskId === taskId);
    if (!worker) return;
    worker.running!.credits++;
    this.armTimer(worker);
    this.post(worker, { type: "credit", taskId });
  }

  /** Ends the task now by replacing its worker (for tasks of a job that has ended). */
  abandon(taskId: number): void {
    const worker = this.workers.find((w) => w.running?.task.taskId === taskId);
    if (!worker) return;
    const running = this.finish(worker);
    this.replace(worker);
    running?.reject(new TaskFailure("workerLost", { kind: "internal", operator: running.task.stage, message: `${running.task.stage}: the task was ended` }));
  }

  private post(worker: PoolWorker, message: DriverMessage): void {
    worker.thread.postMessage(message);
  }

  private spawn(): PoolWorker {
    // execArgv: [] keeps loaders of the parent (tsx in tests) out of workers, which run plain bundled JS.
    const thread = new Worker(workerScript(), { stdout: false, stderr: false, execArgv: [] });
    const worker: PoolWorker = { thread };
    thread.on("message", (m: WorkerMessage) => this.onMessage(worker, m));
    thread.on("error", (e) => this.lose(worker, `crashed: ${e.message}`));
    thread.on("exit", (code) => this.lose(worker, `exited with code ${code}`));
    thread.unref(); // after the listeners: adding a "message" listener refs the port again
    return worker;
  }

  private armTimer(worker: PoolWorker): void {
    const running = worker.running!;
    clearTimeout(running.timer);
    running.timer = setTimeout(() => {
      this.finish(worker)?.reject(new TaskFailure("application", {
        kind: "udf", operator: running.task.stage,
        message: `${running.task.stage}: the task reported nothing for ${running.timeoutMs / 1000}s and was ended as hung (DataContext.taskTimeoutMs)`,
      }));
      this.replace(worker);
    }, running.timeoutMs);
  }

  private onMessage(worker: PoolWorker, message: WorkerMessage): void {
    const running = worker.running;
    if (message.type === "ready" || !running || running.task.taskId !== message.taskId) return;
    if (message.type === "done") this.finish(worker)?.resolve(message.udfMs);
    else if (message.type === "error") this.finish(worker)?.reject(new TaskFailure("application", message.error));
    else {
      if (message.type === "output") running.credits--;
      if (running.credits > 0) this.armTimer(worker);
      else clearTimeout(running.timer);
      running.onMessage(message);
    }
  }

  private finish(worker: PoolWorker): Running | undefined {
    const running = worker.running;
    if (running) clearTimeout(running.timer);
    worker.running = undefined;
    worker.thread.unref();
    if (running) setImmediate(() => this.emit("idle"));
    return running;
  }

  private lose(worker: PoolWorker, how: string): void {
    if (!this.workers.includes(worker)) return;
    const running = this.finish(worker);
    running?.reject(new TaskFailure("workerLost", {
      kind: "internal", operator: running.task.stage, message: `${running.task.stage}: the worker running this task ${how}`,
    }));
    this.replace(worker);
  }

  private replace(worker: PoolWorker): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    this.workers[index] = this.spawn();
    worker.thread.removeAllListeners();
    void worker.thread.terminate();
  }
}
