// Key tuples numbered 0, 1, 2… in order of first appearance, by open addressing over the key columns'
// typed arrays: no value is decoded to JS. int64 compares exactly as two 32-bit words; other integers
// and floats as numbers (all NaNs one key, -0 the key 0, as DuckDB groups them); strings by their
// UTF-8 bytes; a null is a key of its own. Other column types are not handled (KeyTable.supports).
import { type Data, DataType, Int64, type Vector, makeData, makeVector } from "apache-arrow";
import { mix32 } from "../../block";

/** How a column's keys are held: int64 as words, other numbers in a typed array of their own type, strings as bytes. */
type Kind = "words" | "number" | "utf8";

interface Column {
  kind: Kind;
  type: DataType;
  float: boolean;
  /** "words": two Int32 per key (low, high); "number": the column's own typed array. */
  values: Int32Array | Float64Array;
  /** "utf8": the keys' bytes, one after another; starts[i]..starts[i + 1] is key i's. */
  bytes: Uint8Array;
  starts: Int32Array;
  byteLength: number;
  valid: Uint8Array;
}

/** One chunk of a key column, its arrays taken out once. */
interface Chunk {
  words: Int32Array;
  numbers: Float64Array;
  offsets: Int32Array;
  bytes: Uint8Array;
  /** Validity bitmap when the chunk has nulls, and the bit of its first row. */
  bitmap: Uint8Array | undefined;
  bit: number;
}

const NONE_I32 = new Int32Array(0), NONE_F64 = new Float64Array(0), NONE_U8 = new Uint8Array(0);

function chunkOf(data: Data, kind: Kind): Chunk {
  const values = data.values as ArrayLike<unknown> & { buffer: ArrayBuffer; byteOffset: number };
  return {
    words: kind === "words" ? new Int32Array(values.buffer, values.byteOffset, 2 * data.length) : NONE_I32,
    numbers: kind === "number" ? (data.values as Float64Array) : NONE_F64,
    offsets: kind === "utf8" ? (data.valueOffsets as Int32Array) : NONE_I32,
    bytes: kind === "utf8" ? (data.values as Uint8Array) : NONE_U8,
    bitmap: data.nullCount > 0 ? data.nullBitmap : undefined,
    bit: data.offset,
  };
}

