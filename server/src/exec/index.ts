// The streaming executor: runs a physical plan with every queue bounded by a memory budget,
// feeding downstream operators first, never waiting for a whole stage before the next starts.
import { randomUUID } from "node:crypto";
import type { Schema } from "apache-arrow";
import { type Block, schemaFromIPC, schemaToIPC } from "../block";
import {
  ActorPool, type ActorCounts, TASKS_PER_ACTOR, type ClusterPool, localWorkerThread, type NodeCounts, TaskFailure, type TaskHost, sharedWorkerPool, type WorkerPool,
  type TaskErrorInfo, type TaskSpec,
} from "../cluster";
import { removeWrittenFiles, sourceSchema } from "../io";
import { JobOutput } from "./output";
import {
  SCHEMA_FILE, checkpointSpec, finishCheckpoint, prepareCheckpoint, recordErroredRows, recordOutputSchema, taskOutputPrefix, validateCheckpointPlan, type CheckpointSettings, type ErroredRow, type PreparedCheckpoint,
} from "../checkpoint";
import { CommitTracker } from "./commits";
import type { Sources } from "./lineage";
import type { DataContext } from "../api/context";
import type { ModuleRef } from "../plan";
import { type LogicalOp, type PhysicalOp, erroredRowBudgets, mayRepeatIds, opsInOrder, toPhysicalPlan } from "../plan";
import {
  ActorPoolOperator, AllToAllOperator, LimitOperator, OperatorError, type PhysicalOperator, type QueuedBlock, type ReadSettings, TaskOperator, UnionOperator, ZipOperator,
} from "./operators";

export interface ExecutionOptions {
  module?: ModuleRef;
  positions?: Map<LogicalOp, number>;
  onProgress?: (snapshot: ProgressSnapshot) => void;
  signal?: AbortSignal;
}

export interface OperatorProgress {
  name: string;
  /** Positions in the snapshot's `operators` of the operators this one reads from (none for a read): the plan's graph. */
  inputs: number[];
  rowsDone: number;
  rowsEstimated?: number;
  /** For reads: the decoded size of the input, estimated from sampled footers. */
  inMemoryBytesEstimated?: number;
  blocksDone: number;
  tasksDone: number;
  tasksEstimated?: number;
  tasksRunning: number;
  /** Task attempts rerun after their worker (or node) was lost. */
  tasksRetried: number;
  queuedBlocks: number;
  queuedBytes: number;
  backpressure?: string;
  rowsPerSecond: number;
  /** For a class UDF's stage: its actor pool (pending = constructing, restarting = reconstructing after a loss or a failed constructor). */
  actors?: ActorCounts;
}

/** A checkpointed job's progress: what earlier attempts left, and what this one commits. */
export interface CheckpointProgress {
  path: string;
  /** IDs and output files committed before this attempt started. */
  idsAtStart: number;
  filesAtStart: number;
  /** Input files earlier attempts consumed whole, not read again. */
  inputFilesSkipped: number;
  /** Input rows dropped as they were read because an earlier attempt committed them. */
  rowsAlreadyDone: number;
  /** Output files and rows this attempt committed. */
  filesCommitted: number;
  rowsCommitted: number;
  /** Time to open the checkpoint: clean up, load committed IDs. */
  loadMs: number;
  /** Set when the job succeeded and its checkpoint was deleted (deleteCheckpointOnSuccess). */
  deleted?: boolean;
}

export interface ProgressSnapshot {
  elapsedMs: number;
  operators: OperatorProgress[];
  /** Rows UDFs failed on under onError: "skip", this run. */
  erroredRows: number;
  checkpoint?: CheckpointProgress;
  memoryUsedBytes: number;
  memoryBudgetBytes: number;
  cpuSlots: number;
  workersBusy: number;
  /** When the job runs on a cluster: its nodes. */
  nodes?: NodeCounts;
  finished: boolean;
}

export interface WrittenFile { path: string; rows: number; bytes: number }

export interface ExecutionResult {
  rowsOut: number;
  written: WrittenFile[];
  durationMs: number;
  progress: ProgressSnapshot;
  /** The most bytes of blocks the executor held at once (queues and reservations). */
  peakMemoryBytes: number;
  statsText: string;
  /** The first rows UDFs failed on under onError: "skip" (all of them are beside the checkpoint, when there is one). */
  erroredRows: ErroredRow[];
}

/** The task number under which the driver records errored rows in the checkpoint. */
const DRIVER_RECORDS = 999_999;

/** Errored rows an ExecutionResult keeps in memory. */
const ERRORED_ROWS_KEPT = 100;

/** A job failure, with what a user needs to find the cause. */
export class ExecutionError extends Error {
  constructor(message: string, readonly info?: TaskErrorInfo) {
    super(message);
  }
}

/** Output blocks a task may have in flight before it waits for the executor (Ray's streaming-generator backpressure). */
const OUTPUT_CREDITS = 2;

/** How long tasks cancelled by a satisfied limit may take to stop before their workers are replaced. */
const CANCEL_GRACE_MS = 1000;

