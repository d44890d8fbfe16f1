// The rows of a chunk a reduce task reads (a ChunkCut): cut in the reduce task when the chunk is in
// its process, else by the chunk server of the node holding it (cluster/chunks.ts), so that only the
// partition's own rows move between nodes.
import { type Block, blockFromIPC, blockToIPC, sliceBlock } from "../../block";
import type { ChunkCut, KeyRange, ReducePiece } from "../../plan";
import { compareKeys, keyTuples } from "./keys";

/** What a reduce task reads of a piece: nothing to cut (undefined) when it reads the whole chunk. */
export function pieceCut(piece: ReducePiece, range: KeyRange | undefined, operator: string): ChunkCut | undefined {
  if (range) return { operator, range, first: piece.chunk.first };
  if (piece.start === undefined && piece.end === undefined) return undefined;
  return { operator, start: piece.start, end: piece.end };
}

export function cutBlock(block: Block, cut: ChunkCut): Block {
  if (cut.range) return withinRange(block, cut.first!, cut.range, cut.operator);
  const start = cut.start ?? 0, end = cut.end ?? block.numRows;
  return start === 0 && end === block.numRows ? block : sliceBlock(block, start, end);
}

/** A chunk server's answer to a cut: the Arrow IPC of the cut rows (the chunk's own bytes when that is all of them). */
export function cutChunk(ipc: Uint8Array, cut: ChunkCut): Uint8Array {
  const block = blockFromIPC(ipc);
  const rows = cutBlock(block, cut);
  return rows === block ? ipc : blockToIPC(rows);
}

/** The rows of a sorted chunk whose positions (keys, then task, run and row in the run: MapWriter.addRun) are in (lower, upper]. */
function withinRange(block: Block, first: unknown[], range: KeyRange, operator: string): Block {
  const keysAt = keyTuples(block, range.keys, operator, true);
  const [task, run, startRow] = first.slice(range.keys.length) as number[];
  const descending = [...range.descending, false, false, false];
  const firstAbove = (bound: unknown[]) => {
    let lo = 0, hi = block.numRows;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys([...keysAt(mid), task, run, startRow + mid], bound, descending) > 0) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const start = range.lower ? firstAbove(range.lower) : 0;
  const end = range.upper ? firstAbove(range.upper) : block.numRows;
  return start === 0 && end === block.numRows ? block : sliceBlock(block, start, Math.max(start, end));
}
