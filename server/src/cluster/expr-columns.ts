// Arrow columns as the expression evaluator works on them: numbers as Float64Array, booleans as one byte
// per row, strings as UTF-8 bytes with offsets, validity as one byte per row (null: every row valid).
// Loading copies out of Arrow's buffers in tight loops; storing builds Arrow data without per-value builders.
import {
  Bool, DataType, Float32, Float64, Int32, Int64, Null, Utf8, makeData, makeVector, type Data, type Vector,
} from "apache-arrow";

export type Col =
  /** exact: 64-bit integers as they are (beyond 2^53 a double is not exact), kept by comparisons and integer arithmetic. */
  | { kind: "num"; values: Float64Array; valid: Uint8Array | null; int: boolean; width?: 32; exact?: BigInt64Array; time?: boolean }
  | { kind: "bool"; values: Uint8Array; valid: Uint8Array | null }
  | { kind: "str"; bytes: Uint8Array; offsets: Int32Array; valid: Uint8Array | null }
  | { kind: "null" }
  | { kind: "other"; vector: Vector }
  /** A literal, not repeated per row. */
  | { kind: "scalar"; value: number | string | boolean; int: boolean; exact?: bigint; time?: boolean };

/** A column as loaded from a block, with the vector it came from (kept as it is when passed through). */
export type Loaded = Col & { source?: Vector };

function validityOf(data: Data): Uint8Array | null {
  if (data.nullCount === 0 || !data.nullBitmap) return data.nullCount === data.length && data.length > 0 && !data.nullBitmap ? new Uint8Array(data.length) : null;
  const out = new Uint8Array(data.length);
  const bits = data.nullBitmap, offset = data.offset;
  for (let i = 0; i < data.length; i++) { const j = i + offset; out[i] = (bits[j >> 3] >> (j & 7)) & 1; }
  return out;
}

/** One record batch's column (a single chunk). */
export function loadColumn(vector: Vector): Loaded {
  const type: DataType = vector.type;
  const data = vector.data[0];
  const n = vector.length;
  const valid = validityOf(data);
  if (DataType.isInt(type) || DataType.isFloat(type)) {
    // Builders pad their buffers: values past n are not rows.
    const raw = data.values as ArrayLike<number | bigint>;
    const values = new Float64Array(n);
    let exact: BigInt64Array | undefined;
    if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) {
      exact = BigInt64Array.from((raw as BigInt64Array).subarray(0, n));
      for (let i = 0; i < n; i++) values[i] = Number(raw[i]);
    } else values.set((data.values as Float64Array).subarray(0, n));
    return { kind: "num", values, valid: DataType.isFloat(type) ? nanAsNull(values, valid) : valid, int: DataType.isInt(type), exact, source: vector };
  }
  if (DataType.isDecimal(type)) {
    // Computed on as floating point (exact decimal arithmetic is not done); passed through unchanged.
    const words = data.values as Uint32Array, stride = type.bitWidth / 32, scale = 10 ** type.scale;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let w = stride - 1; w >= 0; w--) v = v * 4294967296 + (w === stride - 1 ? words[i * stride + w] | 0 : words[i * stride + w]);
      values[i] = v / scale;
    }
    return { kind: "num", values, valid, int: false, source: vector };
  }
  if (DataType.isDate(type) || DataType.isTimestamp(type)) {
    // Milliseconds since the epoch, as a Date literal holds them; compared only, passed through unchanged.
    const raw = data.values as ArrayLike<number | bigint>;
    const perMs = DataType.isDate(type) ? (type.unit === 0 ? 1 / 86_400_000 : 1) : [0.001, 1, 1000, 1_000_000][type.unit];
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = Number(raw[i]) / perMs;
    return { kind: "num", values, valid, int: false, time: true, source: vector };
  }
  if (DataType.isBool(type)) {
    const values = new Uint8Array(n);
    const bits = data.values as Uint8Array, offset = data.offset;
    for (let i = 0; i < n; i++) { const j = i + offset; values[i] = (bits[j >> 3] >> (j & 7)) & 1; }
    return { kind: "bool", values, valid, source: vector };
  }
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) {
    const raw = data.valueOffsets as ArrayLike<number | bigint>;
    const base = Number(raw[0]);
    const offsets = new Int32Array(n + 1);
    for (let i = 0; i <= n; i++) offsets[i] = Number(raw[i]) - base;
    return { kind: "str", bytes: (data.values as Uint8Array).subarray(base, base + offsets[n]), offsets, valid, source: vector };
  }
  if (DataType.isDictionary(type) && DataType.isUtf8(type.dictionary)) {
    return { ...strings(Array.from({ length: n }, (_, i) => vector.get(i) as string | null)), source: vector };
  }
  if (DataType.isNull(type)) return { kind: "null", source: vector };
  return { kind: "other", vector, source: vector };
}

