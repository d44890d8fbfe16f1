// Blocks are Apache Arrow tables. This module converts between blocks and the shapes UDFs see
// (plain rows, plain columns), and moves blocks across thread boundaries as IPC bytes.
import {
  Binary, Bool, Data, Precision, DataType, Field, Float64, Int64, Null, Schema, Table, TimestampMillisecond, Type,
  Utf8, Vector, makeData, makeVector, tableFromIPC, tableToIPC, vectorFromArray, RecordBatch, Struct, List,
} from "apache-arrow";
import { RdpipeError } from "../errors";
import { decimalVector, decimalsInto } from "./decimal";
import { utf8Vector } from "./utf8";

export type Block = Table;
export type Row = Record<string, unknown>;
export type Columns = Record<string, ArrayLike<unknown> | Vector>;
export type BatchFormat = "rows" | "columns" | "arrow";

export class BlockError extends RdpipeError {
  readonly code = "input";
}

export function blockBytes(block: Block): number {
  let total = 0;
  for (const batch of block.batches) total += batchBytes(batch);
  return total;
}

export function batchBytes(batch: RecordBatch): number {
  return dataBytes(batch.data);
}

/** Bytes a (possibly sliced) column holds: a slice counts only its own rows, not the shared buffers. */
export function dataBytes(data: Data): number {
  const { offset, length } = data;
  let total = data.nullBitmap && data.nullCount > 0 ? Math.ceil(length / 8) : 0;
  const offsets = data.valueOffsets as ArrayLike<number | bigint> & { BYTES_PER_ELEMENT: number } | undefined;
  // Arrow JS slices the offsets with the rows (the view starts at the slice's first row); offsets made
  // whole are indexed from `offset`.
  const first = offsets?.length === length + 1 ? 0 : offset;
  if (offsets && offsets.length > first + length) {
    total += (length + 1) * offsets.BYTES_PER_ELEMENT;
    if (data.values) total += Number(offsets[first + length]) - Number(offsets[first]);
  } else if (data.values) {
    total += DataType.isBool(data.type) ? Math.ceil(length / 8)
      : Math.min(data.values.byteLength, length * data.stride * (data.values as Uint8Array).BYTES_PER_ELEMENT);
  }
  for (const child of data.children) total += dataBytes(child);
  if (data.dictionary) for (const d of data.dictionary.data) total += dataBytes(d);
  return total;
}

export function blockToIPC(block: Block): Uint8Array {
  return tableToIPC(block, "stream");
}

export function blockFromIPC(bytes: Uint8Array): Block {
  return tableFromIPC(bytes);
}

/** A schema alone (a block of no rows), to send between threads. */
export function schemaToIPC(schema: Schema): Uint8Array {
  return tableToIPC(new Table(schema), "stream");
}

export function schemaFromIPC(bytes: Uint8Array): Schema {
  return tableFromIPC(bytes).schema;
}

export function emptyBlock(schema: Schema = new Schema([])): Block {
  return new Table(schema);
}

export function sliceBlock(block: Block, start: number, end: number): Block {
  return block.slice(start, end);
}

/** Splits a block into pieces of at most maxBytes (by row count proportion), never below one row. */
export function splitBlockBySize(block: Block, maxBytes: number): Block[] {
  const bytes = blockBytes(block);
  if (bytes <= maxBytes || block.numRows <= 1) return [block];
  const pieces = Math.ceil(bytes / maxBytes);
  const rowsPerPiece = Math.ceil(block.numRows / pieces);
  const out: Block[] = [];
  for (let start = 0; start < block.numRows; start += rowsPerPiece) {
    out.push(block.slice(start, Math.min(block.numRows, start + rowsPerPiece)));
  }
  return out;
}

export function describeSchema(schema: Schema): string {
  return schema.fields.map((f) => `${f.name}: ${describeType(f.type)}`).join(", ");
}

export function describeType(type: DataType): string {
  // Dictionary-encoded strings and plain strings are the same column to a user.
  if (DataType.isDictionary(type)) return describeType(type.dictionary);
  if (type.typeId === Type.LargeUtf8) return "Utf8";
  return String(type);
}

