// Key columns of a block: their values, a hash every worker computes alike, and the order of key tuples.
import { DataType, type Vector } from "apache-arrow";
import { type Block, BlockError, columnValues, hashText, mix32 as mix, valueAt } from "../../block";
import { compareScalars, requireColumn } from "../all-to-all";

/** The key columns, after checking they exist (and, when they must be ordered, can be). */
export function keyVectors(block: Block, keys: string[], operator: string, ordered: boolean): Vector[] {
  return keys.map((key) => {
    const vector = requireColumn(block, key, operator);
    if (ordered) checkKeyType(vector, key, operator);
    return vector;
  });
}

/**
 * A row's key tuple, read from the key columns (checked as keyVectors checks them) one row at a time:
 * a binary search or a sample reads a few rows, not whole columns.
 */
export function keyTuples(block: Block, keys: string[], operator: string, ordered: boolean): (row: number) => unknown[] {
  const vectors = keyVectors(block, keys, operator, ordered);
  return (row) => vectors.map((vector) => valueAt(vector, row));
}

function checkKeyType(vector: Vector, key: string, operator: string): void {
  const type = vector.type;
  if (DataType.isStruct(type) || DataType.isList(type) || DataType.isFixedSizeList(type) || DataType.isMap(type) || DataType.isUnion(type)) {
    throw new BlockError(`${operator}: column '${key}' has type ${type}, which cannot be compared or hashed as a key; use a column of numbers, strings, booleans or dates`);
  }
}

/** Order of two key tuples: per key ascending or descending, NaN and then nulls last either way (as sortBlocks). */
export function compareKeys(a: unknown[], b: unknown[], descending: boolean[]): number {
  for (let k = 0; k < a.length; k++) {
    const x = a[k], y = b[k];
    const rx = specialRank(x), ry = specialRank(y);
    if (rx !== ry) return rx - ry;
    if (rx !== 0) continue;
    const c = compareScalars(x, y);
    if (c !== 0) return descending[k] ? -c : c;
  }
  return 0;
}

/** 0 for an ordinary value, 1 for NaN, 2 for null. */
function specialRank(v: unknown): number {
  return v === null || v === undefined ? 2 : v !== v ? 1 : 0;
}

const float = new Float64Array(1);
const floatWords = new Uint32Array(float.buffer);


function hashInteger(n: number): number {
  const low = n % 0x100000000;
  return mix((low >>> 0) ^ mix(Math.floor(n / 0x100000000) | 0));
}

function hashString(s: string): number {
  return mix(hashText(s));
}

/** The same for equal keys in any worker; an integer hashes alike as a number or an int64 (a join of int32 with int64 keys). */
export function hashValue(v: unknown): number {
  switch (typeof v) {
    case "number":
      if (Number.isInteger(v)) return hashInteger(v);
      float[0] = v;
      return mix(floatWords[0] ^ mix(floatWords[1]));
    case "bigint": return hashString(v.toString());
    case "string": return hashString(v);
    case "boolean": return v ? 0x4cf5ad43 : 0x2b7e1516;
    case "object":
      if (v === null) return 0x9e3779b9;
      if (v instanceof Date) return hashInteger(v.getTime());
      if (v instanceof Uint8Array) return hashString(String.fromCharCode(...v));
      return hashString(JSON.stringify(v, (_key, x: unknown) => (typeof x === "bigint" ? `${x}n` : x)));
    default: return 0x9e3779b9;
  }
}

/** Each row's bucket in [0, buckets) by the hash of its key tuple. */
export function hashBuckets(vectors: Vector[], numRows: number, buckets: number): Uint32Array {
  const out = new Uint32Array(numRows);
  if (buckets === 1) return out;
  // A power of two by a mask (the same buckets: the hashes are unsigned), not a division per row.
  const mask = (buckets & (buckets - 1)) === 0 ? buckets - 1 : -1;
  const only = vectors.length === 1 ? typedHashes(vectors[0]) : undefined;
  if (only) {
    // One typed key column: the loops below in one.
    if (mask >= 0) for (let row = 0; row < numRows; row++) out[row] = mix((Math.imul(17, 31) + only[row]) >>> 0) & mask;
    else for (let row = 0; row < numRows; row++) out[row] = mix((Math.imul(17, 31) + only[row]) >>> 0) % buckets;
    return out;
  }
  out.fill(17);
  for (const vector of vectors) {
    const hashes = typedHashes(vector);
    if (hashes) {
      for (let row = 0; row < numRows; row++) out[row] = (Math.imul(out[row], 31) + hashes[row]) >>> 0;
      continue;
    }
    const values = columnValues(vector);
    for (let row = 0; row < numRows; row++) out[row] = (Math.imul(out[row], 31) + hashValue(values[row])) >>> 0;
  }
  if (mask >= 0) for (let row = 0; row < numRows; row++) out[row] = mix(out[row]) & mask;
  else for (let row = 0; row < numRows; row++) out[row] = mix(out[row]) % buckets;
  return out;
}

/**
 * hashValue of each value of a column of numbers or strings, read from its typed arrays (undefined for
 * other types): an int64 as its two words while it is a safe integer, a string from its bytes while they are ASCII.
 */
function typedHashes(vector: Vector): Uint32Array | undefined {
  const type = vector.type;
  const int64 = DataType.isInt(type) && type.bitWidth === 64 && type.isSigned;
  const number = (DataType.isInt(type) && type.bitWidth < 64) || (DataType.isFloat(type) && type.precision !== 0);
  if (!int64 && !number && !DataType.isUtf8(type)) return undefined;
  const out = new Uint32Array(vector.length);
  let start = 0;
  for (const data of vector.data) {
    const n = data.length;
    const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined, first = data.offset;
    const valid = (row: number) => bitmap === undefined || (bitmap[(first + row) >> 3] & (1 << ((first + row) & 7))) !== 0;
    if (bitmap) for (let row = 0; row < n; row++) out[start + row] = valid(row) ? 0 : hashValue(null);
    if (int64) {
      const values = data.values as BigInt64Array;
      const words = new Int32Array(values.buffer, values.byteOffset, 2 * n);
      for (let row = 0; row < n; row++) {
        if (bitmap && !valid(row)) continue;
        const lo = words[2 * row], hi = words[2 * row + 1];
        const safe = (hi > -0x200000 && hi < 0x200000) || (hi === -0x200000 && lo !== 0);
        out[start + row] = safe ? mix(lo ^ mix(hi)) : hashValue(values[row]);
      }
    } else if (number) {
      const values = data.values as Float64Array;
      for (let row = 0; row < n; row++) if (valid(row)) out[start + row] = hashValue(values[row]);
    } else {
      const offsets = data.valueOffsets as Int32Array, bytes = data.values as Uint8Array;
      for (let row = 0; row < n; row++) {
        if (!valid(row)) continue;
        let h = 0x811c9dc5, ascii = true;
        for (let i = offsets[row]; i < offsets[row + 1]; i++) {
          ascii &&= bytes[i] < 0x80;
          h = Math.imul(h ^ bytes[i], 0x01000193);
        }
        out[start + row] = ascii ? mix(h >>> 0) : hashValue(utf8.decode(bytes.subarray(offsets[row], offsets[row + 1])));
      }
    }
    start += n;
  }
  return out;
}

const utf8 = new TextDecoder();
