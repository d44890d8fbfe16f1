// Task launch and retry: a stage's next task is sent to a worker (or an actor), its messages are
// handled as they come, and a task whose worker was lost runs again, skipping what it delivered.
import type { Schema } from "apache-arrow";
import { schemaFromIPC, schemaToIPC } from "../block";
import { taskOutputPrefix } from "../checkpoint";
import { type TaskFailure, type TaskHost, type TaskSpec, inputBytes } from "../cluster";
import type { ModuleRef } from "../plan";
import type { ErrorBudget } from "./error-budget";
import { ExecutionError } from "./errors";
import { InputSchemas } from "./input-schemas";
import type { JobCheckpoint } from "./job-checkpoint";
import type { Sources } from "./lineage";
import { ActorPoolOperator, type QueuedBlock, type TaskOperator, usesTaskSlot } from "./physical";
import type { TaskLoad } from "./resources";
import { type KeptInput, keepInput, keptSpec } from "./rerun-inputs";
import type { WrittenFile } from "./result";
import type { ExecSettings } from "./settings";

/** Output blocks a task may have in flight before it waits for the executor (Ray's streaming-generator backpressure). */
const OUTPUT_CREDITS = 2;

/** How long tasks cancelled by a satisfied limit may take to stop before their workers are replaced. */
const CANCEL_GRACE_MS = 1000;

/** Task ids are unique per process: workers are shared by executions and outlive them. */
let nextTaskId = 1;

interface Retry {
  op: TaskOperator;
  spec: TaskSpec;
  attempts: number;
  taskIndex: number;
  /** Memory the task holds while it runs, fixed at its first launch. */
  reservedBytes: number;
  sources: Sources;
  /** A reduce task that could not fetch from this node waits until the head has seen it lost too (at most PEER_LOSS_WAIT_MS). */
  peerLost?: { node: number; until: number };
}

/** How long a retry waits for the head to see a node lost that a task could not fetch from. */
const PEER_LOSS_WAIT_MS = 5000;

type TaskMessage = Parameters<Parameters<TaskHost["run"]>[2]>[0];

/** held: what the task holds in its worker (its input until the worker reports), never above its reservation. */
interface RunningTask {
  op: TaskOperator; delivered: number; taskIndex: number; reservedBytes: number; held: number; sources: Sources;
  /** Only its last writes are in flight: it no longer takes a CPU slot (its memory still counts). */
  flushing?: boolean;
}

/** What the launcher needs of the executor. */
export interface LaunchContext {
  settings: ExecSettings;
  module?: ModuleRef;
  writePrefix: string;
  errors: ErrorBudget;
  checkpoint(): JobCheckpoint | undefined;
  hostFor(op: TaskOperator): TaskHost;
  /** The job has failed: task results are not wanted any more. */
  failed(): boolean;
  fail(error: Error): void;
  wakeUp(): void;
  /** Every block queued between operators. */
  queuedBlocks(): Iterable<QueuedBlock>;
}

export class TaskLauncher implements TaskLoad {
  readonly written: WrittenFile[] = [];
  private readonly running = new Map<number, RunningTask>();
  private readonly retries: Retry[] = [];
  /**
   * On a cluster, the map tasks that fed an exchange and are done, by stage and task index: a node lost
   * later takes their partitions with it, and they run again (Ray's lineage reconstruction). Their input
   * blocks wait on the driver's disk (./rerun-inputs.ts).
   */
  private readonly doneMaps = new Map<TaskOperator, Map<number, { retry: Omit<Retry, "spec">; kept: KeptInput }>>();
  /** Tasks that sent an output and get the credit for the next one once memory allows. */
  private readonly creditWaiters: number[] = [];
  private readonly inputSchemas = new InputSchemas();
  /** Set once the execution has ended: a map task that finishes after is not kept for a rerun (the spill folders go). */
  private ended = false;

  constructor(private readonly context: LaunchContext) {}

  /** Tasks running now (workers busy). */
  get busy(): number { return this.running.size; }

  /** Memory running tasks hold in their workers. */
  reservedBytes(): number {
    let total = 0;
    for (const task of this.running.values()) total += task.reservedBytes;
    return total;
  }

  /**
   * Memory running tasks really hold in their workers, as their workers last reported (at most their
   * reservations: an isolate's garbage not yet collected is no block; an actor's concurrent calls share one isolate).
   */
  heldBytes(): number {
    let total = 0;
    for (const task of this.running.values()) total += task.held;
    return total;
  }

