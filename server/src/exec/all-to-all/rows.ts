// Row-index helpers the driver-side all-to-all operators share: rows move by typed index arrays.
import type { Vector } from "apache-arrow";
import { type Block, BlockError, sliceBlock } from "../../block";

/** n consecutive slices; the first `numRows % n` get one row more than the others. */
export function splitEvenly(block: Block, n: number): Block[] {
  if (block.numRows === 0) return Array.from({ length: n }, () => block); // a table without batches cannot be sliced
  const base = Math.floor(block.numRows / n);
  const extra = block.numRows % n;
  const out: Block[] = [];
  for (let i = 0, start = 0; i < n; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    out.push(sliceBlock(block, start, end));
    start = end;
  }
  return out;
}

export function identityIndices(n: number): Uint32Array {
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  return indices;
}

/**
 * countingSort of the rows 0…n-1 (n = bucketOf.length), without an array of them to read; also where
 * each row went (`positions[row]`, the inverse of `sorted`).
 */
export function groupRows(bucketOf: Uint32Array, numBuckets: number): { sorted: Uint32Array; starts: Uint32Array; positions: Uint32Array } {
  const n = bucketOf.length;
  const starts = new Uint32Array(numBuckets + 1);
  for (let row = 0; row < n; row++) starts[bucketOf[row] + 1]++;
  for (let b = 0; b < numBuckets; b++) starts[b + 1] += starts[b];
  const next = starts.slice(0, numBuckets);
  const sorted = new Uint32Array(n), positions = new Uint32Array(n);
  for (let row = 0; row < n; row++) {
    const at = next[bucketOf[row]]++;
    sorted[at] = row;
    positions[row] = at;
  }
  return { sorted, starts, positions };
}

/** Stable counting sort of `rows` by `bucketOf[row]` (< numBuckets); `starts[b]` is where bucket b begins. */
export function countingSort(rows: Uint32Array, bucketOf: Uint32Array, numBuckets: number): { sorted: Uint32Array; starts: Uint32Array } {
  const starts = new Uint32Array(numBuckets + 1);
  for (let i = 0; i < rows.length; i++) starts[bucketOf[rows[i]] + 1]++;
  for (let b = 0; b < numBuckets; b++) starts[b + 1] += starts[b];
  const next = starts.slice(0, numBuckets);
  const sorted = new Uint32Array(rows.length);
  for (let i = 0; i < rows.length; i++) sorted[next[bucketOf[rows[i]]]++] = rows[i];
  return { sorted, starts };
}

/** Order of two non-null values of one column; strings by code point, as Arrow compares UTF-8 bytes. */
export function compareScalars(a: unknown, b: unknown): number {
  if (typeof a === "string" && typeof b === "string") return compareCodePoints(a, b);
  // Numbers, booleans, and bigints (also mixed with numbers) all order correctly with < and >.
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i), cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // UTF-16 puts surrogates (code points above U+FFFF) below U+E000..U+FFFF; code point order puts them above.
    if (ca >= 0xd800 && cb >= 0xd800) return surrogatesLast(ca) - surrogatesLast(cb);
    return ca - cb;
  }
  return a.length - b.length;
}

function surrogatesLast(codeUnit: number): number {
  return codeUnit >= 0xe000 ? codeUnit - 0x800 : codeUnit + 0x2000;
}

export function requireColumn(block: Block, name: string, what: string): Vector {
  const vector = block.getChild(name);
  if (vector === null) {
    const available = block.schema.fields.map((f) => f.name).join(", ") || "(none)";
    throw new BlockError(`${what}: unknown column '${name}'; available columns: ${available}`);
  }
  return vector;
}