/** Task ids are unique per process: workers are shared by executions and outlive them. */
let nextTaskId = 1;

/** How often actor pools are resized while nothing else wakes the executor (idle actors time out). */
const AUTOSCALE_INTERVAL_MS = 100;

interface Retry {
  spec: TaskSpec;
  attempts: number;
  taskIndex: number;
  /** Memory the task holds while it runs, fixed at its first launch. */
  reservedBytes: number;
  sources: Sources;
}

/** Stages whose tasks take a CPU slot of the shared pool (an actor pool's calls run on its own actors). */
const usesTaskSlot = (op: PhysicalOperator): op is TaskOperator => op instanceof TaskOperator && !(op instanceof ActorPoolOperator);

/** Zip pairs rows by position, so everything feeding it must emit in order. */
function preserveOrderUpstream(op: PhysicalOperator): void {
  if (op instanceof TaskOperator || op instanceof UnionOperator) op.preserveOrder = true;
  const orderMatters = op instanceof AllToAllOperator ? op.keepsInputOrder : !(op instanceof ZipOperator);
  if (orderMatters) op.inputs.forEach(preserveOrderUpstream);
}

export type Execution = AsyncGenerator<Block> & { result: Promise<ExecutionResult> };

export function execute(root: LogicalOp, context: DataContext, options: ExecutionOptions = {}): Execution {
  const executor = new StreamingExecutor(root, context, options);
  const generator = executor.run() as Execution;
  generator.result = executor.result;
  return generator;
}

class StreamingExecutor {
  readonly result: Promise<ExecutionResult>;
  private resolveResult!: (r: ExecutionResult) => void;
  private rejectResult!: (e: Error) => void;
  private readonly operators: PhysicalOperator[] = [];
  private readonly downstream = new Map<PhysicalOperator, { op: PhysicalOperator; index: number }>();
  private rootOp!: PhysicalOperator;
  private readonly outputQueue: QueuedBlock[] = [];
  private readonly written: WrittenFile[] = [];
  private peakMemory = 0;
  private pool?: WorkerPool | ClusterPool;
  private readonly actorPools = new Map<ActorPoolOperator, ActorPool>();
  private readonly running = new Map<number, { op: TaskOperator; delivered: number; reservedBytes: number; sources: Sources }>();
  private readonly retries: (Retry & { op: TaskOperator })[] = [];
  /** Tasks that sent an output and get the credit for the next one once memory allows. */
  private readonly creditWaiters: number[] = [];
  private failure?: Error;
  private erroredBlocks = 0;
  private wake: () => void = () => undefined;
  private readonly startedAt = Date.now();
  private readonly writePrefix = randomUUID().slice(0, 8);
  private readonly physicalRoot: PhysicalOp;
  /** Set for a checkpointed job (a plan ending in a write, with DataContext.checkpointConfig). */
  private readonly checkpoint?: CheckpointSettings;
  private prepared?: PreparedCheckpoint;
  /** Set for a plan that ends in a write. */
  private output?: JobOutput;
  private commits?: CommitTracker;
  private checkpointProgress?: CheckpointProgress;
  private readonly erroredBudgets: Map<string, number>;
  private readonly erroredByOperator = new Map<string, number>();
  private readonly erroredSample: ErroredRow[] = [];
  private readonly erroredKeys = new Set<string>();
  private readonly erroredRowsToRecord: ErroredRow[] = [];
  /** A checkpointed write's schema as last recorded, and the recording in progress (answers to workers wait for it). */
  private recordedSchema?: Schema;
  private schemaRecording: Promise<void> = Promise.resolve();

  constructor(private readonly root: LogicalOp, private readonly context: DataContext, private readonly options: ExecutionOptions) {
    this.result = new Promise((resolve, reject) => { this.resolveResult = resolve; this.rejectResult = reject; });
    this.result.catch(() => undefined);
    // A preview of a checkpointed pipeline (no write) runs without the checkpoint.
    const config = root.kind === "write" ? context.checkpointConfig?.settings() : undefined;
    if (config) validateCheckpointPlan(root, config);
    this.checkpoint = config;
    this.erroredBudgets = erroredRowBudgets(root);
    this.physicalRoot = toPhysicalPlan(root, {
      positions: options.positions, writePrefix: this.writePrefix,
      checkpoint: config && checkpointSpec(config, this.writePrefix),
    });
  }

  /** Opens the checkpoint before anything is read: the ID column must be in the source, and earlier attempts are cleaned up and loaded. */
  private async openCheckpoint(config: CheckpointSettings): Promise<void> {
    const read = opsInOrder(this.root)[0];
    if (read.kind === "read") {
      const schema = await sourceSchema(read.source, this.context.blockBytes());
      validateCheckpointPlan(this.root, config, schema?.fields.map((f) => f.name));
    }
    this.prepared = await prepareCheckpoint(config, this.root as Extract<LogicalOp, { kind: "write" }>, this.writePrefix,
      (error) => this.fail(new ExecutionError(error.message)));
    this.output!.adopt(this.prepared.overwrite);
    const { committedRowsAtStart, committedFilesAtStart, loadMs } = this.prepared;
    this.checkpointProgress = {
      path: config.checkpointPath, idsAtStart: committedRowsAtStart, filesAtStart: committedFilesAtStart,
      inputFilesSkipped: 0, rowsAlreadyDone: 0, filesCommitted: 0, rowsCommitted: 0, loadMs,
    };
  }