/** Throws when two schemas differ in column names or (logical) types; `where` says what was being done. */
export function assertSameSchema(expected: Schema, actual: Schema, where: string): void {
  if (describeSchema(expected) !== describeSchema(actual)) {
    throw new BlockError(
      `schema mismatch ${where}: expected {${describeSchema(expected)}} but found {${describeSchema(actual)}}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Blocks → what UDFs see

/** Converts an Arrow value to a plain JS value: int64 → number when exact, structs → objects. */
function plainValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "bigint":
      return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
    case "object": {
      if (value instanceof Vector) return Array.from(value, plainValue);
      if (value instanceof Uint8Array || value instanceof Date) return value;
      const json = (value as { toJSON?: () => unknown }).toJSON;
      if (typeof json === "function") {
        const obj = json.call(value) as Record<string, unknown>;
        if (Array.isArray(obj)) return obj.map(plainValue);
        const out: Row = {};
        for (const key of Object.keys(obj)) out[key] = plainValue(obj[key]);
        return out;
      }
      return value;
    }
    default:
      return value;
  }
}

/** One row's plain value, as columnValues gives it: for reading a few rows of a long column. */
export function valueAt(vector: Vector, row: number): unknown {
  if (DataType.isDecimal(vector.type)) return columnValues(vector.slice(row, row + 1))[0];
  return plainValue(vector.get(row));
}

/** A column as a plain JS array of plain values. */
export function columnValues(vector: Vector): unknown[] {
  const type = vector.type;
  if (DataType.isDecimal(type)) {
    const out = new Array<unknown>(vector.length);
    let at = 0;
    for (const data of vector.data) { decimalsInto(data, out, at); at += data.length; }
    return out;
  }
  if (DataType.isInt(type) && type.bitWidth === 64 && vector.nullCount === 0) return Array.from(vector.toArray() as BigInt64Array, plainValue);
  // A half float's buffer holds 16-bit patterns: its values come from get().
  if (DataType.isInt(type) || (DataType.isFloat(type) && type.precision !== Precision.HALF) || DataType.isBool(type) || DataType.isUtf8(type) ||
    DataType.isDictionary(type)) {
    const values = vector.nullCount === 0 ? Array.from(vector.toArray() as ArrayLike<unknown>) : null;
    if (values && !DataType.isDictionary(type)) return values;
  }
  const out = new Array<unknown>(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = plainValue(vector.get(i));
  return out;
}


// ---------------------------------------------------------------------------------------------
// What UDFs return → blocks


/** What a batch UDF was handed: a column it gives back as it was is that original vector. */
export interface ColumnOrigins { original(values: unknown): Vector | undefined }

export function blockFromColumns(columns: Columns, hint?: Schema, reuse?: ColumnOrigins, numRows?: number): Block {
  const vectors: Record<string, Vector> = Object.create(null) as Record<string, Vector>;
  let length = numRows;
  for (const name of Object.keys(columns)) {
    const values = columns[name];
    if (values === null || values === undefined || typeof values.length !== "number") {
      throw new BlockError(`column '${name}' is not an array (got ${preview(values)})`);
    }
    if (length === undefined) length = values.length;
    if (values.length !== length) {
      throw new BlockError(`column '${name}' has ${values.length} values but other columns have ${length}`);
    }
    vectors[name] = reuse?.original(values) ?? (values instanceof Vector ? values : buildVector(name, values, hint?.fields.find((f) => f.name === name)));
  }
  const names = Object.keys(vectors);
  if (names.length === 0) return emptyBlock();
  // Multi-chunk columns: Arrow's Table constructor aligns their chunk boundaries.
  if (names.some((n) => vectors[n].data.length !== 1)) return new Table(vectors);
  const schema = schemaOf(names, vectors);
  const structData = makeData({ type: new Struct(schema.fields), length: length!, children: names.map((n) => vectors[n].data[0]), nullCount: 0 });
  return new Table(schema, [new RecordBatch(schema, structData)]);
}

/** The schema last built from columns, reused while the columns repeat: one UDF's batches share one Schema (compared by identity downstream). */
let lastSchema: Schema | undefined;

function schemaOf(names: string[], vectors: Record<string, Vector>): Schema {
  // Nested and dictionary types only when the very same (a dictionary's id is in its type).
  const flat = (t: DataType) => !DataType.isDictionary(t) && !(t.children?.length > 0);
  const sameType = (a: DataType, b: DataType) => a === b || (flat(a) && flat(b) && a.typeId === b.typeId && String(a) === String(b)
    && (a as { bitWidth?: number }).bitWidth === (b as { bitWidth?: number }).bitWidth);
  if (lastSchema?.fields.length === names.length && lastSchema.fields.every((f, i) => f.name === names[i] && sameType(f.type, vectors[names[i]].type))) return lastSchema;
  lastSchema = new Schema(names.map((n) => new Field(n, vectors[n].type, true)));
  return lastSchema;
}

function buildVector(name: string, values: ArrayLike<unknown>, hint?: Field): Vector {
  if (ArrayBuffer.isView(values) && !(values instanceof DataView)) return makeVector(values as Int32Array);
  // Arrow's builders take only null as missing (undefined becomes NaN or false): a missing value is null.
  const arr = Array.prototype.includes.call(values, undefined)
    ? Array.from(values as unknown[], (v) => (v === undefined ? null : v)) : values as unknown[];
  // A decimal column takes decimal strings (as it is read), numbers and bigints, mixed.
  const hintType = hint?.type;
  if (hintType && DataType.isDecimal(hintType) && arr.some((v) => v !== null) &&
    Array.prototype.every.call(arr, (v) => v === null || typeof v === "string" || typeof v === "number" || typeof v === "bigint")) {
    const built = decimalVector(arr, hintType);
    if ("vector" in built) return built.vector;
    throw new BlockError(`column '${name}' row ${built.badRow}: ${preview(arr[built.badRow])} is not a decimal(${hintType.precision}, ${hintType.scale})`);
  }
  let kind: string | null = null;
  let firstRow = -1;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (v === null || v === undefined) continue;
    const k = valueKind(v);
    if (kind === null) { kind = k; firstRow = i; } else if (k !== kind) {
      if ((kind === "number" && k === "bigint") || (kind === "bigint" && k === "number")) { kind = "bigint-mixed"; continue; }
      if (kind === "bigint-mixed" && (k === "number" || k === "bigint")) continue;
      throw new BlockError(
        `column '${name}' has mixed types: ${kind} at row ${firstRow} (${preview(arr[firstRow])}) and ${k} at row ${i} (${preview(v)})`);
    }
  }
  switch (kind) {
    case null:
      // No value and no hint: the null type, which a later block's values give a type to (see conform.ts).
      // Strings from rows are plain Utf8 (as below), also where the hint is dictionary-encoded (parquet-wasm
      // decodes all-null pages so): one column, one type.
      return nullVector((hintType && DataType.isDictionary(hintType) ? hintType.dictionary : hintType) ?? new Null(), arr.length);
    case "number":
      if (hintType && noNulls(arr)) {
        const typed = numbersAs(arr as number[], hintType);
        if (typed) return typed;
      }
      if (hintType && DataType.isInt(hintType) && arr.every((v) => v == null || Number.isInteger(v))) {
        return vectorFromArray(hintType.bitWidth === 64 ? arr.map((v) => (v == null ? null : BigInt(v as number))) : arr, hintType);
      }
      if (hintType && DataType.isFloat(hintType)) return vectorFromArray(arr, hintType);
      return noNulls(arr) ? makeVector(Float64Array.from(arr as number[])) : vectorFromArray(arr, new Float64());
    case "bigint":
    case "bigint-mixed":
      return vectorFromArray(arr.map((v) => (v == null ? null : BigInt(v as number))), new Int64());
    case "string":
      return utf8Vector(arr as (string | null)[]);
    case "boolean":
      return noNulls(arr) ? packedBools(arr as boolean[]) : vectorFromArray(arr, new Bool());
    case "date":
      return vectorFromArray(arr.map((v) => (v == null ? null : (v as Date).getTime())), new TimestampMillisecond());
    case "bytes":
      return vectorFromArray(arr, new Binary());
    default:
      try {
        const type = inferNestedType(arr);
        return vectorFromArray(arr.map((v) => withNulls(v, type)), type);
      } catch (e) {
        throw new BlockError(`column '${name}' holds values Arrow cannot store (${preview(arr[firstRow])}): ${(e as Error).message}`);
      }
  }
}

/** A nested value with every missing part null (undefined, a struct's absent key), as Arrow takes only null as missing. */
function withNulls(value: unknown, type: DataType): unknown {
  if (value === undefined || value === null) return null;
  if (DataType.isList(type) && Array.isArray(value)) return value.map((item) => withNulls(item, type.children[0].type));
  if (DataType.isStruct(type) && typeof value === "object") {
    const out: Row = {};
    for (const field of type.children) out[field.name] = withNulls((value as Row)[field.name], field.type);
    return out;
  }
  return value;
}

/** The Arrow type of nested JS values (lists, objects), from their non-null leaves. */
function inferNestedType(values: unknown[]): DataType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return new Utf8();
  switch (valueKind(present[0])) {
    case "number": return new Float64();
    case "bigint": return new Int64();
    case "string": return new Utf8();
    case "boolean": return new Bool();
    case "date": return new TimestampMillisecond();
    case "bytes": return new Binary();
    case "array": return new List(new Field("item", inferNestedType(present.flatMap((v) => v as unknown[])), true));
    case "object": {
      const keys = [...new Set(present.flatMap((v) => Object.keys(v as object)))];
      return new Struct(keys.map((k) => new Field(k, inferNestedType(present.map((v) => (v as Row)[k])), true)));
    }
    default: throw new BlockError(`cannot store values like ${preview(present[0])}`);
  }
}

function valueKind(v: unknown): string {
  switch (typeof v) {
    case "number": case "bigint": case "string": case "boolean": return typeof v;
    case "object":
      if (v instanceof Date) return "date";
      if (v instanceof Uint8Array) return "bytes";
      return Array.isArray(v) ? "array" : "object";
    default:
      return typeof v;
  }
}

/** Numbers without nulls in a numeric type, straight into its typed array: no builder, no BigInt (int64 only for safe integers). */
function numbersAs(arr: number[], type: DataType): Vector | null {
  const n = arr.length;
  if (DataType.isFloat(type) && type.precision !== Precision.HALF) {
    return makeVector(makeData({ type, length: n, nullCount: 0, data: (type.precision === Precision.DOUBLE ? Float64Array : Float32Array).from(arr) }));
  }
  if (!DataType.isInt(type)) return null;
  if (type.bitWidth < 64) {
    for (let i = 0; i < n; i++) if (!Number.isInteger(arr[i])) return null;
    return makeVector(makeData({ type, length: n, nullCount: 0, data: (type.ArrayType as unknown as { from(a: number[]): Int32Array }).from(arr) }));
  }
  const halves = new Int32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const v = arr[i];
    if (!Number.isSafeInteger(v) || (v < 0 && !type.isSigned)) return null;
    const hi = Math.floor(v / 4294967296);
    halves[2 * i] = v - hi * 4294967296;
    halves[2 * i + 1] = hi;
  }
  const data = type.isSigned ? new BigInt64Array(halves.buffer) : new BigUint64Array(halves.buffer);
  return makeVector(makeData({ type, length: n, nullCount: 0, data }));
}

function packedBools(arr: boolean[]): Vector {
  const bits = new Uint8Array((arr.length + 7) >> 3);
  for (let i = 0; i < arr.length; i++) if (arr[i]) bits[i >> 3] |= 1 << (i & 7);
  return makeVector(makeData({ type: new Bool(), length: arr.length, nullCount: 0, data: bits }));
}

function noNulls(arr: unknown[]): boolean {
  for (const v of arr) if (v === null || v === undefined) return false;
  return true;
}

export function nullVector(type: DataType, length: number): Vector {
  if (DataType.isNull(type)) return makeVector(makeData({ type, length, nullCount: length }));
  return vectorFromArray(new Array(length).fill(null), type);
}

export function preview(value: unknown, max = 300): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

