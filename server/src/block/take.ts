// Gathering rows of a block by index (sort, shuffle, join), column by column. An index of -1 gathers a
// null (a join's row without a match on the other side).
import { type Data, DataType, Utf8, Vector, makeData, makeVector, vectorFromArray } from "apache-arrow";
import { type Block, blockFromColumns, nullVector } from "./arrow";
import { utf8Vector } from "./utf8";

/** Gathers rows by index into a new block; an index of -1 makes a row of nulls. */
export function takeRows(block: Block, indices: ArrayLike<number>): Block {
  const columns: Record<string, Vector> = {};
  for (const field of block.schema.fields) {
    const vector = block.getChild(field.name)!;
    columns[field.name] = takeVector(vector, indices);
  }
  return blockFromColumns(columns, block.schema, undefined, indices.length);
}

/**
 * The block's rows in `order`, `positions` its inverse (row r goes to positions[r]): null-free number
 * columns are scattered, their values read in order (a gather's reads jump between as many places as the
 * rows go to: several times slower once they are dozens), the others gathered by `order`.
 */
export function placeRows(block: Block, order: Uint32Array, positions: Uint32Array): Block {
  const columns: Record<string, Vector> = {};
  for (const field of block.schema.fields) {
    const vector = block.getChild(field.name)!;
    columns[field.name] = scatterVector(vector, positions) ?? takeVector(vector, order);
  }
  return blockFromColumns(columns, block.schema, undefined, order.length);
}

/** One column's values at `indices` (-1: null); a dictionary-encoded string column comes out plain. */
export function takeVector(vector: Vector, indices: ArrayLike<number>): Vector {
  const type = vector.type;
  if (DataType.isNull(type)) return nullVector(type, indices.length);
  const plain = (DataType.isInt(type) || DataType.isFloat(type) || DataType.isUtf8(type)) && vector.nullCount === 0;
  // Null-free numbers and strings by tight loops over one chunk (several chunks joined first when most rows are taken).
  if (plain && vector.data.length > 0 && (vector.data.length === 1 || 4 * indices.length >= vector.length)) {
    const data = vector.data.length === 1 ? vector.data[0] : joinedChunks(vector.data);
    return DataType.isUtf8(type) ? takePlainUtf8(data as Data<Utf8>, indices) : takePlainFixedWidth(data, indices);
  }
  if (DataType.isInt(type) || DataType.isFloat(type)) return takeFixedWidth(vector, indices);
  if (DataType.isUtf8(type)) return takeUtf8(vector as Vector<Utf8>, indices);
  const out = new Array<unknown>(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = indices[i] < 0 ? null : builderValue(vector.get(indices[i]));
  if (DataType.isDictionary(type) && DataType.isUtf8(type.dictionary)) return utf8Vector(out as (string | null)[]);
  return vectorFromArray(out, type);
}

/**
 * A null-free number column with row r moved to `positions[r]` (a permutation): read chunk by chunk in
 * order, so several chunks are not first joined into one copy as a gather by index needs. Undefined for
 * other columns.
 */
export function scatterVector(vector: Vector, positions: Uint32Array): Vector | undefined {
  const type = vector.type;
  if (!(DataType.isInt(type) || DataType.isFloat(type)) || vector.nullCount > 0 || vector.data.length === 0) return undefined;
  const first = vector.data[0].values as Float64Array;
  const out = new (first.constructor as Float64ArrayConstructor)(vector.length);
  // As 32-bit words where the values are 4 or 8 bytes (no bigint made, a NaN's bits kept).
  const stride = out.BYTES_PER_ELEMENT === 8 ? 2 : out.BYTES_PER_ELEMENT === 4 ? 1 : 0;
  const to = stride === 0 ? undefined : new Int32Array(out.buffer);
  let row = 0;
  for (const data of vector.data) {
    // A sliced chunk's values buffer starts at its first row already.
    const values = (data.values as Float64Array).subarray(0, data.length);
    if (to === undefined) scatterNumbers(values, out, positions, row);
    else if (stride === 2) scatterWordPairs(new Int32Array(values.buffer, values.byteOffset, 2 * data.length), to, positions, row);
    else scatterWords(new Int32Array(values.buffer, values.byteOffset, data.length), to, positions, row);
    row += data.length;
  }
  return fixedWidthVector(type, out, 0, undefined);
}

// The loops of scatterVector, each a function of typed arrays alone: V8 keeps their optimized code
// (a loop inside scatterVector was compiled again on every call, its code dropped where it left the loop).

/** to[positions[row + i]] = from[i] for every i of `from`: 1- and 2-byte values. */
function scatterNumbers(from: ArrayLike<number>, to: { [i: number]: number }, positions: Uint32Array, row: number): void {
  for (let i = 0; i < from.length; i++) to[positions[row + i]] = from[i];
}

/** scatterNumbers of 4-byte values as 32-bit words. */
function scatterWords(from: Int32Array, to: Int32Array, positions: Uint32Array, row: number): void {
  for (let i = 0; i < from.length; i++) to[positions[row + i]] = from[i];
}

/** scatterNumbers of 8-byte values as pairs of 32-bit words. */
function scatterWordPairs(from: Int32Array, to: Int32Array, positions: Uint32Array, row: number): void {
  const n = from.length >> 1;
  for (let i = 0; i < n; i++) {
    const at = 2 * positions[row + i];
    to[at] = from[2 * i];
    to[at + 1] = from[2 * i + 1];
  }
}

/** A value as Arrow's builders take it: a list as an array, a struct as an object (not the Vector and StructRow a getter gives). */
function builderValue(value: unknown): unknown {
  if (value instanceof Vector) return Array.from(value, builderValue);
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value) || value instanceof Date) return value;
  const toJSON = (value as { toJSON?: () => Record<string, unknown> }).toJSON;
  if (typeof toJSON !== "function") return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(toJSON.call(value))) out[key] = builderValue(field);
  return out;
}

