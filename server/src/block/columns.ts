// Columns for batch UDFs: views of a block's Arrow columns that decode nothing until read.
// Numeric columns without nulls are zero-copy typed arrays (int64 stays a BigInt64Array: exact). The
// others are arrays whose values are decoded on first read (strings in one pass, see utf8.ts); a
// column handed back unread or unchanged maps to its original Arrow vector, buffers and all.
import { inspect } from "node:util";
import { DataType, Precision, makeVector, type Data, type Vector } from "apache-arrow";
import { type Block, type ColumnOrigins, type Columns, columnValues } from "./arrow";
import { decodeUtf8Into, isNullAt } from "./utf8";

/** The columns handed to one UDF call, and which of them may go back as their original vectors. */
export class ColumnViews implements ColumnOrigins {
  private readonly origins = new Map<unknown, Vector>();
  private readonly changed = new WeakSet<object>();

  /** A column as a UDF sees it: a typed array over Arrow's buffer, or a lazily decoded array. */
  view(vector: Vector): ArrayLike<unknown> {
    const values = zeroCopyValues(vector) ?? lazyArray(vector.length, (into) => decodeVectorInto(vector, into), (v) => this.changed.add(v));
    this.origins.set(values, vector);
    return values;
  }

  original(values: unknown): Vector | undefined {
    const vector = this.changed.has(values as object) ? undefined : this.origins.get(values);
    // A typed array copied from several chunks may have been written to unseen: it is the vector only while it holds its bytes.
    return vector && vector.data.length > 1 && ArrayBuffer.isView(values) && !sameBytes(values, vector) ? undefined : vector;
  }
}

/** Whether a typed array holds exactly the bytes of the vector's chunks, in order. */
function sameBytes(values: ArrayBufferView, vector: Vector): boolean {
  let at = values.byteOffset;
  for (const data of vector.data) {
    const chunk = data.values as ArrayBufferView & { BYTES_PER_ELEMENT: number };
    const length = data.length * data.stride * chunk.BYTES_PER_ELEMENT;
    if (Buffer.compare(new Uint8Array(values.buffer, at, length), new Uint8Array(chunk.buffer, chunk.byteOffset, length)) !== 0) return false;
    at += length;
  }
  return at === values.byteOffset + values.byteLength;
}

/**
 * Columns for batch UDFs (views) or for a consumer (`views` undefined: plain arrays, decoded on first
 * access of each column).
 */
export function blockToColumns(block: Block, views?: ColumnViews): Columns {
  const columns: Columns = {};
  for (const field of block.schema.fields) {
    const vector = block.getChild(field.name)!;
    let cached: ArrayLike<unknown> | undefined;
    Object.defineProperty(columns, field.name, {
      enumerable: true,
      configurable: true,
      get: () => (cached ??= views ? views.view(vector) : columnArray(vector)),
      set(value: ArrayLike<unknown>) {
        Object.defineProperty(columns, field.name, { value, enumerable: true, writable: true, configurable: true });
      },
    });
  }
  return columns;
}

/** A column for a consumer: a typed array over Arrow's buffer where it can be (numbers without nulls), else its plain values. */
export function columnArray(vector: Vector): ArrayLike<unknown> {
  return zeroCopyValues(vector) ?? plainValues(vector);
}

function zeroCopyValues(vector: Vector): ArrayLike<unknown> | null {
  const type = vector.type;
  // Half floats are 16-bit patterns in Arrow's buffer: a UDF gets their values, decoded.
  if (vector.nullCount > 0 || !(DataType.isInt(type) || (DataType.isFloat(type) && type.precision !== Precision.HALF))) return null;
  if (vector.data.length === 1) {
    const data = vector.data[0];
    return (data.values as ArrayLike<unknown> & { subarray(a: number, b: number): ArrayLike<unknown> })
      .subarray(0, data.length);
  }
  return vector.toArray() as ArrayLike<unknown>;
}