  private build(physical: PhysicalOp): PhysicalOperator {
    const settings: ReadSettings = {
      cpuSlots: this.context.cpuSlots(), targetBlockBytes: this.context.blockBytes(),
      onDiscovery: (error) => (error ? this.fail(error) : this.wakeUp()),
      doneFiles: this.prepared && { keys: this.prepared.doneFiles, paths: this.prepared.donePaths },
      onFilesSkipped: (n) => { this.checkpointProgress!.inputFilesSkipped += n; },
      nothingToRead: this.prepared?.alreadyComplete ?? false,
      idColumn: this.checkpoint?.idColumn,
    };
    let op: PhysicalOperator;
    switch (physical.kind) {
      case "read": op = new TaskOperator(physical, [], settings); break;
      case "map": op = new TaskOperator(physical, [this.build(physical.input)], settings); break;
      case "actorPool": op = new ActorPoolOperator(physical, [this.build(physical.input)], settings); break;
      case "limit": op = new LimitOperator(physical.name, this.build(physical.input), physical.n); break;
      case "allToAll": op = new AllToAllOperator(physical.name, this.build(physical.input), physical.op); break;
      case "union": op = new UnionOperator(physical.name, physical.inputs.map((p) => this.build(p))); break;
      case "zip": op = new ZipOperator(physical.name, physical.inputs.map((p) => this.build(p))); break;
    }
    if (op instanceof ZipOperator || (op instanceof UnionOperator && this.context.preserveOrder)) {
      for (const input of op.inputs) preserveOrderUpstream(input);
    }
    if ((op instanceof TaskOperator || op instanceof UnionOperator) && this.context.preserveOrder) op.preserveOrder = true;
    op.inputs.forEach((input, index) => this.downstream.set(input, { op, index }));
    this.operators.push(op);
    return op;
  }

  async *run(): AsyncGenerator<Block> {
    const progressTimer = this.options.onProgress
      ? setInterval(() => this.options.onProgress!(this.snapshot(false)), this.context.progress.intervalMs) : undefined;
    const onAbort = () => this.fail(new ExecutionError("the job was cancelled"));
    this.options.signal?.addEventListener("abort", onAbort);
    let completed = false;
    let thrown: Error | undefined;
    // Workers do not keep the process alive while idle; a running execution must.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const onIdle = () => this.wakeUp();
    try {
      if (this.root.kind === "write") this.output = await JobOutput.open(this.root, this.writePrefix, this.checkpoint !== undefined);
      if (this.checkpoint) await this.openCheckpoint(this.checkpoint);
      this.output?.redirect(this.physicalRoot);
      this.rootOp = this.build(this.physicalRoot);
      if (this.prepared) this.commits = this.commitTracker(this.prepared);
      if (this.prepared?.outputSchema) this.seedOutputSchema(this.prepared.outputSchema);
      const { cluster } = this.context;
      if (cluster) await cluster.start();
      this.pool = cluster ? cluster.pool : sharedWorkerPool(this.context.cpuSlots());
      this.pool.on("idle", onIdle);
      this.startActorPools(onIdle);
      await Promise.all(this.operators.map((op) => op.start().catch((e: Error) => this.fail(e))));
      for (;;) {
        if (this.failure) throw this.failure;
        this.step();
        if (this.failure) throw this.failure;
        const next = this.outputQueue.shift();
        if (next) { yield next.block; continue; }
        if (this.rootOp.isFinished() && this.rootOp.outputQueue.length === 0) break;
        await new Promise<void>((resolve) => { this.wake = resolve; });
      }
      await this.commits?.settle();
      if (this.failure) throw this.failure;
      completed = true;
      if (this.checkpoint && this.prepared) {
        const unfinished = this.erroredKeys.size > 0 || this.erroredBlocks > 0; // rows a resume still has to write
        this.checkpointProgress!.deleted = await finishCheckpoint(this.checkpoint, this.prepared, this.root as Extract<LogicalOp, { kind: "write" }>, unfinished);
      }
      if (this.output) {
        await this.output.succeeded();
        for (const file of this.written) file.path = this.output.finalPath(file.path);
      }
      const progress = this.snapshot(true);
      this.options.onProgress?.(progress);
      this.resolveResult({
        rowsOut: this.rootOp.metrics.rowsOut, written: this.written, durationMs: Date.now() - this.startedAt,
        progress, peakMemoryBytes: this.peakMemory, statsText: statsText(progress, this.operators, Date.now() - this.startedAt, this.peakMemory),
        erroredRows: this.erroredSample,
      });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      thrown = error;
      // A failed checkpointed job's last progress says what it committed (the CLI reports the kept checkpoint).
      if (this.checkpointProgress) this.options.onProgress?.(this.snapshot(false));
      this.rejectResult(error);
      throw error;
    } finally {
      clearInterval(progressTimer);
      clearInterval(keepAlive);
      this.pool?.off("idle", onIdle);
      clearInterval(this.autoscaleTimer);
      for (const pool of this.actorPools.values()) pool.shutdown();
      this.options.signal?.removeEventListener("abort", onAbort);
      if (!completed && !this.failure) {
        this.stopAll();
        this.rejectResult(new ExecutionError("the consumer stopped reading before the end"));
      }
      // Tasks still running belong to no one now. A failed job's are ended at once, once their writes
      // in flight have finished or failed (a write ended mid-way leaves its temporary file), for at most
      // the grace; tasks a limit cancelled get the grace to stop by themselves (cheaper than a new
      // worker), then are ended so a slow UDF cannot hold a shared worker.
      if (!completed) await this.writesSettled(CANCEL_GRACE_MS);
      const leftovers = [...this.running];
      const endLeftovers = () => Promise.all(leftovers.map(([taskId, task]) => this.hostFor(task.op).abandon(taskId)));
      if (completed && leftovers.length > 0) setTimeout(() => void endLeftovers(), CANCEL_GRACE_MS).unref();
      // Their writes stopped first: none may land after the partial output is removed and the lease released.
      else await endLeftovers();
      const cleanup: string[] = [];
      if (!completed) cleanup.push(...await this.removePartialOutput());
      await this.commits?.settle();
      if (this.prepared && this.erroredRowsToRecord.length > 0) {
        await recordErroredRows(this.prepared.spec, DRIVER_RECORDS, 0, this.erroredRowsToRecord)
          .catch((e: Error) => { cleanup.push(`recording the rows it skipped failed (a resume still processes them): ${e.message}`); });
      }
      // A lease not released goes stale: its process is gone once the job's is.
      await this.prepared?.lease.release().catch(() => undefined);
      // The consumer sees the error once this block is done: what cleaning up could not do is part of it.
      if (thrown && cleanup.length > 0) thrown.message += `; then ${cleanup.join("; ")}`;
    }
  }