/**
 * Numbers by typed array: values copied, nulls (of the source or from -1) in a validity bitmap. A
 * column of several chunks is read chunk by chunk, not concatenated (a partitioner gathers from one
 * block many times); indices mostly ascend, so the chunk of the last index is tried first.
 */
function takeFixedWidth(vector: Vector, indices: ArrayLike<number>): Vector {
  const data = vector.data;
  // A sliced chunk's values buffer starts at its first row already (its offset is for the validity bitmap).
  const chunks = data.map((chunk) => (chunk.values as Float64Array).subarray(0, chunk.length));
  const bitmaps = data.map((chunk) => (chunk.nullCount > 0 ? chunk.nullBitmap : undefined));
  const chunkStarts = [0];
  for (const chunk of chunks) chunkStarts.push(chunkStarts[chunkStarts.length - 1] + chunk.length);
  const n = indices.length;
  const out = new (chunks[0].constructor as Float64ArrayConstructor)(n);
  // 4- and 8-byte values are copied as 32-bit words: one array type at the copy (V8 keeps it monomorphic),
  // and reading a BigInt64Array element would allocate a bigint.
  const stride = out.BYTES_PER_ELEMENT === 8 ? 2 : out.BYTES_PER_ELEMENT === 4 ? 1 : 0;
  const words = chunks.map((chunk) => (stride === 0 ? EMPTY_WORDS : new Int32Array(chunk.buffer, chunk.byteOffset, stride * chunk.length)));
  const outWords = stride === 0 ? undefined : new Int32Array((out as ArrayBufferView).buffer);
  let nullBitmap: Uint8Array | undefined;
  let nullCount = 0;
  let c = 0, start = 0, end = chunkStarts[1];
  for (let i = 0; i < n; i++) {
    const index = indices[i];
    if (index >= 0) {
      if (index < start || index >= end) {
        c = chunkAt(chunkStarts, index);
        start = chunkStarts[c];
        end = chunkStarts[c + 1];
      }
      const local = index - start, bitmap = bitmaps[c];
      const bit = bitmap === undefined ? 0 : data[c].offset + local;
      if (bitmap === undefined || (bitmap[bit >> 3] & (1 << (bit & 7))) !== 0) {
        if (stride === 2) {
          outWords![2 * i] = words[c][2 * local];
          outWords![2 * i + 1] = words[c][2 * local + 1];
        } else if (stride === 1) {
          outWords![i] = words[c][local];
        } else {
          out[i] = chunks[c][local];
        }
        continue;
      }
    }
    nullBitmap ??= new Uint8Array((n + 7) >> 3).fill(0xff);
    nullBitmap[i >> 3] &= ~(1 << (i & 7));
    nullCount++;
  }
  return fixedWidthVector(vector.type, out, nullCount, nullBitmap);
}

