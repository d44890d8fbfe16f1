// The reduce side of an exchange, in a worker: the pieces of one partition read back (cut to the
// partition's rows: ./cut.ts) and turned into output blocks by the partition's reducer.
import type { Schema } from "apache-arrow";
import { type Block, schemaFromIPC } from "../../block";
import type { ReducePiece } from "../../plan";
import { reducers } from "./reducers";
import { PieceReader } from "./transfer";
import type { PartitionSide, ReduceContext, ReduceFn } from "./types";

class Side implements PartitionSide {
  readonly rows: number;
  readonly bytes: number;
  readonly schema?: Schema;

  constructor(private readonly pieces: ReducePiece[], schema: Uint8Array | undefined, private readonly reader: PieceReader) {
    this.schema = schema && schemaFromIPC(schema);
    this.rows = pieces.reduce((sum, p) => sum + (p.end ?? p.chunk.rows) - (p.start ?? 0), 0);
    this.bytes = pieces.reduce((sum, p) => sum + p.chunk.bytes, 0);
  }

  async *blocks(): AsyncIterable<Block> {
    for await (const block of this.reader.read(this.pieces)) if (block.numRows > 0) yield block;
  }

  async readAll(): Promise<Block[]> {
    const out: Block[] = [];
    for await (const block of this.blocks()) out.push(block);
    return out;
  }
}

/** The output blocks of the reduce task `context.spec` describes. */
export async function* reduceBlocks(context: ReduceContext): AsyncIterable<Block> {
  const { spec } = context;
  const reader = new PieceReader(spec, context.moved);
  const sides = spec.sides.map((pieces, i) => new Side(pieces, spec.schemas[i], reader));
  const reduce = reducers[spec.reducer.kind] as ReduceFn;
  try {
    yield* reduce(sides, spec.reducer, context);
  } finally {
    reader.close();
  }
}