  /** Moves outputs downstream, then launches tasks while workers and memory allow. */
  private step(): void {
    for (const op of this.operators) {
      const next = this.downstream.get(op);
      try {
        while (op.outputQueue.length > 0) {
          const item = op.outputQueue.shift()!;
          if (next) next.op.addInput(item, next.index);
          else this.outputQueue.push(item);
        }
        if (op.isFinished()) {
          op.metrics.finishedAt ??= Date.now();
          if (op instanceof ActorPoolOperator) this.actorPools.get(op)!.shutdown();
          if (next && !next.op.isInputDone(next.index)) next.op.markInputDone(next.index);
        }
      } catch (e) {
        // Driver-side operators (zip, sort, aggregate) fail here; name the one that did.
        this.fail(new ExecutionError(e instanceof OperatorError ? e.message : `${next?.op.name ?? op.name}: ${(e as Error).message}`));
        return;
      }
      if (op instanceof LimitOperator && op.satisfied) this.stopUpstream(op);
    }
    this.autoscaleActorPools();
    this.autoscaleCluster();
    this.launchTasks();
    this.grantCredits();
    this.peakMemory = Math.max(this.peakMemory, this.memoryUsed());
  }

  private memoryUsed(): number {
    let total = this.outputQueue.reduce((s, b) => s + b.bytes, 0);
    for (const op of this.operators) total += op.queuedBytes();
    for (const task of this.running.values()) total += task.reservedBytes;
    return total;
  }

  private autoscaleTimer?: NodeJS.Timeout;

  /** One pool per class-UDF stage, started at its initial size; work goes to an actor as soon as one is ready. */
  private startActorPools(onIdle: () => void): void {
    for (const op of this.operators) {
      if (!(op instanceof ActorPoolOperator)) continue;
      const spec = op.physical.actorPool;
      const init = { stage: op.name, module: this.options.module, udf: spec.udf, constructorArgs: spec.constructorArgs, maxConcurrency: spec.maxConcurrency };
      const { cluster } = this.context;
      const spawn = cluster ? () => cluster.spawnActorWorker() : localWorkerThread;
      const pool = new ActorPool(init, (error) => this.fail(new ExecutionError(error.message, error)), spawn);
      pool.on("idle", onIdle);
      for (let i = 0; i < spec.initialActors; i++) pool.addActor();
      this.actorPools.set(op, pool);
    }
    if (this.actorPools.size > 0) this.autoscaleTimer = setInterval(() => this.wakeUp(), AUTOSCALE_INTERVAL_MS);
  }