/** A float NaN is a missing value (null), as everywhere in the engine. */
function nanAsNull(values: Float64Array, valid: Uint8Array | null): Uint8Array | null {
  let out = valid;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) { out ??= new Uint8Array(values.length).fill(1); out[i] = 0; }
  }
  return out;
}

const encoder = new TextEncoder();

/** A string column from JS strings (what lower/upper and casts make). */
export function strings(values: (string | null)[]): Extract<Col, { kind: "str" }> {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  let valid: Uint8Array | null = null;
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const s = values[i];
    if (s === null) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; } else { const b = encoder.encode(s); parts.push(b); pos += b.length; }
    offsets[i + 1] = pos;
  }
  const bytes = new Uint8Array(pos);
  let at = 0;
  for (const part of parts) { bytes.set(part, at); at += part.length; }
  return { kind: "str", bytes, offsets, valid };
}

const decoder = new TextDecoder();

/** Row i of a string column as a JS string. */
export const stringAt = (c: Extract<Col, { kind: "str" }>, i: number) => decoder.decode(c.bytes.subarray(c.offsets[i], c.offsets[i + 1]));

function packBits(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array((bytes.length + 7) >> 3);
  for (let i = 0; i < bytes.length; i++) if (bytes[i]) out[i >> 3] |= 1 << (i & 7);
  return out;
}

function nulls(valid: Uint8Array | null): { nullCount: number; nullBitmap?: Uint8Array } {
  if (!valid) return { nullCount: 0 };
  let nullCount = 0;
  for (let i = 0; i < valid.length; i++) nullCount += 1 - valid[i];
  return nullCount === 0 ? { nullCount } : { nullCount, nullBitmap: packBits(valid) };
}

/** A column as an Arrow vector of n rows: the loaded vector itself when unchanged. */
export function storeColumn(c: Loaded, n: number): Vector {
  if (c.source) return c.source;
  switch (c.kind) {
    case "scalar": return storeColumn(broadcast(c, n), n);
    case "null": return makeVector(makeData({ type: new Null(), length: n, nullCount: n }));
    case "other": return c.vector;
    case "bool": return makeVector(makeData({ type: new Bool(), length: n, ...nulls(c.valid), data: packBits(c.values) }));
    case "str": return makeVector(makeData({ type: new Utf8(), length: n, ...nulls(c.valid), valueOffsets: c.offsets, data: c.bytes }));
    case "num": {
      const { values, valid } = c;
      if (!c.int) return makeVector(makeData({ type: c.width ? new Float32() : new Float64(), length: n, ...nulls(valid), data: c.width ? Float32Array.from(values) : values }));
      if (c.width) return makeVector(makeData({ type: new Int32(), length: n, ...nulls(valid), data: Int32Array.from(values) }));
      if (c.exact) return makeVector(makeData({ type: new Int64(), length: n, ...nulls(valid), data: c.exact }));
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) if (!valid || valid[i]) out[i] = BigInt(values[i]);
      return makeVector(makeData({ type: new Int64(), length: n, ...nulls(valid), data: out }));
    }
  }
}

/** A literal repeated on n rows. */
export function broadcast(c: Extract<Col, { kind: "scalar" }>, n: number): Col {
  const { value } = c;
  if (typeof value === "number") return { kind: "num", values: new Float64Array(n).fill(value), valid: null, int: c.int };
  if (typeof value === "boolean") return { kind: "bool", values: new Uint8Array(n).fill(value ? 1 : 0), valid: null };
  return strings(new Array<string>(n).fill(value));
}

/** Rows valid in both (null: all). */
export function bothValid(a: Uint8Array | null, b: Uint8Array | null): Uint8Array | null {
  if (!a) return b && b.slice();
  if (!b) return a.slice();
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] & b[i];
  return out;
}

/** A column's integers as 64-bit integers (exact where they were loaded so), for integer arithmetic and comparisons. */
export function exactInts(c: Col, n: number): BigInt64Array | bigint {
  if (c.kind === "scalar") return c.exact ?? BigInt(c.value as number);
  if (c.kind !== "num") throw new Error("exactInts: not a number column");
  if (c.exact) return c.exact;
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) if (!c.valid || c.valid[i]) out[i] = BigInt(c.values[i]);
  return out;
}

/** Whether integer work on these columns needs 64-bit integers: one holds them, and neither is fractional. */
export function needsExactInts(a: Col, b: Col): boolean {
  const isInt = (c: Col) => (c.kind === "num" && c.int) || (c.kind === "scalar" && c.int);
  const holdsExact = (c: Col) => (c.kind === "num" && c.exact !== undefined) || (c.kind === "scalar" && c.exact !== undefined);
  return isInt(a) && isInt(b) && (holdsExact(a) || holdsExact(b));
}
