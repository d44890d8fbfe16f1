// Join keys as dense ids, numbered by the KeyTable that groupBy uses: the build side's distinct keys
// get 0, 1, 2…; a probe row gets the id of its key when the build side has it, else -1; a row with a
// null in any key column is -1 on either side (a null key matches nothing). Each key column is first
// cast to its pair's output type, so that both sides hold equal keys alike (an int32 key joins an
// int64 one as int64, a float one as float64; strings as Utf8); types the table does not take
// (booleans, dates, timestamps, decimals) are compared as float64 numbers.
import { DataType, Float64, Table, type Vector, vectorFromArray } from "apache-arrow";
import { type Block, columnValues, describeType, utf8Vector, validity } from "../../block";
import type { KeyPair } from "../../plan";
import { KeyTable } from "./key-table";

export class KeyIds {
  private readonly table: KeyTable;
  /** The build side's rows' ids. */
  readonly ids: Int32Array;
  /** The build side's distinct keys (ids below it). */
  readonly count: number;

  /** Numbers the keys of `block` (the build side), its columns `keys[k][side]`. */
  constructor(block: Block, private readonly keys: KeyPair[], side: "left" | "right") {
    const vectors = this.vectors(block, side);
    this.table = new KeyTable(vectors.map((v) => v.type));
    this.ids = this.idsOf(vectors, block.numRows);
    this.count = this.table.size;
  }

  /** The ids of another block's keys (the probe side): -1 where the build side has no such key. */
  lookup(block: Block, side: "left" | "right"): Int32Array {
    const vectors = this.vectors(block, side);
    return withoutNulls(this.table.find(vectors, block.numRows), vectors);
  }

  private vectors(block: Block, side: "left" | "right"): Vector[] {
    return aligned(this.keys.map((key) => tableKey(castKey(block.getChild(key[side])!, key, true))));
  }

  private idsOf(vectors: Vector[], numRows: number): Int32Array {
    return withoutNulls(new Int32Array(this.table.ids(vectors, numRows).buffer), vectors);
  }
}

/**
 * The key columns cut into chunks at the same rows, as the table reads them (a cast column is one chunk,
 * the others keep their block's batches): a table of them slices each to the same boundaries, copying nothing.
 */
function aligned(vectors: Vector[]): Vector[] {
  const cuts = (vector: Vector) => vector.data.map((d) => d.length).join();
  if (vectors.every((v) => cuts(v) === cuts(vectors[0]))) return vectors;
  const table = new Table(Object.fromEntries(vectors.map((v, k) => [k, v])));
  return vectors.map((_, k) => table.getChildAt(k)!);
}

/** ids with -1 for the rows with a null key (the table holds a null as a key of its own; a join matches it with nothing). */
function withoutNulls(ids: Int32Array, vectors: Vector[]): Int32Array {
  for (const vector of vectors) {
    if (vector.nullCount === 0) continue;
    const valid = validity(vector);
    for (let row = 0; row < ids.length; row++) if (valid[row] === 0) ids[row] = -1;
  }
  return ids;
}

/**
 * A key column as its pair's output type (a key of another numeric type, a dictionary of strings).
 * `matching`: a uint64 beyond int64's range (its pair is a narrower int, so nothing equals it) becomes
 * null, which matches nothing, instead of wrapping to the negative int64 of its bits.
 */
export function castKey(vector: Vector, key: KeyPair, matching = false): Vector {
  if (describeType(vector.type) === describeType(key.outputType) && !DataType.isDictionary(vector.type)) return vector;
  const values = columnValues(vector);
  if (key.kind === "string") return utf8Vector(values as (string | null)[]);
  const int64 = DataType.isInt(key.outputType) && key.outputType.bitWidth === 64;
  const asInt64 = (v: unknown) => {
    const n = BigInt(v as number);
    return matching && n > INT64_MAX ? null : n;
  };
  return vectorFromArray(values.map((v) => (v === null ? null : int64 ? asInt64(v) : Number(v))), key.outputType);
}

const INT64_MAX = 2n ** 63n - 1n;

/** A key column the table takes: as it is, or its values as float64 numbers (1 = 1.0, a time as its milliseconds). */
function tableKey(vector: Vector): Vector {
  if (KeyTable.supports([vector.type])) return vector;
  return vectorFromArray(columnValues(vector).map((v) => (v === null ? null : Number(v as number))), new Float64());
}