  private autoscaleActorPools(): void {
    for (const [op, pool] of this.actorPools) {
      if (op.isFinished()) continue;
      const spec = op.physical.actorPool;
      const retries = this.retries.filter((r) => r.op === op).length;
      const delta = this.context.actorPoolAutoscaler.decide({
        actors: pool.size, minActors: spec.minActors, maxActors: spec.maxActors,
        queuedTasks: op.queuedTasks() + retries, tasksInFlight: pool.tasksInFlight(), tasksPerActor: TASKS_PER_ACTOR,
        affordableActors: Math.floor((this.cpuSlots() - this.actorCpus()) / spec.numCpus),
        idleActors: (ms) => pool.idleSince(Date.now() - ms),
      });
      for (let i = 0; i < delta; i++) pool.addActor();
      for (let i = 0; i > delta && pool.removeIdleActor(); i--);
    }
  }

  /** While work waits for CPU slots, asks the cluster (if any) for more nodes. */
  private autoscaleCluster(): void {
    const { cluster } = this.context;
    if (!cluster) return;
    let queuedWork = this.retries.filter((r) => usesTaskSlot(r.op)).length;
    for (const op of this.operators) {
      if (usesTaskSlot(op)) queuedWork += op.queuedTasks();
      if (op instanceof ActorPoolOperator && !op.isFinished()) queuedWork += Math.max(0, op.physical.actorPool.minActors - this.actorPools.get(op)!.size);
    }
    const counts = cluster.counts();
    const launch = this.context.clusterAutoscaler.decide({
      aliveNodes: counts.alive, pendingNodes: counts.pending, maxNodes: cluster.options.maxNodes,
      cpusPerNode: cluster.options.cpusPerNode, queuedWork: Math.max(0, queuedWork - this.freeTaskSlots()),
    });
    if (launch > 0) cluster.launch(launch);
  }

  /** CPU slots: the cluster's alive nodes', or this process's. */
  private cpuSlots(): number {
    return this.context.cluster?.cpus() ?? this.context.cpuSlots();
  }

  /** CPU slots held by actors, whether busy or not. */
  private actorCpus(): number {
    let cpus = 0;
    for (const [op, pool] of this.actorPools) cpus += pool.size * op.physical.actorPool.numCpus;
    return cpus;
  }

  /** Tasks of the shared pool may run at once: the CPU slots actors do not hold, and at least one. */
  private taskSlots(): number {
    return Math.max(1, this.cpuSlots() - this.actorCpus());
  }

  private freeTaskSlots(): number {
    let onSlots = 0;
    for (const task of this.running.values()) if (usesTaskSlot(task.op)) onSlots++;
    return Math.max(0, Math.min(this.pool?.idleCount ?? 0, this.taskSlots() - onSlots));
  }

  private hostFor(op: TaskOperator): TaskHost {
    return op instanceof ActorPoolOperator ? this.actorPools.get(op)! : this.pool!;
  }

  private hasRoom(op: TaskOperator): boolean {
    if (op instanceof ActorPoolOperator) return this.actorPools.get(op)!.freeSlots() > 0;
    return this.freeTaskSlots() > 0;
  }

  /**
   * With more than one task stage, upstream stages leave one CPU slot free, so a downstream stage can
   * always drain their output; otherwise paused upstream tasks could hold every slot while the queue
   * between the stages only grows.
   */
  private slotReservedFor(op: TaskOperator): boolean {
    const slots = this.taskSlots();
    if (slots < 2 || !usesTaskSlot(op) || !this.feedsTaskStage(op)) return false;
    let upstreamRunning = 0;
    for (const task of this.running.values()) if (usesTaskSlot(task.op) && this.feedsTaskStage(task.op)) upstreamRunning++;
    return upstreamRunning >= slots - 1;
  }

  private feedsTaskStage(op: PhysicalOperator): boolean {
    for (let next = this.downstream.get(op); next; next = this.downstream.get(next.op)) {
      if (usesTaskSlot(next.op)) return true;
    }
    return false;
  }

  private dropCreditWaiter(taskId: number): void {
    for (let i = this.creditWaiters.indexOf(taskId); i >= 0; i = this.creditWaiters.indexOf(taskId)) this.creditWaiters.splice(i, 1);
  }

  /** Nothing can make progress without more memory: every task waits for a credit and the consumer has nothing to drain. */
  private stalled(): boolean {
    if (this.outputQueue.length > 0) return false;
    let waiting = 0;
    for (const taskId of new Set(this.creditWaiters)) if (this.running.has(taskId)) waiting++;
    return waiting === this.running.size;
  }

  private grantCredits(): void {
    const budget = this.context.memoryBudget();
    while (this.creditWaiters.length > 0 && (this.memoryUsed() <= budget || this.stalled())) {
      const taskId = this.creditWaiters.shift()!;
      const task = this.running.get(taskId);
      if (task) this.hostFor(task.op).grantCredit(taskId);
    }
  }

