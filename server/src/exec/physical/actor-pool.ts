import { type Block, sliceBlock } from "../../block";
import type { TaskInput } from "../../cluster";
import type { PhysicalOp } from "../../plan";
import type { PhysicalOperator, QueuedBlock } from "./base";
import { TaskOperator, blocksInput } from "./task";

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

/** Stages whose tasks take a CPU slot of the shared pool (an actor pool's calls run on its own actors). */
export const usesTaskSlot = (op: PhysicalOperator): op is TaskOperator => op instanceof TaskOperator && !(op instanceof ActorPoolOperator);
