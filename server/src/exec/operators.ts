// Physical operators of the streaming executor. Task operators (read, map) run their work on
// worker threads; the others (limit, all-to-all, union, zip) are bookkeeping in the driver.
import {
  type Block, SchemaMismatch, blockBytes, blockFromIPC, blockToIPC, conformBlock, emptyBlock, refineSchema, sameSchema, sliceBlock,
} from "../block";
import { type BlockOrigin, type TaskInput, rowName } from "../cluster";
import type { Schema } from "apache-arrow";
import { ReadPlanner, type FileRef } from "../io";
import type { PhysicalOp, SinkSpec, TransformSpec } from "../plan";
import { doneKey } from "../checkpoint";
import { GroupAggregator, repartitionBlocks, shuffleBlocks, sortBlocks, zipBlocks } from "./allToAll";
import type { Sources } from "./lineage";

export interface QueuedBlock {
  block: Block;
  bytes: number;
  origin: BlockOrigin;
  /** The IPC bytes the block arrived as, reused when it is sent to another worker. */
  ipc?: Uint8Array;
  /** In a checkpointed job: the read tasks whose rows it holds. */
  sources?: Sources;
}

export function queued(block: Block, origin: BlockOrigin = { rowOffset: 0 }): QueuedBlock {
  return { block, bytes: blockBytes(block), origin };
}

export interface OperatorMetrics {
  rowsIn: number;
  rowsOut: number;
  blocksOut: number;
  bytesOut: number;
  tasksLaunched: number;
  tasksFinished: number;
  tasksRunning: number;
  /** Task attempts rerun because their worker (or its node) was lost. */
  tasksRetried: number;
  rowsEstimated?: number;
  /** A read's decoded size, estimated from a few sampled files (accelerated path) or all footers (fallback). */
  inMemoryBytesEstimated?: number;
  tasksEstimated?: number;
  udfMs: number;
  startedAt?: number;
  finishedAt?: number;
  backpressure?: string;
}

/** An error already naming the operator it happened in. */
export class OperatorError extends Error {}

export abstract class PhysicalOperator {
  readonly inputQueue: QueuedBlock[] = [];
  readonly outputQueue: QueuedBlock[] = [];
  readonly metrics: OperatorMetrics = { rowsIn: 0, rowsOut: 0, blocksOut: 0, bytesOut: 0, tasksLaunched: 0, tasksFinished: 0, tasksRunning: 0, tasksRetried: 0, udfMs: 0 };
  protected readonly inputDone: boolean[];
  /** Set when a downstream limit no longer needs this operator's output (or the job ended). */
  stopped = false;

  constructor(readonly name: string, readonly inputs: PhysicalOperator[]) {
    this.inputDone = inputs.map(() => false);
  }

  /** Async preparation before the first task (listing files, reading metadata). */
  async start(): Promise<void> { /* most operators need none */ }

  addInput(item: QueuedBlock, inputIndex: number): void {
    this.metrics.rowsIn += item.block.numRows;
    this.metrics.startedAt ??= Date.now();
    this.onInput(item, inputIndex);
  }

  protected onInput(item: QueuedBlock, _inputIndex: number): void {
    this.inputQueue.push(item);
  }

  markInputDone(inputIndex: number): void {
    this.inputDone[inputIndex] = true;
    if (this.inputDone.every(Boolean)) this.onAllInputsDone();
  }

  protected onAllInputsDone(): void { /* hook */ }

  /** This operator's output schema: fixed by the first block with rows (or the first write task to ask), shared by all its tasks. */
  private outputSchema?: Schema;

  /** The schema this operator's output has from now on: `proposed` when it is the first; its null-typed columns typed by `proposed`. */
  fixSchema(proposed: Schema): Schema {
    this.outputSchema = this.outputSchema ? refineSchema(this.outputSchema, proposed) : proposed;
    return this.outputSchema;
  }