  private launchTasks(): void {
    const budget = this.context.memoryBudget();
    for (let i = 0; i < this.retries.length;) {
      const retry = this.retries[i];
      if (retry.op.stopped) {
        this.retries.splice(i, 1);
        retry.op.metrics.tasksRunning--;
        retry.op.taskEnded(retry.taskIndex);
      } else if (this.hasRoom(retry.op)) {
        this.retries.splice(i, 1);
        this.launch(retry.op, retry);
      } else i++;
    }
    for (;;) {
      const withTasks = this.operators.filter((op): op is TaskOperator => op instanceof TaskOperator && op.hasTask());
      for (const op of withTasks) if (!this.hasRoom(op)) op.metrics.backpressure = op instanceof ActorPoolOperator ? "all actors busy" : "all workers busy";
      // Downstream first (operators are listed upstream → downstream): finishing work frees memory.
      const ready = withTasks.filter((op) => this.hasRoom(op) && !this.slotReservedFor(op)).reverse();
      // Over budget, launch only when nothing else can make progress. A call into an actor pool adds
      // nothing: its input bytes only move from the queue to the call.
      const memoryFull = this.memoryUsed() + this.taskReservation() > budget && !this.stalled();
      const launchable = ready.filter((op) => op instanceof ActorPoolOperator || !memoryFull);
      for (const r of ready) r.metrics.backpressure = launchable.includes(r) ? undefined : "memory budget";
      if (launchable.length === 0) return;
      this.launch(launchable[0]);
    }
  }

  /**
   * Memory a running task holds in its worker: about three blocks (the one it builds, its IPC copy,
   * and that copy in flight). Its outputs, once sent, count in queues as well.
   */
  private taskReservation(): number {
    return 3 * this.context.blockBytes();
  }

  private launch(op: TaskOperator, retry?: Retry): void {
    const next = retry ? undefined : op.nextTask();
    if (!retry && !next) return;
    const reservedBytes = retry?.reservedBytes
      ?? (op instanceof ActorPoolOperator ? next!.inputBlocks.reduce((sum, b) => sum + b.bytes, 0) : this.taskReservation());
    const spec: TaskSpec = retry?.spec ?? {
      // An actor loaded the pipeline when it was constructed; its calls need not carry it.
      taskId: nextTaskId++, stage: op.name, module: op instanceof ActorPoolOperator ? undefined : this.options.module, input: next!.input,
      transforms: op.transforms, sink: op.sink ? { ...op.sink, taskIndex: op.metrics.tasksLaunched } : undefined,
      targetBlockBytes: this.context.blockBytes(), skipOutputs: 0, outputCredits: OUTPUT_CREDITS,
      idColumn: this.checkpoint?.idColumn,
      committedIds: op.isSource ? this.prepared?.committedIds : undefined,
      finishedIds: op.isSource ? this.prepared?.finishedIds : undefined,
    };
    const attempts = retry?.attempts ?? 0;
    if (!retry) {
      op.metrics.tasksLaunched++;
      op.metrics.tasksRunning++; // a task counts as running until its last attempt ends
    }
    const taskIndex = retry?.taskIndex ?? op.metrics.tasksLaunched - 1;
    const sources = retry?.sources ?? this.commits?.launched(op.isSource, taskIndex, next!.input, next!.inputBlocks) ?? [];
    const state = { op, delivered: spec.skipOutputs, taskIndex, reservedBytes, sources };
    this.running.set(spec.taskId, state);
    const settle = () => {
      this.running.delete(spec.taskId);
      op.metrics.tasksRunning--;
      op.metrics.tasksFinished++;
      op.taskEnded(state.taskIndex);
      if (!this.failure) this.commits?.ended(op.isSource, state.taskIndex, () => this.liveSources());
    };
    this.hostFor(op).run(spec, this.context.taskTimeoutMs, (message) => {
      if (this.failure || op.stopped) return;
      if (message.type === "output") {
        state.delivered++;
        try {
          op.receiveOutput(state.taskIndex, message.ipc, message.bytes, message.origin, sources);
        } catch (e) {
          this.fail(new ExecutionError((e as Error).message, { kind: "udf", operator: op.name, message: (e as Error).message, file: message.origin.file }));
          return;
        }
        this.creditWaiters.push(spec.taskId);
      } else if (message.type === "written") {
        state.delivered++;
        op.metrics.rowsOut += message.rows;
        op.metrics.blocksOut++;
        this.written.push({ path: message.path, rows: message.rows, bytes: message.bytes });
        if (message.committed) {
          this.checkpointProgress!.filesCommitted++;
          this.checkpointProgress!.rowsCommitted += message.rows;
          this.commits?.committed(sources, message.path, taskOutputPrefix(this.writePrefix, state.taskIndex), message.idKeys);
        }
      } else if (message.type === "schema") {
        this.answerSchemaRequest(op, spec.taskId, schemaFromIPC(message.ipc));
      } else if (message.type === "rowError") {
        this.recordErroredRow(message.row);
        this.commits?.lost(sources);
        // A task that writes a checkpointed sink records its errored rows itself; others' (an actor pool's) the driver records.
        if (this.prepared && !op.sink?.checkpoint) this.erroredRowsToRecord.push(message.row);
      } else {
        op.metrics.rowsIn += message.rows;
        if (this.checkpointProgress) this.checkpointProgress.rowsAlreadyDone += message.alreadyDone;
        this.checkInputSchema(op, message.file, message.schema);
      }
      this.wakeUp();
    }).then((udfMs) => {
      op.metrics.udfMs += udfMs;
      settle();
    }, (e: TaskFailure) => {
      if (this.failure || op.stopped) { settle(); return; } // nobody needs this task's result any more
      if (e.kind === "workerLost" && attempts < this.context.maxTaskRetries) {
        // The retry skips the outputs this attempt already delivered (tasks are deterministic).
        this.running.delete(spec.taskId);
        this.dropCreditWaiter(spec.taskId);
        op.metrics.tasksRetried++;
        // A checkpointed write instead continues from the files this task committed: skipping by count
        // would assume the retry splits its output as before, which onError "skip" and flaky UDFs break.
        const retry = op.sink?.checkpoint ? { ...spec, continueFromCommits: true } : { ...spec, skipOutputs: state.delivered };
        this.retries.push({ op, spec: retry, attempts: attempts + 1, taskIndex: state.taskIndex, reservedBytes, sources });
        return;
      }
      if (e.kind === "application") this.commits?.lost(sources);
      settle();
      if (e.kind === "application") {
        this.erroredBlocks++;
        const max = this.context.maxErroredBlocks;
        if (max >= 0 && this.erroredBlocks > max) this.fail(new ExecutionError(e.message, e.info));
      } else {
        this.fail(new ExecutionError(`${e.message} (after ${attempts + 1} attempts)`, e.info));
      }
    }).finally(() => this.wakeUp());
  }

