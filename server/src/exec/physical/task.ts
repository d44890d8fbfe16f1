// Read or map stage: its tasks run on workers of the shared pool.
import { blockFromIPC, blockToIPC, emptyBlock } from "../../block";
import type { BlockOrigin, TaskInput, TaskSpec } from "../../cluster";
import type { ExchangeMapSpec, ExchangeMapStep, MapOutput, PhysicalOp, SinkSpec, TransformSpec } from "../../plan";
import type { Sources } from "../lineage";
import { ReadPlanner, type FileRef } from "../../io";
import { type ReadSettings, unfinishedFiles } from "../read-settings";
import { PhysicalOperator, type QueuedBlock, queued } from "./base";
import { InOrderRelease } from "./in-order";

/** A task's input made of queued blocks (their IPC bytes reused when they arrived as IPC). */
export function blocksInput(bundle: QueuedBlock[]): { input: TaskInput; inputBlocks: QueuedBlock[] } {
  return {
    input: { kind: "blocks", blocks: bundle.map((b) => b.ipc ?? blockToIPC(b.block)), origins: bundle.map((b) => b.origin) },
    inputBlocks: bundle,
  };
}

/** Read or map stage: fused transforms (and possibly a write) run as tasks on workers. */
export class TaskOperator extends PhysicalOperator {
  private pendingInputs: TaskInput[] = [];
  private planned = false;
  /** Resumes a read's planning, paused while enough of its tasks wait to be launched. */
  private resumePlanning?: () => void;
  /** When set, outputs are released in task order (for zip, and DataContext.preserveOrder). */
  preserveOrder = false;
  private readonly inTaskOrder = new InOrderRelease();
  readonly transforms: TransformSpec[];
  readonly sink?: SinkSpec;
  /** Set when the stage feeds an exchange: its tasks partition their output (see exchangeMap()). */
  private readonly mapStep?: ExchangeMapStep;
  /** The exchange this stage feeds: where its tasks spill, and how much they may keep in memory. */
  exchangeTarget?: { spillDir: string; inlineAllowance(): number };
  private readonly mapOutputsSeen = new Set<number>();

  constructor(
    readonly physical: Extract<PhysicalOp, { kind: "read" | "map" | "actorPool" | "exchange" }>, inputs: PhysicalOperator[],
    protected readonly settings: ReadSettings,
  ) {
    super(physical.name, inputs);
    this.transforms = physical.transforms;
    this.sink = physical.kind === "actorPool" ? undefined : physical.sink;
    this.mapStep = physical.kind === "read" || physical.kind === "map" ? physical.exchangeMap : undefined;
  }

  /** The map side of the exchange this stage feeds, for its next task. */
  exchangeMap(taskIndex: number): ExchangeMapSpec | undefined {
    if (!this.mapStep || !this.exchangeTarget) return undefined;
    return { ...this.mapStep, taskIndex, spillDir: this.exchangeTarget.spillDir, inlineBytes: this.exchangeTarget.inlineAllowance() };
  }

  get isSource(): boolean { return this.physical.kind === "read"; }