function isValid(chunk: Chunk, row: number): boolean {
  if (chunk.bitmap === undefined) return true;
  const bit = chunk.bit + row;
  return (chunk.bitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
}

const NULL_HASH = 0x9e3779b9;
/**
 * Starts a row's hash. The exchange buckets rows by a hash of the same column hashes (exchange/keys.ts
 * starts at 17): a table over one bucket's rows hashed alike would see a few low bits only and cluster.
 */
const SEED = 0x2545f491;

const float = new Float64Array(1);
const floatWords = new Int32Array(float.buffer);

/** The kind a column of `type` is held as, or undefined when the table does not take it. */
function kindOf(type: DataType): Kind | undefined {
  if (DataType.isInt(type)) return type.bitWidth === 64 ? "words" : "number";
  if (DataType.isFloat(type)) return type.precision === 0 ? undefined : "number"; // float16's array holds raw bits
  if (DataType.isUtf8(type)) return "utf8";
  return undefined;
}

export class KeyTable {
  /**
   * A table that lives as long as the worker: V8 throws away the optimized code of these methods at a
   * forced full collection (the worker forces one after a task's output blocks) when no table survives
   * it, and compiles them again for the next partition.
   */
  static readonly alive = new KeyTable([new Int64()]);
  private readonly columns: Column[];
  private slots = new Int32Array(1024); // group id + 1; 0 is empty
  private hashes = new Uint32Array(256);
  private capacity = 256;
  size = 0;

  /** Whether columns of these types can be keys of a KeyTable. */
  static supports(types: DataType[]): boolean {
    return types.every((t) => kindOf(t) !== undefined);
  }

  constructor(types: DataType[]) {
    this.columns = types.map((type) => {
      const kind = kindOf(type)!;
      const ArrayType = kind === "number" ? (type.ArrayType as Float64ArrayConstructor) : Int32Array;
      return {
        kind, type, float: DataType.isFloat(type),
        values: new ArrayType(kind === "words" ? 2 * this.capacity : this.capacity) as Int32Array | Float64Array,
        bytes: new Uint8Array(kind === "utf8" ? 16 * this.capacity : 0), starts: new Int32Array(kind === "utf8" ? this.capacity + 1 : 0), byteLength: 0,
        valid: new Uint8Array(this.capacity),
      };
    });
  }

  /** The group id of each row of the key vectors (aligned chunks, as a block's columns are), adding new keys. */
  ids(vectors: Vector[], numRows: number): Uint32Array {
    const ids = new Uint32Array(numRows);
    if (vectors.length === 0) return ids.fill(this.findOrAdd([], 0, NULL_HASH)); // no keys: one group
    let hashes: Uint32Array | undefined;
    const chunks = vectors.map((v) => v.data);
    for (let c = 0, start = 0; c < (chunks[0]?.length ?? 0); start += chunks[0][c].length, c++) {
      const n = chunks[0][c].length;
      const data = chunks.map((d, k) => chunkOf(d[c], this.columns[k].kind));
      if (data.length === 1 && this.columns[0].kind === "words" && data[0].bitmap === undefined) {
        this.wordIds(data[0].words, n, ids.subarray(start, start + n));
        continue;
      }
      hashes ??= new Uint32Array(numRows);
      const h = hashes.subarray(start, start + n);
      h.fill(SEED);
      data.forEach((d, k) => this.hashColumn(k, d, n, h));
      for (let row = 0; row < n; row++) ids[start + row] = this.findOrAdd(data, row, mix32(h[row] ^ SEED));
    }
    return ids;
  }

  /**
   * ids() of one int64 key column without nulls, in one loop: the same hashes, slots and stored keys as
   * the general path (a table may see chunks of both), without its per-column and per-row dispatch.
   */
  private wordIds(words: Int32Array, n: number, out: Uint32Array): void {
    const column = this.columns[0];
    // The arrays in locals (V8 would load them from the objects per row), loaded again when they grow.
    let { slots, hashes } = this, { valid } = column, values = column.values as Int32Array, mask = slots.length - 1;
    for (let row = 0; row < n; row++) {
      const lo = words[2 * row], hi = words[2 * row + 1];
      const hash = mix32(((Math.imul(SEED, 31) + mix32(lo ^ mix32(hi))) >>> 0) ^ SEED);
      let slot = hash & mask, id = -1;
      for (let entry = slots[slot]; entry !== 0; slot = (slot + 1) & mask, entry = slots[slot]) {
        const e = entry - 1;
        if (hashes[e] === hash && values[2 * e] === lo && values[2 * e + 1] === hi && valid[e] === 1) { id = e; break; }
      }
      if (id < 0) {
        id = this.size++;
        if (id === this.capacity) {
          this.grow();
          ({ hashes } = this);
          ({ valid } = column);
          values = column.values as Int32Array;
        }
        hashes[id] = hash;
        valid[id] = 1;
        values[2 * id] = lo;
        values[2 * id + 1] = hi;
        slots[slot] = id + 1;
        if (this.size * 2 > slots.length) {
          this.rehash();
          slots = this.slots;
          mask = slots.length - 1;
        }
      }
      out[row] = id;
    }
  }

  /** With the group of the empty key tuple (a table without key columns). */
  withGroup(): this {
    this.findOrAdd([], 0, NULL_HASH);
    return this;
  }

  private hashColumn(k: number, chunk: Chunk, n: number, out: Uint32Array): void {
    const column = this.columns[k];
    const combine = (row: number, h: number) => { out[row] = (Math.imul(out[row], 31) + h) >>> 0; };
    if (column.kind === "words") {
      const w = chunk.words;
      for (let row = 0; row < n; row++) combine(row, mix32(w[2 * row] ^ mix32(w[2 * row + 1])));
    } else if (column.kind === "number") {
      const values = chunk.numbers;
      for (let row = 0; row < n; row++) {
        let v = values[row];
        if (column.float) {
          if (v !== v) v = NaN;
          else if (v === 0) v = 0;
        }
        float[0] = v;
        combine(row, mix32(floatWords[0] ^ mix32(floatWords[1])));
      }
    } else {
      const { offsets, bytes } = chunk;
      for (let row = 0; row < n; row++) {
        let h = 0x811c9dc5;
        for (let i = offsets[row], end = offsets[row + 1]; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
        combine(row, mix32(h >>> 0));
      }
    }
    if (chunk.bitmap) {
      for (let row = 0; row < n; row++) if (!isValid(chunk, row)) out[row] = (Math.imul(out[row], 31) + NULL_HASH) >>> 0;
    }
  }

  private findOrAdd(data: Chunk[], row: number, hash: number): number {
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let entry = this.slots[slot]; entry !== 0; slot = (slot + 1) & mask, entry = this.slots[slot]) {
      if (this.hashes[entry - 1] === hash && this.equals(entry - 1, data, row)) return entry - 1;
    }
    const id = this.size++;
    if (id === this.capacity) this.grow();
    this.hashes[id] = hash;
    for (let k = 0; k < data.length; k++) this.store(k, id, data[k], row);
    this.slots[slot] = id + 1;
    if (this.size * 2 > this.slots.length) this.rehash();
    return id;
  }

  private equals(id: number, data: Chunk[], row: number): boolean {
    for (let k = 0; k < data.length; k++) {
      const column = this.columns[k], d = data[k];
      const valid = isValid(d, row);
      if (valid !== (column.valid[id] === 1)) return false;
      if (!valid) continue;
      if (column.kind === "words") {
        const w = d.words;
        if (column.values[2 * id] !== w[2 * row] || column.values[2 * id + 1] !== w[2 * row + 1]) return false;
      } else if (column.kind === "number") {
        const a = column.values[id], b = d.numbers[row];
        if (a !== b && !(a !== a && b !== b)) return false;
      } else {
        const { offsets, bytes } = d;
        const start = offsets[row], length = offsets[row + 1] - start;
        const own = column.starts[id];
        if (column.starts[id + 1] - own !== length) return false;
        for (let i = 0; i < length; i++) if (column.bytes[own + i] !== bytes[start + i]) return false;
      }
    }
    return true;
  }

  private store(k: number, id: number, d: Chunk, row: number): void {
    const column = this.columns[k];
    const valid = isValid(d, row);
    column.valid[id] = valid ? 1 : 0;
    if (column.kind === "words") {
      const w = d.words;
      column.values[2 * id] = valid ? w[2 * row] : 0;
      column.values[2 * id + 1] = valid ? w[2 * row + 1] : 0;
    } else if (column.kind === "number") {
      const v = valid ? d.numbers[row] : 0;
      column.values[id] = v === 0 ? 0 : v; // -0 is kept as 0
    } else {
      const { offsets } = d;
      const start = valid ? offsets[row] : 0, length = valid ? offsets[row + 1] - start : 0;
      if (column.byteLength + length > column.bytes.length) column.bytes = grown(column.bytes, column.byteLength + length);
      column.bytes.set(d.bytes.subarray(start, start + length), column.byteLength);
      column.byteLength += length;
      column.starts[id + 1] = column.byteLength;
    }
  }

  private grow(): void {
    this.capacity *= 2;
    this.hashes = grown(this.hashes, this.capacity);
    for (const column of this.columns) {
      column.valid = grown(column.valid, this.capacity);
      if (column.kind === "utf8") column.starts = grown(column.starts, this.capacity + 1);
      else column.values = grown(column.values, column.kind === "words" ? 2 * this.capacity : this.capacity);
    }
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.size; id++) {
      let slot = this.hashes[id] & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }

  /** Key column k of every group, in id order, of the column's type. */
  keyVector(k: number): Vector {
    const column = this.columns[k], length = this.size;
    const nullCount = length - column.valid.subarray(0, length).reduce((sum, v) => sum + v, 0);
    const nullBitmap = nullCount === 0 ? undefined : bitmapOf(column.valid, length);
    const base = { type: column.type, length, nullCount, nullBitmap };
    if (column.kind === "utf8") {
      return makeVector(makeData({ ...base, valueOffsets: column.starts.slice(0, length + 1), data: column.bytes.slice(0, column.byteLength) } as Parameters<typeof makeData>[0]));
    }
    const values = column.kind === "words"
      ? new (column.type.ArrayType as BigInt64ArrayConstructor)(column.values.slice(0, 2 * length).buffer)
      : column.values.slice(0, length);
    return makeVector(makeData({ ...base, data: values } as Parameters<typeof makeData>[0]));
  }

  /** Key k of group `id` as a JS value (int64 as a number when exact, else a bigint), for an aggregation's init. */
  keyValue(k: number, id: number): unknown {
    const column = this.columns[k];
    if (column.valid[id] === 0) return null;
    if (column.kind === "number") return column.values[id];
    if (column.kind === "utf8") return new TextDecoder().decode(column.bytes.subarray(column.starts[id], column.starts[id + 1]));
    const words = column.values.slice(2 * id, 2 * id + 2) as Int32Array;
    const big = new (column.type.ArrayType as BigInt64ArrayConstructor)(words.buffer)[0];
    return big >= -9007199254740991n && big <= 9007199254740991n ? Number(big) : big;
  }

  /** The id of each row's key tuple, -1 where the table does not hold it; nothing is added (a join's probe side). */
  find(vectors: Vector[], numRows: number): Int32Array {
    const found = new Int32Array(numRows);
    const chunks = vectors.map((v) => v.data);
    const mask = this.slots.length - 1;
    let start = 0;
    for (let c = 0; c < chunks[0].length; c++) {
      const n = chunks[0][c].length;
      const data = chunks.map((d, k) => chunkOf(d[c], this.columns[k].kind));
      if (data.length === 1 && this.columns[0].kind === "words" && data[0].bitmap === undefined) {
        this.findWords(data[0].words, found.subarray(start, start + n));
        start += n;
        continue;
      }
      const hashes = new Uint32Array(n).fill(SEED);
      data.forEach((d, k) => this.hashColumn(k, d, n, hashes));
      for (let row = 0; row < n; row++) {
        const hash = mix32(hashes[row] ^ SEED);
        let id = -1;
        for (let slot = hash & mask, entry = this.slots[slot]; entry !== 0 && id < 0; slot = (slot + 1) & mask, entry = this.slots[slot]) {
          if (this.hashes[entry - 1] === hash && this.equals(entry - 1, data, row)) id = entry - 1;
        }
        found[start + row] = id;
      }
      start += n;
    }
    return found;
  }

  /** find() of one int64 key column without nulls, in one loop: the hash hashColumn gives it, its words compared in place. */
  private findWords(words: Int32Array, found: Int32Array): void {
    const { values, valid } = this.columns[0];
    const mask = this.slots.length - 1;
    for (let row = 0; row < found.length; row++) {
      const lo = words[2 * row], hi = words[2 * row + 1];
      const hash = mix32(((Math.imul(SEED, 31) + mix32(lo ^ mix32(hi))) >>> 0) ^ SEED);
      let id = -1;
      for (let slot = hash & mask, entry = this.slots[slot]; entry !== 0 && id < 0; slot = (slot + 1) & mask, entry = this.slots[slot]) {
        const e = entry - 1;
        if (this.hashes[e] === hash && values[2 * e] === lo && values[2 * e + 1] === hi && valid[e] === 1) id = e;
      }
      found[row] = id;
    }
  }
}

function grown<T extends Uint8Array | Int32Array | Uint32Array | Float64Array>(array: T, atLeast: number): T {
  let length = Math.max(16, array.length);
  while (length < atLeast) length *= 2;
  const out = new (array.constructor as new (n: number) => T)(length);
  out.set(array);
  return out;
}

/** An Arrow validity bitmap of 0/1 bytes. */
export function bitmapOf(valid: Uint8Array, length: number): Uint8Array {
  const bitmap = new Uint8Array((length + 7) >> 3);
  for (let i = 0; i < length; i++) if (valid[i] === 1) bitmap[i >> 3] |= 1 << (i & 7);
  return bitmap;
}
