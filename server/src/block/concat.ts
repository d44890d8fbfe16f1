import { RecordBatch, Table } from "apache-arrow";
import { type Block, emptyBlock } from "./arrow";
import { conformBlock, refineSchema } from "./conform";

/** One block of many, their schemas unified (a column missing from a block is null there). */
export function concatBlocks(blocks: Block[]): Block {
  const nonEmpty = blocks.filter((b) => b.numRows > 0);
  if (nonEmpty.length === 0) return blocks[0] ?? emptyBlock();
  if (nonEmpty.length === 1) return nonEmpty[0];
  // Blocks of one Schema object (a file's pieces, one UDF's batches): nothing to unify, per block or per batch.
  const first = nonEmpty[0].schema;
  if (nonEmpty.every((b) => b.schema === first)) return new Table(first, nonEmpty.flatMap((b) => b.batches));
  const schema = nonEmpty.reduce((unified, b) => refineSchema(unified, b.schema), nonEmpty[0].schema);
  return new Table(schema, nonEmpty.flatMap((b) => conformBlock(b, schema).batches.map((batch) => new RecordBatch(schema, batch.data))));
}