  /** The block in this operator's output schema, cast losslessly; else an error naming the operator, column, types and row. */
  private conform(item: QueuedBlock): QueuedBlock {
    const { block, origin } = item;
    if (block.numRows === 0) return this.outputSchema && !sameSchema(block.schema, this.outputSchema) ? queued(emptyBlock(this.outputSchema), origin) : item;
    try {
      const cast = conformBlock(block, this.fixSchema(block.schema), (row) => rowName(origin, row));
      return cast === block ? item : queued(cast, origin);
    } catch (e) {
      throw e instanceof SchemaMismatch ? new OperatorError(`${this.name}: ${e.message}`) : e;
    }
  }

  protected emit(item: QueuedBlock): void {
    if (this.stopped) return;
    item = this.conform(item);
    this.metrics.rowsOut += item.block.numRows;
    this.metrics.blocksOut++;
    this.metrics.bytesOut += item.bytes;
    this.outputQueue.push(item);
  }

  /** Nothing downstream needs more output: drop what is queued and produce no more. */
  stop(): void {
    this.stopped = true;
    this.inputQueue.length = 0;
    this.outputQueue.length = 0;
  }

  /** A task is ready to run on a worker. */
  hasTask(): boolean { return false; }
  /** The next task's input and what its outputs mean; the executor runs it. */
  nextTask(): { input: TaskInput; inputBlocks: QueuedBlock[] } | undefined { return undefined; }

  get allInputsDone(): boolean { return this.inputDone.every(Boolean); }

  isInputDone(inputIndex: number): boolean { return this.inputDone[inputIndex]; }

  /** No more output will come from this operator. */
  isFinished(): boolean {
    return this.stopped || (this.allInputsDone && this.inputQueue.length === 0 && this.metrics.tasksRunning === 0 && !this.hasTask());
  }

  queuedBytes(): number {
    let total = 0;
    for (const b of this.inputQueue) total += b.bytes;
    for (const b of this.outputQueue) total += b.bytes;
    return total;
  }

  /** Every block the operator holds. */
  *queuedBlocks(): Iterable<QueuedBlock> {
    yield* this.inputQueue;
    yield* this.outputQueue;
  }
}

/** Blocks from numbered streams (tasks, inputs), released in stream order: stream i waits until every earlier one has ended. */
class InOrderRelease {
  private current = 0;
  private readonly held = new Map<number, QueuedBlock[]>();
  private readonly ended = new Set<number>();

  /** The blocks to emit now: this one if its stream is current, else none (it is held). */
  offer(stream: number, item: QueuedBlock): QueuedBlock[] {
    if (stream === this.current) return [item];
    const items = this.held.get(stream);
    if (items) items.push(item);
    else this.held.set(stream, [item]);
    return [];
  }

  /** The held blocks that become current once `stream` has ended. */
  end(stream: number): QueuedBlock[] {
    this.ended.add(stream);
    const released: QueuedBlock[] = [];
    while (this.ended.delete(this.current)) {
      this.current++;
      released.push(...(this.held.get(this.current) ?? []));
      this.held.delete(this.current);
    }
    return released;
  }

  bytes(): number {
    let total = 0;
    for (const item of this.items()) total += item.bytes;
    return total;
  }

  *items(): Iterable<QueuedBlock> {
    for (const items of this.held.values()) yield* items;
  }

  clear(): void {
    this.held.clear();
  }
}

/** A task's input made of queued blocks (their IPC bytes reused when they arrived as IPC). */
function blocksInput(bundle: QueuedBlock[]): { input: TaskInput; inputBlocks: QueuedBlock[] } {
  return {
    input: { kind: "blocks", blocks: bundle.map((b) => b.ipc ?? blockToIPC(b.block)), origins: bundle.map((b) => b.origin) },
    inputBlocks: bundle,
  };
}

/** Read or map stage: fused transforms (and possibly a write) run as tasks on workers. */
export class TaskOperator extends PhysicalOperator {
  private pendingInputs: TaskInput[] = [];
  private planned = false;
  /** When set, outputs are released in task order (for zip, and DataContext.preserveOrder). */
  preserveOrder = false;
  private readonly inTaskOrder = new InOrderRelease();
  readonly transforms: TransformSpec[];
  readonly sink?: SinkSpec;

