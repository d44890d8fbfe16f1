// A pool of worker threads that run tasks, one task per worker at a time. A worker that dies
// (crash, process.exit in a UDF, OOM) or hangs past the timeout is replaced.
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
  timer?: NodeJS.Timeout;
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

export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private closed = false;

  constructor(readonly size: number, private readonly taskTimeoutMs: number) {
    for (let i = 0; i < size; i++) this.workers.push(this.spawn());
  }

  get idleCount(): number {
    return this.closed ? 0 : this.workers.filter((w) => !w.running).length;
  }

  run(task: TaskSpec, onMessage: (m: TaskMessage) => void): Promise<number> {
    const worker = this.workers.find((w) => !w.running);
    if (!worker || this.closed) throw new Error("WorkerPool.run called without an idle worker");
    return new Promise<number>((resolve, reject) => {
      worker.running = { task, onMessage, resolve, reject };
      this.armTimer(worker);
      this.post(worker, { type: "run", task });
    });
  }

  cancel(taskId: number): void {
    for (const w of this.workers) if (w.running?.task.taskId === taskId) this.post(w, { type: "cancel", taskId });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  private post(worker: PoolWorker, message: DriverMessage): void {
    worker.thread.postMessage(message);
  }

  private spawn(): PoolWorker {
    const thread = new Worker(workerScript(), { stdout: false, stderr: false });
    const worker: PoolWorker = { thread };
    thread.on("message", (m: WorkerMessage) => this.onMessage(worker, m));
    thread.on("error", (e) => this.lose(worker, `crashed: ${e.message}`));
    thread.on("exit", (code) => this.lose(worker, `exited with code ${code}`));
    return worker;
  }

  private armTimer(worker: PoolWorker): void {
    const running = worker.running!;
    clearTimeout(running.timer);
    running.timer = setTimeout(() => {
      this.finish(worker)?.reject(new TaskFailure("application", {
        kind: "udf", operator: running.task.stage,
        message: `${running.task.stage}: the task reported nothing for ${this.taskTimeoutMs / 1000}s and was ended as hung (DataContext.taskTimeoutMs)`,
      }));
      this.replace(worker);
    }, this.taskTimeoutMs);
  }

  private onMessage(worker: PoolWorker, message: WorkerMessage): void {
    const running = worker.running;
    if (message.type === "ready" || !running || running.task.taskId !== message.taskId) return;
    if (message.type === "done") this.finish(worker)?.resolve(message.udfMs);
    else if (message.type === "error") this.finish(worker)?.reject(new TaskFailure("application", message.error));
    else {
      this.armTimer(worker);
      running.onMessage(message);
    }
  }

  private finish(worker: PoolWorker): Running | undefined {
    const running = worker.running;
    if (running) clearTimeout(running.timer);
    worker.running = undefined;
    return running;
  }

  private lose(worker: PoolWorker, how: string): void {
    if (!this.workers.includes(worker)) return;
    const running = this.finish(worker);
    running?.reject(new TaskFailure("workerLost", {
      kind: "internal", operator: running.task.stage, message: `${running.task.stage}: the worker running this task ${how}`,
    }));
    if (!this.closed) this.replace(worker);
  }

  private replace(worker: PoolWorker): void {
    const index = this.workers.indexOf(worker);
    if (index < 0) return;
    this.workers[index] = this.spawn();
    worker.thread.removeAllListeners();
    void worker.thread.terminate();
  }
}