  override async start(): Promise<void> {
    if (this.physical.kind !== "read" || this.settings.nothingToRead) { this.planned = true; return; }
    this.metrics.startedAt = Date.now();
    const source = this.physical.source;
    if (source.type === "blocks" && this.transforms.length === 0 && !this.sink && !this.mapStep) {
      // In-memory blocks that nothing transforms need no worker.
      let rowOffset = 0;
      for (const block of source.blocks) {
        this.metrics.rowsIn += block.numRows;
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
      // Map tasks of an exchange end in a barrier: even, smaller tasks leave no slot idle while the last ones run.
      parallelism: overrideNumBlocks ?? this.settings.cpuSlots * (this.mapStep ? 8 : 2), overrideNumBlocks, targetBlockBytes: this.settings.targetBlockBytes,
      evenTasks: this.mapStep !== undefined,
      // A checkpoint counts an input file done when the task that read it is: one task per file.
      splitFiles: this.settings.doneFiles === undefined ? splitAlignment(this.transforms) : undefined,
      unfinishedFiles: (files: FileRef[]) => unfinishedFiles(files, this.settings),
    };
    (async () => {
      for await (const read of planner.plan(context)) {
        this.pendingInputs.push({ kind: "read", ...read });
        this.settings.onDiscovery();
        // Planning stays a few tasks ahead of the launches, no further: a preview whose first task meets its
        // limit lists no more pages and reads no more footers (each a round trip, and CPU, before the job can end).
        while (!this.stopped && this.pendingInputs.length >= context.parallelism) await new Promise<void>((resolve) => { this.resumePlanning = resolve; });
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
    if (this.isSource) return this.pendingInputs.length > 0 && !this.awaitingFirstRows();
    if (!this.planned) return false;
    if (this.inputQueue.length === 0) return false;
    // Bundle small blocks into one task unless upstream is done (then take what there is).
    return this.allInputsDone || this.inputQueue.reduce((s, b) => s + b.bytes, 0) >= this.settings.targetBlockBytes / 4;
  }

  override nextTask(): { input: TaskInput; inputBlocks: QueuedBlock[] } | undefined {
    if (!this.hasTask()) return undefined;
    if (this.isSource) {
      const input = this.pendingInputs.shift()!;
      this.wakePlanning();
      return { input, inputBlocks: [] };
    }
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

  /** A map task of the exchange this stage feeds is done: its output's metadata goes on to the exchange. */
  receiveMapOutput(output: MapOutput): void {
    if (this.stopped) return;
    const inline = output.chunks.reduce((sum, c) => sum + (c.ipc ? c.bytes : 0), 0);
    // A task made again (its node was lost) delivers its rows a second time: they count once.
    if (!this.mapOutputsSeen.has(output.taskIndex)) this.metrics.rowsOut += output.rows;
    this.mapOutputsSeen.add(output.taskIndex);
    this.metrics.bytesSpilled = (this.metrics.bytesSpilled ?? 0) + output.spilledBytes;
    this.outputQueue.push({ block: emptyBlock(), bytes: inline, origin: { rowOffset: 0 }, mapOutput: output });
  }

  /** The spec a retry of the task runs with; undefined while it cannot run yet (an exchange's reduce waits for lost partitions). */
  retrySpec(task: TaskSpec): TaskSpec | undefined {
    return task;
  }

  /** The task's last attempt ended (done, or failed within maxErroredBlocks); release what it unblocks. */
  taskEnded(taskIndex: number): void {
    if (this.preserveOrder) for (const ready of this.inTaskOrder.end(taskIndex)) this.emit(ready);
  }

  override stop(): void {
    super.stop();
    this.inTaskOrder.clear();
    this.pendingInputs.length = 0;
    this.wakePlanning();
  }

  /**
   * Under a row limit pushed into a file read, its first task runs alone until it delivers: a preview whose
   * first file holds its rows reads no other file (on a small machine those reads slow the first).
   */
  private awaitingFirstRows(): boolean {
    const { physical, metrics } = this;
    return physical.kind === "read" && physical.source.type === "files" && physical.source.options.limit !== undefined
      && metrics.tasksRunning > 0 && metrics.blocksOut === 0 && metrics.tasksFinished === 0;
  }

  private wakePlanning(): void {
    const resume = this.resumePlanning;
    this.resumePlanning = undefined;
    resume?.();
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.inTaskOrder.bytes();
  }

  override *queuedBlocks(): Iterable<QueuedBlock> {
    yield* super.queuedBlocks();
    yield* this.inTaskOrder.items();
  }

  /** Whether each input row gives one output row (maps only), so the output's estimate is the input's. */
  get preservesRows(): boolean {
    return this.transforms.every((t) => t.kind !== "batches" && t.kind !== "filterExpr" && (t.kind !== "rows" || t.steps.every((s) => s.kind === "map")));
  }
}

/**
 * The row multiple at which a file may be split into tasks without changing the batches the stage's batch
 * UDFs see (they cut batches of batchSize across a task's blocks); undefined when no split keeps them: a
 * batch UDF after a transform that may change the row count, or after another batch UDF.
 */
function splitAlignment(transforms: TransformSpec[]): { rowMultiple: number } | undefined {
  let rowMultiple = 1;
  let countMayChange = false;
  for (const t of transforms) {
    // A UDF whose errors skip rows changes the count too.
    if ("onError" in t && t.onError !== "fail") countMayChange = true;
    if (t.kind === "batches") {
      if (t.batchSize !== undefined) {
        if (countMayChange) return undefined;
        rowMultiple = leastCommonMultiple(rowMultiple, t.batchSize);
      }
      countMayChange = true;
    } else if (t.kind === "sample" || t.kind === "filterExpr" || (t.kind === "rows" && t.steps.some((step) => step.kind !== "map" || step.onError !== "fail"))) {
      countMayChange = true;
    }
  }
  return { rowMultiple };
}

function leastCommonMultiple(a: number, b: number): number {
  let [x, y] = [a, b];
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}