  constructor(
    readonly physical: Extract<PhysicalOp, { kind: "read" | "map" | "actorPool" }>, inputs: PhysicalOperator[],
    protected readonly settings: ReadSettings,
  ) {
    super(physical.name, inputs);
    this.transforms = physical.transforms;
    this.sink = physical.kind === "actorPool" ? undefined : physical.sink;
  }

  get isSource(): boolean { return this.physical.kind === "read"; }

  override async start(): Promise<void> {
    if (this.physical.kind !== "read" || this.settings.nothingToRead) { this.planned = true; return; }
    this.metrics.startedAt = Date.now();
    const source = this.physical.source;
    if (source.type === "blocks" && this.transforms.length === 0 && !this.sink) {
      // In-memory blocks that nothing transforms need no worker.
      let rowOffset = 0;
      for (const block of source.blocks) {
        this.emit(queued(block, { rowOffset }));
        rowOffset += block.numRows;
      }
      this.planned = true;
      return;
    }
    // Tasks start while the datasource goes on planning (listing files, say).
    const { overrideNumBlocks, position } = this.physical;
    const planner = new ReadPlanner(source, position, this.name);
    const context = {
      parallelism: overrideNumBlocks ?? this.settings.cpuSlots * 2, overrideNumBlocks, targetBlockBytes: this.settings.targetBlockBytes,
      unfinishedFiles: (files: FileRef[]) => unfinishedFiles(files, this.settings),
    };
    (async () => {
      for await (const read of planner.plan(context)) {
        this.pendingInputs.push({ kind: "read", ...read });
        this.settings.onDiscovery();
        if (this.stopped) return; // nobody wants more (a limit was reached, or the job ended)
      }
      const { tasks, rows, inMemoryBytes } = planner.estimates();
      Object.assign(this.metrics, { tasksEstimated: tasks, rowsEstimated: rows, inMemoryBytesEstimated: inMemoryBytes });
      this.planned = true;
      this.settings.onDiscovery();
    })().catch((e: Error) => this.settings.onDiscovery(e));
  }

  override hasTask(): boolean {
    if (this.stopped) return false;
    if (this.isSource) return this.pendingInputs.length > 0;
    if (!this.planned) return false;
    if (this.inputQueue.length === 0) return false;
    // Bundle small blocks into one task unless upstream is done (then take what there is).
    return this.allInputsDone || this.inputQueue.reduce((s, b) => s + b.bytes, 0) >= this.settings.targetBlockBytes / 4;
  }

  override nextTask(): { input: TaskInput; inputBlocks: QueuedBlock[] } | undefined {
    if (!this.hasTask()) return undefined;
    if (this.isSource) return { input: this.pendingInputs.shift()!, inputBlocks: [] };
    const bundle: QueuedBlock[] = [];
    let bytes = 0;
    while (this.inputQueue.length > 0 && (bundle.length === 0 || bytes + this.inputQueue[0].bytes <= this.settings.targetBlockBytes)) {
      const item = this.inputQueue.shift()!;
      bytes += item.bytes;
      bundle.push(item);
    }
    return blocksInput(bundle);
  }

  override isFinished(): boolean {
    return this.stopped || (this.planned && super.isFinished());
  }

  /** Tasks ready to launch (input bundles count once: their size is not known until they are cut). */
  queuedTasks(): number {
    if (this.stopped) return 0;
    return this.isSource ? this.pendingInputs.length : this.hasTask() ? 1 : 0;
  }

  receiveOutput(taskIndex: number, ipc: Uint8Array, bytes: number, origin: BlockOrigin, sources?: Sources): void {
    const item = { block: blockFromIPC(ipc), bytes, origin, ipc, sources };
    if (!this.preserveOrder) this.emit(item);
    else for (const ready of this.inTaskOrder.offer(taskIndex, item)) this.emit(ready);
  }

  /** The task's last attempt ended (done, or failed within maxErroredBlocks); release what it unblocks. */
  taskEnded(taskIndex: number): void {
    if (this.preserveOrder) for (const ready of this.inTaskOrder.end(taskIndex)) this.emit(ready);
  }

  override stop(): void {
    super.stop();
    this.inTaskOrder.clear();
    this.pendingInputs.length = 0;
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.inTaskOrder.bytes();
  }

