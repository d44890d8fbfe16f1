// Batches for a consumer (Dataset.iterBatches, a streaming split's iterators): sized, the last partial
// one dropped on request, shuffled locally through a buffer with a seed, and prepared ahead of the consumer.
import type { Table } from "apache-arrow";
import {
  type BatchFormat, type Block, type Columns, type Row, anySeed, blockToColumns, blockToRows, concatBlocks, permutation, seededRandom, sliceBlock, takeRows,
} from "../block";

export type Batch = Columns | Row[] | Table;

export interface IterBatchesOptions {
  /** Rows per batch; by default blocks as they come. */
  batchSize?: number;
  batchFormat?: BatchFormat;
  /** Batches prepared ahead while the consumer works on the current one (default 0). */
  prefetchBatches?: number;
  /** Leaves out a last batch smaller than batchSize. */
  dropLast?: boolean;
  /**
   * Shuffles rows through a buffer of at least this many rows (Ray Data's local shuffle): batches are
   * drawn at random from it, not across the whole dataset. Needs batchSize.
   */
  localShuffleBufferSize?: number;
  /** Seeds the local shuffle: the same seed and input give the same batches. */
  localShuffleSeed?: number;
}

function checkOptions(options: IterBatchesOptions): void {
  const positive = (name: keyof IterBatchesOptions, zero = false) => {
    const value = options[name];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= (zero ? 0 : 1))) {
      throw new RangeError(`iterBatches: ${name} must be a ${zero ? "non-negative" : "positive"} integer, got ${String(value)}`);
    }
  };
  positive("batchSize");
  positive("prefetchBatches", true);
  positive("localShuffleBufferSize");
  if (options.localShuffleBufferSize !== undefined && options.batchSize === undefined) {
    throw new RangeError("iterBatches: localShuffleBufferSize needs a batchSize (rows are drawn from the buffer a batch at a time)");
  }
  if (options.dropLast && options.batchSize === undefined) throw new RangeError("iterBatches: dropLast needs a batchSize");
}

export function formatBatch(block: Block, format: BatchFormat = "columns"): Batch {
  return format === "arrow" ? block : format === "rows" ? blockToRows(block) : blockToColumns(block);
}

/** The batches of a stream of blocks, as the options ask. */
export async function* batchesFrom(blocks: AsyncIterable<Block>, options: IterBatchesOptions = {}): AsyncGenerator<Batch> {
  checkOptions(options);
  const { batchSize, prefetchBatches = 0 } = options;
  let sized: AsyncIterable<Block> = batchSize === undefined ? nonEmpty(blocks)
    : options.localShuffleBufferSize !== undefined ? shuffled(blocks, batchSize, options.localShuffleBufferSize, options.localShuffleSeed ?? anySeed(), options.dropLast)
    : resized(blocks, batchSize, options.dropLast);
  if (prefetchBatches > 0) sized = prefetched(sized, prefetchBatches);
  for await (const block of sized) yield formatBatch(block, options.batchFormat);
}

async function* nonEmpty(blocks: AsyncIterable<Block>): AsyncGenerator<Block> {
  for await (const block of blocks) if (block.numRows > 0) yield block;
}

/** Blocks cut and joined into batches of exactly `size` rows, the last one smaller unless dropped. */
async function* resized(blocks: AsyncIterable<Block>, size: number, dropLast = false): AsyncGenerator<Block> {
  let pending: Block[] = [];
  let pendingRows = 0;
  for await (const block of blocks) {
    pending.push(block);
    pendingRows += block.numRows;
    if (pendingRows < size) continue;
    const all = concatBlocks(pending);
    let start = 0;
    for (; all.numRows - start >= size; start += size) yield sliceBlock(all, start, start + size);
    pending = start < all.numRows ? [sliceBlock(all, start, all.numRows)] : [];
    pendingRows = all.numRows - start;
  }
  if (pendingRows > 0 && !dropLast) yield concatBlocks(pending);
}

/**
 * Ray Data's local shuffle: rows gather in a buffer; once it holds bufferSize rows beyond a batch, it is
 * shuffled and batches are taken from it until bufferSize rows remain; at the end it is emptied.
 */
async function* shuffled(blocks: AsyncIterable<Block>, size: number, bufferSize: number, seed: number, dropLast = false): AsyncGenerator<Block> {
  const random = seededRandom(seed);
  let buffer: Block[] = [];
  let rows = 0;
  const shuffle = () => {
    const all = concatBlocks(buffer);
    return takeRows(all, permutation(all.numRows, random));
  };
  for await (const block of blocks) {
    buffer.push(block);
    rows += block.numRows;
    if (rows < bufferSize + size) continue;
    const mixed = shuffle();
    let start = 0;
    for (; mixed.numRows - start >= bufferSize + size; start += size) yield sliceBlock(mixed, start, start + size);
    buffer = [sliceBlock(mixed, start, mixed.numRows)];
    rows = mixed.numRows - start;
  }
  if (rows === 0) return;
  yield* resized((async function* () { yield shuffle(); })(), size, dropLast);
}

/** The items of a sequence, up to `ahead` of them requested before the consumer asks. */
async function* prefetched<T>(source: AsyncIterable<T>, ahead: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const requested: Promise<IteratorResult<T>>[] = [];
  try {
    for (;;) {
      while (requested.length <= ahead) {
        const request = iterator.next();
        request.catch(() => undefined); // rethrown where it is awaited, in order
        requested.push(request);
      }
      const next = await requested.shift()!;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Requests still in flight settle first (an async generator queues them); their errors are the consumer's no more.
    await Promise.allSettled(requested);
    await iterator.return?.();
  }
}

/** An iterator over one stream of blocks: a streaming split's share (Ray Data's DataIterator). */
export class DataIterator {
  constructor(private readonly blocks: () => AsyncIterable<Block>) {}

  iterBatches(options: IterBatchesOptions = {}): AsyncGenerator<Batch> {
    return batchesFrom(this.blocks(), options);
  }

  async *iterRows(): AsyncGenerator<Row> {
    for await (const block of this.blocks()) yield* blockToRows(block);
  }
}
