// Read or map stage: its tasks run on workers of the shared pool.
import { blockFromIPC, blockToIPC } from "../../block";
import type { BlockOrigin, TaskInput } from "../../cluster";
import type { PhysicalOp, SinkSpec, TransformSpec } from "../../plan";
import type { Sources } from "../lineage";
import { type ReadSettings, discoverReadTasks, planReadTasks } from "../operators";
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
    if (source.type === "files" && this.physical.overrideNumBlocks === undefined) {
      // The accelerated path: tasks start while listing goes on.
      discoverReadTasks(source, this.settings, this.metrics, (task) => {
        this.pendingInputs.push(task);
        this.settings.onDiscovery();
        return !this.stopped;
      }).then(() => {
        this.planned = true;
        this.settings.onDiscovery();
      }, (e: Error) => this.settings.onDiscovery(e));
      return;
    }
    this.pendingInputs = await planReadTasks(this.physical.source, this.physical.overrideNumBlocks, this.settings, this.metrics);
    this.metrics.tasksEstimated = this.pendingInputs.length;
    this.planned = true;
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