  override *queuedBlocks(): Iterable<QueuedBlock> {
    yield* super.queuedBlocks();
    yield* this.inTaskOrder.items();
  }

  /** Estimated rows of output, for progress: known for reads, carried through row-preserving stages. */
  estimateFrom(upstream?: number): void {
    if (this.isSource || upstream === undefined) return;
    const preserving = this.transforms.every((t) => t.kind !== "rows" || t.steps.every((s) => s.kind === "map"));
    if (preserving && this.transforms.every((t) => t.kind !== "batches")) this.metrics.rowsEstimated = upstream;
  }
}

/**
 * A class UDF's stage: each task is a bundle of maxConcurrency calls (batchSize rows each; or one block
 * without a batchSize) sent to an actor of the stage's pool, which runs the calls at once up to
 * maxConcurrency; one message each way carries them all. The executor owns the pool and sizes it.
 */
export class ActorPoolOperator extends TaskOperator {
  declare readonly physical: Extract<PhysicalOp, { kind: "actorPool" }>;

  private queuedRows(): number {
    return this.inputQueue.reduce((sum, b) => sum + b.block.numRows, 0);
  }

  /** Rows per task; undefined: one block per task. */
  private get bundleRows(): number | undefined {
    const { batchSize, actorPool } = this.physical;
    return batchSize === undefined ? undefined : batchSize * actorPool.maxConcurrency;
  }

  /** A task starts once one call's worth of rows is queued, and takes up to bundleRows of whole batches. */
  override hasTask(): boolean {
    if (this.stopped || this.inputQueue.length === 0) return false;
    const { batchSize } = this.physical;
    return batchSize === undefined || this.allInputsDone || this.queuedRows() >= batchSize;
  }

  override queuedTasks(): number {
    if (this.stopped) return 0;
    const rows = this.bundleRows;
    return rows === undefined ? this.inputQueue.length : Math.ceil(this.queuedRows() / rows);
  }

  override nextTask(): { input: TaskInput; inputBlocks: QueuedBlock[] } | undefined {
    if (!this.hasTask()) return undefined;
    const { batchSize } = this.physical;
    const queued = this.queuedRows();
    const maxRows = batchSize === undefined ? this.inputQueue[0].block.numRows
      : Math.min(this.bundleRows!, this.allInputsDone ? queued : queued - (queued % batchSize));
    const bundle: QueuedBlock[] = [];
    for (let rows = 0; rows < maxRows && this.inputQueue.length > 0;) {
      const item = this.inputQueue[0];
      const take = endOfIdRun(item.block, Math.min(item.block.numRows, maxRows - rows), this.settings.idColumn);
      if (take === item.block.numRows) bundle.push(this.inputQueue.shift()!);
      else {
        bundle.push(sliceQueued(item, 0, take));
        this.inputQueue[0] = sliceQueued(item, take, item.block.numRows);
      }
      rows += take;
    }
    return blocksInput(bundle);
  }
}

/** A cut at `end` moved past the rows that share the ID of the row before it (a flatMap's rows of one input row stay in one task). */
function endOfIdRun(block: Block, end: number, idColumn: string | undefined): number {
  const ids = idColumn === undefined ? undefined : block.getChild(idColumn);
  if (!ids) return end;
  while (end > 0 && end < block.numRows && ids.get(end) === ids.get(end - 1)) end++;
  return end;
}

function sliceQueued(item: QueuedBlock, start: number, end: number): QueuedBlock {
  const rows = item.block.numRows;
  return {
    block: sliceBlock(item.block, start, end), bytes: Math.ceil((item.bytes * (end - start)) / rows),
    origin: { ...item.origin, rowOffset: item.origin.rowOffset + start }, sources: item.sources,
  };
}

export interface ReadSettings {
  cpuSlots: number;
  targetBlockBytes: number;
  /** Read tasks were found by the background listing (or it ended, or failed). */
  onDiscovery: (error?: Error) => void;
  /** Input files a checkpoint says are consumed whole (by doneKey, and their paths): listed but not read. */
  doneFiles?: { keys: Set<string>; paths: Set<string> };
  onFilesSkipped?: (count: number) => void;
  /** A checkpoint says the job is already complete: the read produces nothing. */
  nothingToRead?: boolean;
  /** A checkpointed job's ID column. */
  idColumn?: string;
}

