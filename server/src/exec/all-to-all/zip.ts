// Zip: row-aligned column concatenation of two datasets.
import { Field, RecordBatch, Schema, Struct, Table, makeData } from "apache-arrow";
import { type Block, BlockError, assertSameSchema } from "../../block";

/** Row-aligned column concatenation; output blocks follow the left side's block boundaries. */
export function zipBlocks(left: Block[], right: Block[]): Block[] {
  const leftRows = totalRows(left), rightRows = totalRows(right);
  if (leftRows !== rightRows) {
    throw new BlockError(`zip needs datasets with the same number of rows: left has ${leftRows}, right has ${rightRows}`);
  }
  const leftSchema = commonSchema(left, "zip (left side)");
  const rightSchema = commonSchema(right, "zip (right side)");
  const names = new Set(leftSchema.fields.map((f) => f.name));
  const renamed = rightSchema.fields.map((field) => {
    let name = field.name;
    for (let suffix = 1; names.has(name); suffix++) name = `${field.name}_${suffix}`;
    names.add(name);
    return new Field(name, field.type, field.nullable, field.metadata);
  });
  const schema = new Schema([...leftSchema.fields, ...renamed]);
  const structType = new Struct(schema.fields);

  const rightBatches = right.flatMap((b) => b.batches).filter((b) => b.numRows > 0);
  let rightIndex = 0, rightOffset = 0;
  return left.map((block) => {
    const batches: RecordBatch[] = [];
    for (const leftBatch of block.batches) {
      for (let leftOffset = 0; leftOffset < leftBatch.numRows;) {
        const rightBatch = rightBatches[rightIndex];
        const length = Math.min(leftBatch.numRows - leftOffset, rightBatch.numRows - rightOffset);
        const children = [
          ...leftBatch.data.children.map((d) => d.slice(leftOffset, length)),
          ...rightBatch.data.children.map((d) => d.slice(rightOffset, length)),
        ];
        batches.push(new RecordBatch(schema, makeData({ type: structType, length, nullCount: 0, children })));
        leftOffset += length;
        rightOffset += length;
        if (rightOffset === rightBatch.numRows) { rightIndex++; rightOffset = 0; }
      }
    }
    return new Table(schema, batches);
  });
}

function totalRows(blocks: Block[]): number {
  return blocks.reduce((sum, b) => sum + b.numRows, 0);
}

/** The schema all non-empty blocks share (checked). */
function commonSchema(blocks: Block[], where: string): Schema {
  const withRows = blocks.filter((b) => b.numRows > 0);
  const schema = (withRows[0] ?? blocks[0])?.schema ?? new Schema([]);
  for (const block of withRows) assertSameSchema(schema, block.schema, where);
  return schema;
}
