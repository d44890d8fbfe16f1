// The physical operator's shape: input and output queues, metrics, and the output schema its blocks share.
import type { Schema } from "apache-arrow";
import { type Block, SchemaMismatch, blockBytes, conformBlock, emptyBlock, refineSchema, sameSchema } from "../../block";
import { type BlockOrigin, type TaskInput, rowName } from "../../cluster";
import type { MapOutput } from "../../plan";
import type { Sources } from "../lineage";
import type { OperatorMetrics } from "../metrics";

export interface QueuedBlock {
  block: Block;
  bytes: number;
  origin: BlockOrigin;
  /** The IPC bytes the block arrived as, reused when it is sent to another worker. */
  ipc?: Uint8Array;
  /** In a checkpointed job: the read tasks whose rows it holds. */
  sources?: Sources;
  /** From a stage feeding an exchange: a map task's output (chunks in memory or spilled) instead of a block. */
  mapOutput?: MapOutput;
}

export function queued(block: Block, origin: BlockOrigin = { rowOffset: 0 }): QueuedBlock {
  return { block, bytes: blockBytes(block), origin };
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