/** The listed files still to read, given the files a checkpoint says are done. */
function unfinishedFiles(files: FileRef[], settings: ReadSettings): FileRef[] {
  const done = settings.doneFiles;
  if (!done || done.keys.size === 0) return files;
  const changed = files.find((f) => done.paths.has(f.path) && !done.keys.has(doneKey(f)));
  if (changed) {
    // Its rows may be in the output already, and its committed IDs are not loaded: reading it again could duplicate them.
    throw new Error(`input file ${changed.path} changed (size or etag) after an earlier attempt of this checkpointed job consumed it; ` +
      "restore it, or delete the checkpoint to start over");
  }
  const left = files.filter((f) => !done.keys.has(doneKey(f)));
  if (left.length < files.length) settings.onFilesSkipped?.(files.length - left.length);
  return left;
}

export class LimitOperator extends PhysicalOperator {
  private remaining: number;
  constructor(name: string, input: PhysicalOperator, readonly limit: number) {
    super(name, [input]);
    this.remaining = limit;
    if (limit === 0) this.markInputDone(0);
  }

  protected override onInput(item: QueuedBlock): void {
    if (this.remaining <= 0) return;
    const block = item.block.numRows > this.remaining ? item.block.slice(0, this.remaining) : item.block;
    this.remaining -= block.numRows;
    this.emit(block === item.block ? item : { ...queued(block, item.origin) });
    if (this.remaining <= 0) this.markInputDone(0);
  }

  get satisfied(): boolean { return this.remaining <= 0; }
}

type AllToAll = Extract<PhysicalOp, { kind: "allToAll" }>["op"];

/** A barrier: collects its whole input, then computes (aggregations accumulate as blocks arrive). */
export class AllToAllOperator extends PhysicalOperator {
  private readonly collected: Block[] = [];
  private readonly aggregator?: GroupAggregator;

  constructor(name: string, input: PhysicalOperator, private readonly op: AllToAll) {
    super(name, [input]);
    if (op.kind === "aggregate") this.aggregator = new GroupAggregator(op.keys, op.aggs);
  }

  /** Whether the output's row order depends on the input's (a stable sort's ties, a seeded shuffle, repartition). */
  get keepsInputOrder(): boolean {
    return this.op.kind !== "aggregate";
  }

  protected override onInput(item: QueuedBlock): void {
    if (this.aggregator) this.aggregator.add(item.block);
    else this.collected.push(item.block);
  }

  protected override onAllInputsDone(): void {
    const blocks = this.collected.splice(0);
    const op = this.op;
    const out = op.kind === "aggregate" ? [this.aggregator!.result()]
      : op.kind === "repartition" ? repartitionBlocks(blocks, op.numBlocks)
      : op.kind === "randomShuffle" ? shuffleBlocks(blocks, op.seed)
      : sortBlocks(blocks, op.key, op.descending);
    for (const block of out) this.emit(queued(block));
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.collected.reduce((s, b) => s + blockBytes(b), 0);
  }
}

export class UnionOperator extends PhysicalOperator {
  /** When set, input i's blocks are emitted only after input i-1 is done (as Ray's ordered union). */
  preserveOrder = false;
  private readonly inInputOrder = new InOrderRelease();

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    if (!this.preserveOrder) this.emit(item);
    else for (const ready of this.inInputOrder.offer(inputIndex, item)) this.emit(ready);
  }

  override markInputDone(inputIndex: number): void {
    super.markInputDone(inputIndex);
    if (this.preserveOrder) for (const ready of this.inInputOrder.end(inputIndex)) this.emit(ready);
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.inInputOrder.bytes();
  }
}

export class ZipOperator extends PhysicalOperator {
  private readonly sides: Block[][] = [[], []];

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    this.sides[inputIndex].push(item.block);
  }

  protected override onAllInputsDone(): void {
    for (const block of zipBlocks(this.sides[0], this.sides[1])) this.emit(queued(block));
    this.sides[0] = [];
    this.sides[1] = [];
  }
}