  /**
   * Memory a new task holds in its worker: about three blocks (the one it builds, its IPC copy, and
   * that copy in flight). Its outputs, once sent, count in queues as well.
   */
  reservation(): number {
    return 3 * this.context.settings.blockBytes;
  }

  onTaskSlots(): number {
    let count = 0;
    for (const task of this.running.values()) if (usesTaskSlot(task.op) && !task.flushing) count++;
    return count;
  }

  countRunning(where: (op: TaskOperator) => boolean): number {
    let count = 0;
    for (const task of this.running.values()) if (where(task.op)) count++;
    return count;
  }

  retriesOf(op: TaskOperator): number {
    return this.retries.filter((r) => r.op === op).length;
  }

  retriesOnTaskSlots(): number {
    return this.retries.filter((r) => usesTaskSlot(r.op)).length;
  }

  /** Every running task waits for a credit. */
  allWaitingForCredit(): boolean {
    let waiting = 0;
    for (const taskId of new Set(this.creditWaiters)) if (this.running.has(taskId)) waiting++;
    return waiting === this.running.size;
  }

  /**
   * Grants waiting tasks the credit for their next output while `mayGrant` says memory allows, the most
   * downstream first (`rank`: higher is further downstream): over budget, a credit to a stage nearer the
   * consumer moves bytes out, one to an upstream stage only adds to the queue between them.
   */
  grantCredits(mayGrant: () => boolean, rank: (op: TaskOperator) => number): void {
    while (this.creditWaiters.length > 0 && mayGrant()) {
      let pick = 0;
      for (let i = 1; i < this.creditWaiters.length; i++) {
        const task = this.running.get(this.creditWaiters[i]), best = this.running.get(this.creditWaiters[pick]);
        if (task && (!best || rank(task.op) > rank(best.op))) pick = i;
      }
      const taskId = this.creditWaiters.splice(pick, 1)[0];
      const task = this.running.get(taskId);
      if (task) this.context.hostFor(task.op).grantCredit(taskId);
    }
  }

  /** Relaunches the retries whose stage has room; those of stopped stages end. */
  launchRetries(hasRoom: (op: TaskOperator) => boolean): void {
    for (let i = 0; i < this.retries.length;) {
      const retry = this.retries[i];
      if (retry.op.stopped) {
        this.retries.splice(i, 1);
        retry.op.metrics.tasksRunning--;
        retry.op.taskEnded(retry.taskIndex);
      } else if (hasRoom(retry.op)) {
        const { peerLost } = retry;
        const spec = peerLost && Date.now() < peerLost.until && this.context.settings.cluster?.peers()[peerLost.node] !== undefined
          ? undefined : retry.op.retrySpec(retry.spec);
        if (!spec) { i++; continue; } // it waits for partitions being made again
        this.retries.splice(i, 1);
        this.launch(retry.op, { ...retry, spec });
      } else i++;
    }
  }

  /** Runs a done map task again (its node, which held its partitions, was lost); false when it is not done. */
  rerun(op: TaskOperator, taskIndex: number): boolean {
    const done = this.doneMaps.get(op)?.get(taskIndex);
    if (!done || op.stopped) return false;
    this.doneMaps.get(op)!.delete(taskIndex);
    let spec: TaskSpec;
    try {
      spec = keptSpec(done.kept);
    } catch (e) {
      this.context.fail(new ExecutionError(`${op.name}: reading map task ${taskIndex}'s input back to run it again after a node loss: ${(e as Error).message}`));
      return false;
    }
    op.metrics.tasksRunning++;
    op.metrics.tasksFinished--;
    op.metrics.tasksRetried++;
    this.retries.push({ ...done.retry, spec });
    return true;
  }

  /** A map task that fed an exchange is done: kept to run again should its node be lost. */
  private keepDoneMap({ spec, ...retry }: Retry): void {
    let kept: KeptInput;
    try {
      kept = keepInput(spec, retry.taskIndex);
    } catch (e) {
      this.context.fail(new ExecutionError((e as Error).message));
      return;
    }
    if (!this.doneMaps.has(retry.op)) this.doneMaps.set(retry.op, new Map());
    this.doneMaps.get(retry.op)!.set(retry.taskIndex, { retry, kept });
  }

  /** Cancels the running tasks of `op` (all, without one). */
  cancel(op?: TaskOperator): void {
    for (const [taskId, task] of this.running) if (!op || task.op === op) this.context.hostFor(task.op).cancel(taskId);
  }

  /** The read tasks whose rows are still in queues or in running (or retried) tasks. */
  *liveSources(): Iterable<Sources> {
    for (const block of this.context.queuedBlocks()) if (block.sources) yield block.sources;
    for (const task of this.running.values()) yield task.sources;
    for (const retry of this.retries) yield retry.sources;
  }

