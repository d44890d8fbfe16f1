// Vector columns as Lance searches them: rows give embeddings as JS arrays, which Arrow holds as
// List<Float64>; Lance's vector search wants FixedSizeList<Float32>. (lancedb's own makeArrowTable does
// the same for a column named "vector".)
import { DataType, Field, FixedSizeList, Float32, Table, makeData, makeVector, type Data, type Vector } from "apache-arrow";
import type { Block } from "../../block";
import { IoError } from "../errors";

/** The block with each named List<number> column as FixedSizeList<Float32>; a null vector stays null. */
export function withVectorColumns(block: Block, columns: string[], operator: string): Block {
  let changed = false;
  const vectors: Record<string, Vector> = {};
  for (const field of block.schema.fields) {
    const column = block.getChild(field.name)!;
    if (columns.includes(field.name) && DataType.isList(field.type)) {
      vectors[field.name] = fixedSizeVectors(column, field.name, operator);
      changed = true;
    } else {
      vectors[field.name] = column;
    }
  }
  return changed ? new Table(vectors) : block;
}

function fixedSizeVectors(column: Vector, name: string, operator: string): Vector {
  let dimension: number | undefined;
  for (let i = 0; i < column.length; i++) {
    const value = column.get(i) as Vector | null;
    if (value === null) continue;
    if (dimension === undefined) dimension = value.length;
    else if (value.length !== dimension) {
      throw new IoError(`${operator}: column '${name}' row ${i}: a vector of ${value.length} values where earlier rows have ${dimension}; every vector of a column needs the same length`);
    }
  }
  const size = dimension ?? 0;
  const values = new Float32Array(column.length * size);
  const valid = new Uint8Array(Math.ceil(column.length / 8));
  let nulls = 0;
  for (let i = 0; i < column.length; i++) {
    const value = column.get(i) as Vector | null;
    if (value === null) { nulls++; continue; }
    valid[i >> 3] |= 1 << (i & 7);
    for (let j = 0; j < size; j++) {
      const x = value.get(j) as number | null;
      if (x === null) throw new IoError(`${operator}: column '${name}' row ${i}: a vector holds a null at position ${j}`);
      values[i * size + j] = Number(x);
    }
  }
  const child: Data<Float32> = makeData({ type: new Float32(), length: values.length, data: values });
  const type = new FixedSizeList(size, new Field("item", new Float32(), true));
  return makeVector(makeData({ type, length: column.length, nullCount: nulls, nullBitmap: nulls > 0 ? valid : undefined, child }));
}
