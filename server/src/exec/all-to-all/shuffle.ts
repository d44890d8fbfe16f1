// Repartition and random shuffle: the driver concatenates the whole input and cuts it anew.
import { type Block, BlockError, concatBlocks, takeRows } from "../../block";
import { identityIndices, splitEvenly } from "./rows";

/** Splits the rows into n blocks of (nearly) equal row counts, keeping row order. */
export function repartitionBlocks(blocks: Block[], n: number): Block[] {
  if (!Number.isInteger(n) || n < 1) throw new BlockError(`repartition needs a positive whole number of blocks, got ${n}`);
  return splitEvenly(concatBlocks(blocks), n);
}

/** A random permutation of all rows, the same for the same seed, in as many blocks as the input. */
export function shuffleBlocks(blocks: Block[], seed?: number): Block[] {
  const all = concatBlocks(blocks);
  const random = mulberry32(seed ?? Math.floor(Math.random() * 2 ** 32));
  const order = identityIndices(all.numRows);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return splitEvenly(takeRows(all, order), Math.max(1, blocks.length));
}

/** Mulberry32: a small seeded generator. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
