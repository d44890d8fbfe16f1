// The committed IDs of a checkpoint as one compact, read-only set in shared memory: loaded once by
// the driver, handed to every read task by reference (worker threads see the same bytes, no copy).
import { DataType, type Vector } from "apache-arrow";

/** Smallest and largest ID: integers (as decimal strings) numerically, strings by their UTF-8 bytes. */
export interface IdRange { kind: "int" | "string"; min: string; max: string }

/** Integer IDs: one sorted BigInt64Array, 8 bytes per ID, looked up by binary search. */
interface IntIds { kind: "int"; sorted: BigInt64Array }

/**
 * Any other IDs, as UTF-8 strings: an open-addressing hash table of entry numbers (+1, 0 = empty) over
 * entries that point into one byte arena. Lookups compare bytes, so a hash collision never drops a row.
 */
interface StringIds { kind: "string"; slots: Int32Array; starts: Float64Array; bytes: Uint8Array; count: number }

/** Structured-clone data: the arrays' buffers are SharedArrayBuffers, so sending it to a worker shares them. */
export type SharedIds = IntIds | StringIds;

const encoder = new TextEncoder();

/** Collects IDs, then freezes them into a SharedIds. Integer IDs stay integers unless a non-integer ID appears. */
export class IdSetBuilder {
  private ints: BigInt64Array = new BigInt64Array(1024);
  private intCount = 0;
  private strings: string[] | undefined;

  /** Adds every non-null value of an ID column. */
  addColumn(column: Vector): void {
    const type = column.type as DataType;
    if (!this.strings && (DataType.isInt(type)) && column.nullCount === 0) {
      for (const data of column.data) {
        const values = data.values as ArrayLike<number | bigint> & ArrayBufferView;
        this.reserve(data.length);
        if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
          // Same 64 bits read as signed: a bulk copy, no per-value conversion.
          this.ints.set(new BigInt64Array(values.buffer, values.byteOffset, data.length), this.intCount);
          this.intCount += data.length;
        } else {
          for (let i = 0; i < data.length; i++) this.ints[this.intCount++] = BigInt(values[i]);
        }
      }
      return;
    }
    for (let i = 0; i < column.length; i++) {
      const value = column.get(i) as unknown;
      if (value !== null && value !== undefined) this.add(value);
    }
  }

  add(value: unknown): void {
    const key = integerKey(value);
    if (key !== undefined && !this.strings) {
      this.reserve(1);
      this.ints[this.intCount++] = key;
      return;
    }
    if (!this.strings) {
      this.strings = Array.from(this.ints.subarray(0, this.intCount), String);
      this.ints = new BigInt64Array(0);
      this.intCount = 0;
    }
    this.strings.push(stringKey(value));
  }

  private reserve(extra: number): void {
    if (this.intCount + extra <= this.ints.length) return;
    const grown = new BigInt64Array(Math.max(this.ints.length * 2, this.intCount + extra));
    grown.set(this.ints.subarray(0, this.intCount));
    this.ints = grown;
  }

  build(): SharedIds {
    if (!this.strings) {
      const collected = this.ints.subarray(0, this.intCount).sort();
      let unique = 0;
      for (let i = 0; i < collected.length; i++) if (i === 0 || collected[i] !== collected[unique - 1]) collected[unique++] = collected[i];
      const sorted = new BigInt64Array(new SharedArrayBuffer(unique * 8));
      sorted.set(collected.subarray(0, unique));
      this.ints = new BigInt64Array(0);
      return { kind: "int", sorted };
    }
    return buildStringIds(this.strings);
  }
}

