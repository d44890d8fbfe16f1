// A datasink's rows-per-write bounds (minRowsPerFile, maxRowsPerFile of the file sinks) applied to the
// blocks a write task writes: small blocks joined until they reach the minimum, blocks cut at the maximum.
import { concatBlocks, sliceBlock, type Block } from "../block";
import type { OriginBlock } from "../cluster";

/** Blocks of at least `min` rows (the last may hold fewer), joined in order. */
export async function* atLeastRows(input: AsyncIterable<OriginBlock>, min: number): AsyncIterable<OriginBlock> {
  let pending: OriginBlock[] = [];
  let rows = 0;
  const flush = (): OriginBlock => {
    const out = { block: concatBlocks(pending.map((p) => p.block)), origin: pending.length === 1 ? pending[0].origin : { ...pending[0].origin, exact: false } };
    pending = [];
    rows = 0;
    return out;
  };
  for await (const item of input) {
    if (item.block.numRows === 0) continue;
    pending.push(item);
    rows += item.block.numRows;
    if (rows >= min) yield flush();
  }
  if (pending.length > 0) yield flush();
}

/** The block in pieces of at most `max` rows. */
export function atMostRows(block: Block, max: number): Block[] {
  if (block.numRows <= max) return [block];
  const pieces: Block[] = [];
  for (let start = 0; start < block.numRows; start += max) pieces.push(sliceBlock(block, start, Math.min(block.numRows, start + max)));
  return pieces;
}
