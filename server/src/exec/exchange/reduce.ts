// The reduce side of an exchange, in a worker: the pieces of one partition read back, cut to the
// partition's key range, and turned into output blocks by the partition's reducer.
import type { Schema } from "apache-arrow";
import { type Block, schemaFromIPC, sliceBlock } from "../../block";
import type { KeyRange, ReducePiece } from "../../plan";
import { compareKeys, keyColumns, keyTuple } from "./keys";
import { reducers } from "./reducers";
import { PieceReader } from "./transfer";
import type { PartitionSide, ReduceContext, ReduceFn } from "./types";

class Side implements PartitionSide {
  readonly rows: number;
  readonly bytes: number;
  readonly schema?: Schema;

  constructor(
    private readonly pieces: ReducePiece[], schema: Uint8Array | undefined, private readonly range: KeyRange | undefined, private readonly operator: string,
    private readonly reader: PieceReader,
  ) {
    this.schema = schema && schemaFromIPC(schema);
    this.rows = pieces.reduce((sum, p) => sum + (p.end ?? p.chunk.rows) - (p.start ?? 0), 0);
    this.bytes = pieces.reduce((sum, p) => sum + p.chunk.bytes, 0);
  }

  async *blocks(): AsyncIterable<Block> {
    for (const piece of this.pieces) {
      const read = await this.reader.read(piece);
      const block = this.range ? withinRange(read, piece.chunk.first!, this.range, this.operator) : read;
      if (block.numRows > 0) yield block;
    }
  }

  async readAll(): Promise<Block[]> {
    const out: Block[] = [];
    for await (const block of this.blocks()) out.push(block);
    return out;
  }
}

/** The rows of a sorted chunk whose positions (keys, then task, run and row in the run: MapWriter.addRun) are in (lower, upper]. */
function withinRange(block: Block, first: unknown[], range: KeyRange, operator: string): Block {
  const columns = keyColumns(block, range.keys, operator, true);
  const [task, run, startRow] = first.slice(range.keys.length) as number[];
  const descending = [...range.descending, false, false, false];
  const firstAbove = (bound: unknown[]) => {
    let lo = 0, hi = block.numRows;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys([...keyTuple(columns, mid), task, run, startRow + mid], bound, descending) > 0) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const start = range.lower ? firstAbove(range.lower) : 0;
  const end = range.upper ? firstAbove(range.upper) : block.numRows;
  return start === 0 && end === block.numRows ? block : sliceBlock(block, start, Math.max(start, end));
}

/** The output blocks of the reduce task `context.spec` describes. */
export async function* reduceBlocks(context: ReduceContext): AsyncIterable<Block> {
  const { spec } = context;
  const reader = new PieceReader(spec, context.moved);
  const sides = spec.sides.map((pieces, i) => new Side(pieces, spec.schemas[i], spec.range, spec.operator, reader));
  const reduce = reducers[spec.reducer.kind] as ReduceFn;
  try {
    yield* reduce(sides, spec.reducer, context);
  } finally {
    reader.close();
  }
}