  /**
   * Tasks still running belong to no one once the execution ends. A failed job's are ended at once,
   * once their writes in flight have finished or failed (a write ended mid-way leaves its temporary
   * file), for at most the grace; tasks a limit cancelled get the grace to stop by themselves (cheaper
   * than a new worker), then are ended so a slow UDF cannot hold a shared worker.
   */
  async endLeftovers(completed: boolean): Promise<void> {
    this.ended = true;
    if (!completed) await this.writesSettled(CANCEL_GRACE_MS);
    const end = (leftovers: [number, RunningTask][]) => Promise.all(leftovers.map(([taskId, task]) => this.context.hostFor(task.op).abandon(taskId)));
    // Map tasks still running (made again after a node loss for partitions that were reduced meanwhile) spill
    // partitions nobody reads: they end before the spill folders go, as do all of a failed job's tasks.
    const [maps, others] = partition([...this.running], ([, task]) => !completed || task.op.exchangeTarget !== undefined);
    if (others.length > 0) setTimeout(() => void end(others), CANCEL_GRACE_MS).unref();
    // Their writes stopped first: none may land after the partial output is removed and the lease released.
    await end(maps);
  }

  /** Waits, up to `ms`, until no task that writes files is running (stopped tasks end after their current write). */
  private async writesSettled(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while ([...this.running.values()].some((task) => task.op.sink) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Launches the next task of `op`, or a retry. */
  launch(op: TaskOperator, retry?: Retry): void {
    const { settings, module, checkpoint: checkpointOf } = this.context;
    const checkpoint = checkpointOf();
    const next = retry ? undefined : op.nextTask();
    if (!retry && !next) return;
    const reservedBytes = retry?.reservedBytes
      ?? (op instanceof ActorPoolOperator ? next!.inputBlocks.reduce((sum, b) => sum + b.bytes, 0) : this.reservation());
    const spec: TaskSpec = retry?.spec ?? {
      // An actor loaded the pipeline when it was constructed; its calls need not carry it.
      taskId: nextTaskId++, stage: op.name, module: op instanceof ActorPoolOperator ? undefined : module, input: next!.input,
      transforms: op.transforms, sink: op.sink ? { ...op.sink, taskIndex: op.metrics.tasksLaunched } : undefined, exchangeMap: op.exchangeMap(op.metrics.tasksLaunched),
      targetBlockBytes: settings.blockBytes, skipOutputs: 0, outputCredits: OUTPUT_CREDITS,
      idColumn: checkpoint?.settings.idColumn,
      committedIds: op.isSource ? checkpoint?.prepared.committedIds : undefined,
      finishedIds: op.isSource ? checkpoint?.prepared.finishedIds : undefined,
    };
    const attempts = retry?.attempts ?? 0;
    if (!retry) {
      op.metrics.tasksLaunched++;
      op.metrics.tasksRunning++; // a task counts as running until its last attempt ends
    }
    const taskIndex = retry?.taskIndex ?? op.metrics.tasksLaunched - 1;
    const sources = retry?.sources ?? checkpoint?.launched(op, taskIndex, next!.input, next!.inputBlocks) ?? [];
    const state: RunningTask = { op, delivered: spec.skipOutputs, taskIndex, reservedBytes, held: Math.min(inputBytes(spec.input), reservedBytes), sources };
    this.running.set(spec.taskId, state);
    const settle = () => {
      this.running.delete(spec.taskId);
      op.metrics.tasksRunning--;
      op.metrics.tasksFinished++;
      op.taskEnded(state.taskIndex);
      if (!this.context.failed()) checkpoint?.ended(op, state.taskIndex, () => this.liveSources());
    };
    this.context.hostFor(op).run(spec, settings.taskTimeoutMs, (message) => this.received(state, spec.taskId, message)).then((udfMs) => {
      op.metrics.udfMs += udfMs;
      settle();
      if (spec.exchangeMap && settings.cluster && !this.ended) {
        this.keepDoneMap({ op, spec: { ...spec, skipOutputs: 0 }, attempts, taskIndex: state.taskIndex, reservedBytes, sources });
      }
    }, (e: TaskFailure) => {
      if (this.context.failed() || op.stopped) { settle(); return; } // nobody needs this task's result any more
      // A reduce task that could not fetch from a lost node is lost too: it runs again once the node's partitions are made again.
      if ((e.kind === "workerLost" || e.info.peerLost !== undefined) && attempts < settings.maxTaskRetries) {
        // The retry skips the outputs this attempt already delivered (tasks are deterministic).
        this.running.delete(spec.taskId);
        this.dropCreditWaiter(spec.taskId);
        op.metrics.tasksRetried++;
        // A checkpointed write instead continues from the files this task committed: skipping by count
        // would assume the retry splits its output as before, which onError "skip" and flaky UDFs break.
        const again = op.sink?.checkpoint ? { ...spec, continueFromCommits: true } : { ...spec, skipOutputs: state.delivered };
        const peerLost = e.info.peerLost === undefined ? undefined : { node: e.info.peerLost, until: Date.now() + PEER_LOSS_WAIT_MS };
        if (peerLost) setTimeout(() => this.context.wakeUp(), PEER_LOSS_WAIT_MS).unref();
        this.retries.push({ op, spec: again, attempts: attempts + 1, taskIndex: state.taskIndex, reservedBytes, sources, peerLost });
        return;
      }
      if (e.kind === "application") checkpoint?.lost(sources);
      settle();
      const error = e.kind === "application" ? this.context.errors.blockErrored(e) : new ExecutionError(`${e.message} (after ${attempts + 1} attempts)`, e.info);
      if (error) this.context.fail(error);
    }).finally(() => this.context.wakeUp());
  }

  /** A message from a running task. */
  private received(task: RunningTask, taskId: number, message: TaskMessage): void {
    const { op, sources } = task;
    const { checkpoint: checkpointOf, fail } = this.context;
    if (this.context.failed() || op.stopped) return;
    if (message.held !== undefined) task.held = Math.min(message.held, task.reservedBytes);
    const checkpoint = checkpointOf();
    if (message.type === "output") {
      task.delivered++;
      try {
        op.receiveOutput(task.taskIndex, message.ipc, message.bytes, message.origin, sources);
      } catch (e) {
        fail(new ExecutionError((e as Error).message, { kind: "udf", operator: op.name, message: (e as Error).message, file: message.origin.file }));
        return;
      }
      this.creditWaiters.push(taskId);
    } else if (message.type === "written") {
      task.delivered++;
      const { result } = message;
      op.metrics.rowsOut += result.rows;
      op.metrics.blocksOut++;
      op.metrics.bytesWritten = (op.metrics.bytesWritten ?? 0) + result.bytes;
      this.written.push(result);
      if (message.committed) checkpoint!.committed(result.rows, sources, result.path, taskOutputPrefix(this.context.writePrefix, task.taskIndex), message.idKeys);
    } else if (message.type === "schema") {
      this.answerSchemaRequest(op, taskId, schemaFromIPC(message.ipc));
    } else if (message.type === "mapOutput") {
      op.receiveMapOutput(message.output);
    } else if (message.type === "moved") {
      op.metrics.bytesMoved = (op.metrics.bytesMoved ?? 0) + message.bytes;
    } else if (message.type === "flushing") {
      task.flushing = true;
    } else if (message.type === "rowError") {
      const error = this.context.errors.rowErrored(message.row);
      if (error) fail(error);
      checkpoint?.rowErrored(sources, message.row, Boolean(op.sink?.checkpoint));
    } else {
      op.metrics.rowsIn += message.rows;
      if (checkpoint) checkpoint.progress.rowsAlreadyDone += message.alreadyDone;
      const error = message.file === undefined ? undefined : this.inputSchemas.check(op, message.file, message.schema);
      if (error) fail(error);
    }
    this.context.wakeUp();
  }

  /** Answers a write task's schema request with the output's schema (recorded first in a checkpointed write). */
  private answerSchemaRequest(op: TaskOperator, taskId: number, proposed: Schema): void {
    const schema = op.fixSchema(proposed);
    const checkpoint = this.context.checkpoint();
    const answer = () => this.context.hostFor(op).send(taskId, { type: "schema", taskId, ipc: schemaToIPC(schema), fixedBy: checkpoint?.schemaFixedBy() });
    if (!checkpoint || !op.sink?.checkpoint) return answer();
    checkpoint.recordSchema(schema).then(answer, (e: Error) => this.context.fail(new ExecutionError(`${op.name}: recording the output's schema in the checkpoint: ${e.message}`)));
  }

  private dropCreditWaiter(taskId: number): void {
    for (let i = this.creditWaiters.indexOf(taskId); i >= 0; i = this.creditWaiters.indexOf(taskId)) this.creditWaiters.splice(i, 1);
  }
}

/** The items `where` holds for, then the others. */
function partition<T>(items: T[], where: (item: T) => boolean): [T[], T[]] {
  return [items.filter(where), items.filter((item) => !where(item))];
}