  /** Counts a row skipped under onError: "skip"; past the operator's maxErroredRows the job fails. */
  private recordErroredRow(row: ErroredRow): void {
    // A retried task reports again the rows it skips again.
    const key = JSON.stringify(row.id !== undefined ? [row.operator, row.id, row.file] : [row.operator, row.file, row.row, row.input]);
    if (this.erroredKeys.has(key)) return;
    this.erroredKeys.add(key);
    if (this.erroredSample.length < ERRORED_ROWS_KEPT) this.erroredSample.push(row);
    const count = (this.erroredByOperator.get(row.operator) ?? 0) + 1;
    this.erroredByOperator.set(row.operator, count);
    const budget = this.erroredBudgets.get(row.operator) ?? Infinity;
    if (count > budget) {
      this.fail(new ExecutionError(`${row.operator}: ${count} rows errored, more than its maxErroredRows (${budget}); the last: ${row.error}`,
        { kind: "udf", operator: row.operator, file: row.file, row: row.row, id: row.id === undefined ? undefined : String(row.id), message: row.error, stack: row.stack, rowPreview: row.input, rowInput: row.input }));
    }
  }

  /** A resume's write starts from the schema earlier attempts committed files under. */
  private seedOutputSchema(schema: Schema): void {
    for (const op of this.operators) if (op instanceof TaskOperator && op.sink?.checkpoint) op.fixSchema(schema);
    this.recordedSchema = schema;
  }

  /**
   * Answers a write task's schema request with the output's schema. A checkpointed job records the
   * schema first whenever it changes, so that no file is written under a schema a resume would not know.
   */
  private answerSchemaRequest(op: TaskOperator, taskId: number, proposed: Schema): void {
    const schema = op.fixSchema(proposed);
    const fixedBy = this.prepared?.outputSchema && `an earlier attempt of this job (recorded in ${this.checkpoint!.checkpointPath}/${SCHEMA_FILE})`;
    const answer = () => this.hostFor(op).send(taskId, { type: "schema", taskId, ipc: schemaToIPC(schema), fixedBy });
    const prepared = this.prepared;
    if (!prepared || !op.sink?.checkpoint) return answer();
    if (schema !== this.recordedSchema) {
      this.recordedSchema = schema;
      this.schemaRecording = this.schemaRecording.then(() => recordOutputSchema(prepared.spec, schema));
    }
    this.schemaRecording.then(answer, (e: Error) => this.fail(new ExecutionError(`${op.name}: recording the output's schema in the checkpoint: ${e.message}`)));
  }

  private commitTracker(prepared: PreparedCheckpoint): CommitTracker {
    const stages = this.operators.filter((op) => op instanceof TaskOperator);
    return new CommitTracker(prepared.spec, {
      writeInReadTask: stages.some((op) => op.isSource && op.sink !== undefined),
      checkDuplicates: prepared.spec.checkDuplicateIds === true,
      mayRepeatIds: stages.some((op) => mayRepeatIds(op.transforms)),
    }, (error) => this.fail(error instanceof ExecutionError ? error : new ExecutionError(error.message)));
  }

  /** The read tasks whose rows are still in queues or in running (or retried) tasks. */
  private *liveSources(): Iterable<Sources> {
    for (const op of this.operators) for (const block of op.queuedBlocks()) if (block.sources) yield block.sources;
    for (const task of this.running.values()) yield task.sources;
    for (const retry of this.retries) yield retry.sources;
  }

  private readonly inputSchemas = new Map<PhysicalOperator, { file: string; schema: string[] }>();