/** The gathered values as a vector of the column's type (a half float's values are Uint16 words: makeVector(out) would type them so). */
function fixedWidthVector(type: DataType, values: ArrayBufferView, nullCount: number, nullBitmap: Uint8Array | undefined): Vector {
  const length = (values as Float64Array).length;
  return makeVector(makeData({ type, length, nullCount, nullBitmap: nullCount === 0 ? undefined : nullBitmap, data: values } as Parameters<typeof makeData>[0]));
}

const EMPTY_WORDS = new Int32Array(0);

/** 1 where a row of the (possibly chunked) vector has a value, 0 where it is null. */
export function validity(vector: Vector): Uint8Array {
  const out = new Uint8Array(vector.length);
  let start = 0;
  for (const chunk of vector.data) {
    for (let i = 0; i < chunk.length; i++) out[start + i] = chunk.getValid(i) ? 1 : 0;
    start += chunk.length;
  }
  return out;
}

/** Gathers Utf8 values as bytes: several times faster than decoding and re-encoding each string. */
function takeUtf8(vector: Vector<Utf8>, indices: ArrayLike<number>): Vector<Utf8> {
  const chunks = vector.data;
  const chunkStarts = [0];
  for (const chunk of chunks) chunkStarts.push(chunkStarts[chunkStarts.length - 1] + chunk.length);
  const chunkOffsets = chunks.map((chunk) => chunk.valueOffsets);
  const chunkBytes = chunks.map((chunk) => chunk.values);
  const hasNulls = vector.nullCount > 0;
  const n = indices.length;
  const chunkOf = new Uint32Array(n);
  const offsets = new Int32Array(n + 1);
  let nullBitmap: Uint8Array | undefined;
  let nullCount = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    const index = indices[i];
    if (index >= 0 && (index < chunkStarts[c] || index >= chunkStarts[c + 1])) c = chunkAt(chunkStarts, index);
    chunkOf[i] = c;
    const local = index - chunkStarts[c];
    if (index < 0 || (hasNulls && !chunks[c].getValid(local))) {
      nullBitmap ??= new Uint8Array((n + 7) >> 3).fill(0xff);
      nullBitmap[i >> 3] &= ~(1 << (i & 7));
      nullCount++;
      offsets[i + 1] = offsets[i];
    } else {
      offsets[i + 1] = offsets[i] + chunkOffsets[c][local + 1] - chunkOffsets[c][local];
    }
  }
  const bytes = new Uint8Array(offsets[n]);
  const out = new DataView(bytes.buffer), sources = chunkBytes.map(bytesView);
  for (let i = 0; i < n; i++) {
    if (indices[i] < 0) continue;
    const c = chunkOf[i], local = indices[i] - chunkStarts[c];
    const start = chunkOffsets[c][local];
    copyBytes(chunkBytes[c], sources[c], start, start + offsets[i + 1] - offsets[i], bytes, out, offsets[i]);
  }
  return makeVector(makeData({ type: new Utf8(), length: n, nullCount, nullBitmap, valueOffsets: offsets, data: bytes }));
}

/** The values of null-free chunks of numbers or strings, one after another in one chunk. */
function joinedChunks(all: readonly Data[]): Data {
  const type = all[0].type;
  const chunks = all.filter((d) => d.length > 0); // an empty chunk may have no offsets at all
  const length = chunks.reduce((sum, d) => sum + d.length, 0);
  if (DataType.isUtf8(type)) {
    const offsets = new Int32Array(length + 1);
    let row = 0, byteLength = 0;
    for (const d of chunks) byteLength += d.valueOffsets[d.length] - d.valueOffsets[0];
    const bytes = new Uint8Array(byteLength);
    let at = 0;
    for (const d of chunks) {
      const from = d.valueOffsets, first = from[0];
      for (let i = 1; i <= d.length; i++) offsets[row + i] = at + from[i] - first;
      bytes.set((d.values as Uint8Array).subarray(first, from[d.length]), at);
      at += from[d.length] - first;
      row += d.length;
    }
    return makeData({ type, length, nullCount: 0, valueOffsets: offsets, data: bytes });
  }
  const first = all[0].values as Float64Array;
  const values = new (first.constructor as Float64ArrayConstructor)(length);
  let at = 0;
  for (const d of chunks) {
    // A sliced chunk's values buffer starts at its first row already.
    values.set((d.values as Float64Array).subarray(0, d.length), at);
    at += d.length;
  }
  return makeData({ type, length, nullCount: 0, data: values } as Parameters<typeof makeData>[0]);
}

