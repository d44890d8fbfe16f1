// Built-in datasources that need no files: integers 0..n-1 (rd.range) and blocks held in memory
// (rd.fromItems, rd.fromArrow, Dataset.materialize).
import { makeVector, Table } from "apache-arrow";
import { blockFromIPC, blockToIPC, type Block } from "../block";
import type { Datasource, ReadBlock, ReadContext, ReadTask } from "./datasource";

export interface RangeInput { start: number; end: number; blockRows: number }

/** The largest block a range task makes. */
const RANGE_BLOCK_ROWS = 262_144;

/** Integers 0..n-1 in one column `id` (Int64). */
export class RangeDatasource implements Datasource<RangeInput> {
  readonly name = "Range";
  constructor(private readonly n: number) {}

  *getReadTasks(context: ReadContext): Iterable<ReadTask<RangeInput>> {
    const { n } = this;
    // About a thousand rows a task at the least, a million at the most, and enough tasks for every CPU slot between.
    const tasks = context.overrideNumBlocks ?? Math.max(1, Math.min(Math.ceil(n / 1000), Math.max(context.parallelism, Math.ceil(n / 1_000_000))));
    const perTask = Math.ceil(n / tasks) || 1;
    for (let start = 0; start < n; start += perTask) {
      const end = Math.min(n, start + perTask);
      yield { input: { start, end, blockRows: Math.min(perTask, RANGE_BLOCK_ROWS) }, metadata: { numRows: end - start } };
    }
  }

  read(input: RangeInput): Iterable<ReadBlock> {
    return rangeBlocks(input);
  }
}

export function* rangeBlocks({ start, end, blockRows }: RangeInput): Iterable<ReadBlock> {
  for (let first = start; first < end; first += blockRows) {
    const ids = new BigInt64Array(Math.min(end, first + blockRows) - first);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt(first + i);
    yield { block: new Table({ id: makeVector(ids) }), rowOffset: first };
  }
}

/** One block, as IPC, and the position of its first row among all the source's rows. */
export interface BlocksInput { ipc: Uint8Array; rowOffset: number }

/** In-memory blocks, one read task each. */
export class BlocksDatasource implements Datasource<BlocksInput> {
  readonly name = "Blocks";
  constructor(private readonly blocks: Block[]) {}

  *getReadTasks(): Iterable<ReadTask<BlocksInput>> {
    let rowOffset = 0;
    for (const block of this.blocks) {
      yield { input: { ipc: blockToIPC(block), rowOffset }, metadata: { numRows: block.numRows } };
      rowOffset += block.numRows;
    }
  }

  read(input: BlocksInput): Iterable<ReadBlock> {
    return blocksFromIPC(input);
  }
}

export function* blocksFromIPC({ ipc, rowOffset }: BlocksInput): Iterable<ReadBlock> {
  yield { block: blockFromIPC(ipc), rowOffset };
}