  /** The files of one read have one schema; a column null in every row of a file fits any type (as readFileBlocks allows). */
  private checkInputSchema(op: PhysicalOperator, file: string, schema: string[]): void {
    const first = this.inputSchemas.get(op);
    if (!first) { this.inputSchemas.set(op, { file, schema }); return; }
    const fits = (a: string, b: string) => a === b || (a.slice(0, a.indexOf(": ")) === b.slice(0, b.indexOf(": ")) && (a.endsWith(": Null") || b.endsWith(": Null")));
    if (first.schema.length !== schema.length || schema.some((column, i) => !fits(column, first.schema[i]))) {
      this.fail(new ExecutionError(`columns differ across files: ${file} has {${schema.join(", ")}} but ${first.file} has {${first.schema.join(", ")}}`,
        { kind: "input", message: "columns differ across files", file }));
    }
  }

  private stopUpstream(op: PhysicalOperator): void {
    for (const input of op.inputs) {
      if (input.stopped) continue;
      input.stop();
      for (const [taskId, task] of this.running) if (task.op === input) this.hostFor(task.op).cancel(taskId);
      this.stopUpstream(input);
    }
  }

  /** Waits, up to `ms`, until no task that writes files is running (stopped tasks end after their current write). */
  private async writesSettled(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while ([...this.running.values()].some((task) => task.op.sink) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private stopAll(): void {
    for (const op of this.operators) op.stopped = true;
    for (const [taskId, task] of this.running) this.hostFor(task.op).cancel(taskId);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.stopAll();
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = () => undefined;
    wake();
  }

  /**
   * A failed or cancelled job leaves no output files that look complete, and the previous output of an
   * overwrite as it was. A checkpointed job keeps its committed files for a resume, which removes the
   * uncommitted ones (workers may still be finishing a commit now).
   */
  private async removePartialOutput(): Promise<string[]> {
    const problems: string[] = [];
    const sinks = this.operators.flatMap((op) => (op instanceof TaskOperator && op.sink && !op.sink.checkpoint ? [op.sink] : []));
    await Promise.all(sinks.map((sink) => removeWrittenFiles(sink.path, sink.filePrefix, sink.options.filesystem).catch((e: Error) => {
      problems.push(`removing the files it wrote failed, so files named ${sink.filePrefix}* may remain in ${sink.path}: ${e.message}`);
    })));
    await this.output?.failed().catch((e: Error) => { problems.push(`undoing its output failed: ${e.message}`); });
    return problems;
  }

  private snapshot(finished: boolean): ProgressSnapshot {
    const now = Date.now();
    let upstreamEstimate: number | undefined;
    const operators = this.operators.map((op): OperatorProgress => {
      if (op instanceof TaskOperator) op.estimateFrom(upstreamEstimate);
      upstreamEstimate = op.metrics.rowsEstimated;
      const m = op.metrics;
      const elapsed = ((m.finishedAt ?? now) - (m.startedAt ?? now)) / 1000;
      return {
        name: op.name, inputs: op.inputs.map((input) => this.operators.indexOf(input)), rowsDone: m.rowsOut, rowsEstimated: m.rowsEstimated, inMemoryBytesEstimated: m.inMemoryBytesEstimated, blocksDone: m.blocksOut,
        tasksDone: m.tasksFinished, tasksEstimated: m.tasksEstimated, tasksRunning: m.tasksRunning, tasksRetried: m.tasksRetried,
        queuedBlocks: op.inputQueue.length + op.outputQueue.length, queuedBytes: op.queuedBytes(),
        backpressure: m.backpressure, rowsPerSecond: elapsed > 0 ? m.rowsOut / elapsed : 0,
        actors: op instanceof ActorPoolOperator ? this.actorPools.get(op)?.counts() : undefined,
      };
    });
    return {
      elapsedMs: now - this.startedAt, operators, memoryUsedBytes: this.memoryUsed(), memoryBudgetBytes: this.context.memoryBudget(),
      cpuSlots: this.cpuSlots(), workersBusy: this.running.size, nodes: this.context.cluster?.counts(), finished,
      erroredRows: this.erroredKeys.size, checkpoint: this.checkpointProgress && { ...this.checkpointProgress },
    };
  }
}

function statsText(progress: ProgressSnapshot, operators: PhysicalOperator[], durationMs: number, peakMemory: number): string {
  const lines = progress.operators.map((p, i) => {
    const m = operators[i].metrics;
    const tasks = m.tasksLaunched > 0 ? `${m.tasksLaunched} tasks, ` : "";
    const udf = m.udfMs > 0 ? `, UDF time ${(m.udfMs / 1000).toFixed(2)}s` : "";
    return `Operator ${i} ${p.name}: ${tasks}${p.blocksDone} blocks, ${p.rowsDone.toLocaleString("en-US")} rows out, ` +
      `${formatBytes(m.bytesOut)}, ${Math.round(p.rowsPerSecond).toLocaleString("en-US")} rows/s${udf}`;
  });
  lines.push(`Dataset: ${(durationMs / 1000).toFixed(2)}s total, peak block memory ${formatBytes(peakMemory)} of a ${formatBytes(progress.memoryBudgetBytes)} budget, ${progress.cpuSlots} CPU slots`);
  return lines.join("\n");
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