/** takeFixedWidth of one null-free chunk: 8-byte values moved as two 32-bit words (no bigint made), others as they are. */
function takePlainFixedWidth(data: Data, indices: ArrayLike<number>): Vector {
  const source = (data.values as Float64Array).subarray(0, data.length);
  const n = indices.length;
  const out = new (source.constructor as Float64ArrayConstructor)(n);
  let missing = 0;
  if (out.BYTES_PER_ELEMENT === 8) {
    const from = new Int32Array(source.buffer, source.byteOffset, 2 * source.length), to = new Int32Array(out.buffer);
    for (let i = 0; i < n; i++) {
      const j = indices[i];
      if (j < 0) { missing++; continue; }
      to[2 * i] = from[2 * j];
      to[2 * i + 1] = from[2 * j + 1];
    }
  } else if (out.BYTES_PER_ELEMENT === 4) {
    // As words too: a float32 read as a number and written back could change a NaN's bits.
    const from = new Int32Array(source.buffer, source.byteOffset, source.length), to = new Int32Array(out.buffer);
    for (let i = 0; i < n; i++) {
      const j = indices[i];
      if (j < 0) { missing++; continue; }
      to[i] = from[j];
    }
  } else {
    for (let i = 0; i < n; i++) {
      const j = indices[i];
      if (j < 0) { missing++; continue; }
      out[i] = source[j];
    }
  }
  return fixedWidthVector(data.type, out, missing, missing === 0 ? undefined : missingBitmap(indices));
}

/** takeUtf8 of one null-free chunk. */
function takePlainUtf8(data: Data<Utf8>, indices: ArrayLike<number>): Vector<Utf8> {
  const from = data.valueOffsets, source = data.values;
  const n = indices.length;
  const offsets = new Int32Array(n + 1);
  let missing = 0;
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    if (j < 0) { missing++; offsets[i + 1] = offsets[i]; continue; }
    offsets[i + 1] = offsets[i] + from[j + 1] - from[j];
  }
  const bytes = new Uint8Array(offsets[n]);
  const sourceView = bytesView(source), out = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    if (j >= 0) copyBytes(source, sourceView, from[j], from[j + 1], bytes, out, offsets[i]);
  }
  const nullBitmap = missing === 0 ? undefined : missingBitmap(indices);
  return makeVector(makeData({ type: new Utf8(), length: n, nullCount: missing, nullBitmap, valueOffsets: offsets, data: bytes }));
}

const bytesView = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Copies source[at, end) to target[to…]: a long run with set(), a short one (the usual string) four
 * bytes at a time through DataViews, about twice as fast as byte by byte (a subarray per string costs more).
 */
function copyBytes(source: Uint8Array, sourceView: DataView, at: number, end: number, target: Uint8Array, targetView: DataView, to: number): void {
  if (end - at > 64) {
    target.set(source.subarray(at, end), to);
    return;
  }
  for (; at + 4 <= end; at += 4, to += 4) targetView.setInt32(to, sourceView.getInt32(at, true), true);
  while (at < end) target[to++] = source[at++];
}

/** A validity bitmap: 0 where the index is -1. */
function missingBitmap(indices: ArrayLike<number>): Uint8Array {
  const bitmap = new Uint8Array((indices.length + 7) >> 3).fill(0xff);
  for (let i = 0; i < indices.length; i++) if (indices[i] < 0) bitmap[i >> 3] &= ~(1 << (i & 7));
  return bitmap;
}

/** The chunk holding row `index`: the last c with chunkStarts[c] <= index. */
function chunkAt(chunkStarts: number[], index: number): number {
  let lo = 0, hi = chunkStarts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (chunkStarts[mid] <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