function buildStringIds(values: string[]): StringIds {
  let totalBytes = 0;
  for (const value of values) totalBytes += Buffer.byteLength(value);
  const bytes = new Uint8Array(new SharedArrayBuffer(Math.max(1, totalBytes)));
  const starts = new Float64Array(new SharedArrayBuffer((values.length + 1) * 8));
  let capacity = 16;
  while (capacity < values.length * 2) capacity *= 2;
  const slots = new Int32Array(new SharedArrayBuffer(capacity * 4));
  const ids: StringIds = { kind: "string", slots, starts, bytes, count: 0 };
  let offset = 0;
  for (const value of values) {
    // Encoded straight into the arena; a duplicate's bytes are simply overwritten by the next value.
    const { written } = encoder.encodeInto(value, bytes.subarray(offset));
    const slot = findSlot(ids, bytes.subarray(offset, offset + written));
    if (slot >= 0) continue;
    starts[ids.count] = offset;
    offset += written;
    starts[ids.count + 1] = offset;
    slots[-slot - 1] = ++ids.count;
  }
  return ids;
}

/** The slot holding key (≥ 0), or -(empty slot + 1) where it would go. */
function findSlot(ids: StringIds, key: Uint8Array): number {
  const mask = ids.slots.length - 1;
  for (let slot = fnv1a(key) & mask; ; slot = (slot + 1) & mask) {
    const entry = ids.slots[slot];
    if (entry === 0) return -slot - 1;
    const start = ids.starts[entry - 1], end = ids.starts[entry];
    if (end - start === key.length && bytesEqual(ids.bytes, start, key)) return slot;
  }
}

function bytesEqual(arena: Uint8Array, start: number, key: Uint8Array): boolean {
  for (let i = 0; i < key.length; i++) if (arena[start + i] !== key[i]) return false;
  return true;
}

function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash >>> 0;
}

/** An integer ID as its 64 bits read as signed (uint64 IDs at or above 2^63 map one-to-one too); undefined for other values. */
function integerKey(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value >= -(2n ** 63n) && value < 2n ** 64n ? BigInt.asIntN(64, value) : undefined;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  return undefined;
}

function stringKey(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "bigint" || typeof value === "number" ? String(value) : JSON.stringify(value);
}

export function idCount(ids: SharedIds): number {
  return ids.kind === "int" ? ids.sorted.length : ids.count;
}

/** Whether one ID value is in the set; a value of another kind (a string in an integer set) never is. */
export function hasId(ids: SharedIds, value: unknown): boolean {
  if (ids.kind === "int") {
    const key = integerKey(value);
    return key !== undefined && sortedIncludes(ids.sorted, key);
  }
  return value !== null && value !== undefined && findSlot(ids, encoder.encode(stringKey(value))) >= 0;
}

function sortedIncludes(sorted: BigInt64Array, key: bigint): boolean {
  let low = 0, high = sorted.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const value = sorted[mid];
    if (value < key) low = mid + 1;
    else if (value > key) high = mid - 1;
    else return true;
  }
  return false;
}

/** Indices of the rows whose ID is not in the set (null IDs are never committed, so they stay). */
export function rowsNotIn(ids: SharedIds, column: Vector): Uint32Array {
  const keep = new Uint32Array(column.length);
  let kept = 0;
  const type = column.type as DataType;
  if (ids.kind === "int" && DataType.isInt(type) && column.nullCount === 0) {
    let index = 0;
    for (const data of column.data) {
      const values = data.values as ArrayLike<number | bigint>;
      for (let i = 0; i < data.length; i++, index++) {
        if (!sortedIncludes(ids.sorted, BigInt.asIntN(64, BigInt(values[i])))) keep[kept++] = index;
      }
    }
  } else {
    for (let i = 0; i < column.length; i++) if (!hasId(ids, column.get(i))) keep[kept++] = i;
  }
  return keep.subarray(0, kept);
}

/** All IDs in the set, in no particular order (for inspection). */
export function* allIds(ids: SharedIds): Generator<bigint | string> {
  if (ids.kind === "int") { yield* ids.sorted; return; }
  const decoder = new TextDecoder();
  for (let entry = 0; entry < ids.count; entry++) yield decoder.decode(ids.bytes.slice(ids.starts[entry], ids.starts[entry + 1]));
}