/** A column as plain JS values (int64 as numbers where exact). */
export function plainValues(vector: Vector): unknown[] {
  const out = new Array<unknown>(vector.length);
  decodeVectorInto(vector, out);
  return out;
}

function decodeVectorInto(vector: Vector, into: unknown[]): void {
  let at = 0;
  for (const data of vector.data) {
    decodeDataInto(data, into, at);
    at += data.length;
  }
}

/** One chunk's plain JS values: strings in one pass, booleans and numbers from their buffers, others as Arrow gives them. */
function decodeDataInto(data: Data, into: unknown[], at: number): void {
  const { type, length } = data;
  if (DataType.isUtf8(type)) {
    decodeUtf8Into(data as Data<typeof type>, into, at);
  } else if (DataType.isBool(type)) {
    const bits = data.values as Uint8Array;
    for (let i = 0; i < length; i++) {
      const bit = data.offset + i;
      into[at + i] = isNullAt(data, i) ? null : (bits[bit >> 3] & (1 << (bit & 7))) !== 0;
    }
  } else if (DataType.isInt(type) && type.bitWidth === 64) {
    int64Into(data, type.isSigned, into, at);
  } else if ((DataType.isInt(type) && type.bitWidth < 64) || (DataType.isFloat(type) && type.precision > 0)) {
    const values = data.values as Float64Array;
    for (let i = 0; i < length; i++) into[at + i] = isNullAt(data, i) ? null : values[i];
  } else {
    const values = columnValues(makeVector(data));
    for (let i = 0; i < length; i++) into[at + i] = values[i];
  }
}

/** int64 values as numbers where exact (read as two 32-bit halves, no BigInt), else as bigint. */
function int64Into(data: Data, signed: boolean, into: unknown[], at: number): void {
  const big = data.values as BigInt64Array | BigUint64Array;
  const halves = new Int32Array(big.buffer, big.byteOffset, data.length * 2);
  for (let i = 0; i < data.length; i++) {
    if (isNullAt(data, i)) { into[at + i] = null; continue; }
    const lo = halves[2 * i] >>> 0;
    const hi = signed ? halves[2 * i + 1] : halves[2 * i + 1] >>> 0;
    // |value| < 2^53 exactly when the high half is within ±2^21 (-2^53 itself is not a safe integer).
    into[at + i] = hi >= -2097152 && hi < 2097152 && !(hi === -2097152 && lo === 0) ? hi * 4294967296 + lo : big[i];
  }
}

/**
 * An array of `length` values that decodes them on the first read of anything but its length; a write
 * (set, define, delete) marks it changed, so it is rebuilt rather than mapped back to its vector.
 */
function lazyArray(length: number, decode: (into: unknown[]) => void, onChange: (array: object) => void): unknown[] {
  // Sized only when first read: a column handed back unread (a spread of the batch) costs no array.
  const target: unknown[] = [];
  let decoded = false;
  const values = () => {
    if (!decoded) { decoded = true; target.length = length; decode(target); }
    return target;
  };
  // util.inspect (console.log) shows a proxy's target without calling traps: show the values.
  Object.defineProperty(target, inspect.custom, { value: () => Array.from(values()), enumerable: false });
  let proxy: unknown[];
  const changed = () => onChange(proxy);
  proxy = new Proxy(target, {
    get: (t, key) => (key === "length" && !decoded ? length : (values(), t[key as keyof typeof t])),
    set: (t, key, value) => { values(); changed(); return Reflect.set(t, key, value); },
    has: (t, key) => { values(); return Reflect.has(t, key); },
    ownKeys: (t) => { values(); return Reflect.ownKeys(t); },
    getOwnPropertyDescriptor: (t, key) => { values(); return Reflect.getOwnPropertyDescriptor(t, key); },
    defineProperty: (t, key, descriptor) => { values(); changed(); return Reflect.defineProperty(t, key, descriptor); },
    deleteProperty: (t, key) => { values(); changed(); return Reflect.deleteProperty(t, key); },
  });
  return proxy;
}
