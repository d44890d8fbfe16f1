// Small record batches of one schema joined into few: Arrow's IPC writer and parquet-wasm's reader of it
// pay per batch and per column, so a block made of a batch UDF's 4096-row batches cost far more to write
// than the same rows in one batch. Consecutive batches are joined while the columns that are adjacent
// slices of the same buffers (input columns the UDF handed back) stay so: those are joined without a
// copy, the others (new columns) copied once. Batches of JOIN_ROWS rows or more are left as they are.
import { type Data, DataType, RecordBatch, Struct, Table, makeData } from "apache-arrow";
import { dataBytes } from "./arrow";

/** Batches of at least this many rows are written as they are (the reader's batches, whole row groups). */
const JOIN_ROWS = 16384;

type Typed = ArrayLike<number> & {
  buffer: ArrayBufferLike; byteOffset: number; BYTES_PER_ELEMENT: number; set(a: ArrayLike<number>, at: number): void; subarray(a: number, b: number): Typed;
  constructor: { new(n: number): Typed; new(b: ArrayBufferLike, o: number, n: number): Typed };
};

/** The table with its runs of small batches joined; the table itself where a column's type is not joined here (nested, dictionary, views, 64-bit offsets). */
export function joinBatches(table: Table): Table {
  const batches = table.batches.filter((b) => b.numRows > 0);
  if (batches.length <= 1 || !batches.some((b) => b.numRows < JOIN_ROWS)) return table;
  if (!batches.every((b) => b.data.children.every(joinable))) return table;
  const columns = table.schema.fields.map((_, c) => c);
  const out: RecordBatch[] = [];
  let group: RecordBatch[] = [];
  let zeroCopy: boolean[] | undefined;
  const flush = () => {
    if (group.length > 0) out.push(group.length > 1 ? joinGroup(table, group) : group[0]);
    group = [];
    zeroCopy = undefined;
  };
  for (const batch of batches) {
    if (batch.numRows >= JOIN_ROWS) {
      flush();
      out.push(batch);
      continue;
    }
    if (group.length > 0) {
      const last = group[group.length - 1];
      const adjacent = columns.map((c) => adjacentData(last.data.children[c], batch.data.children[c]));
      // Columns joined without a copy so far that would need one from here: where they are most of the
      // batch's bytes (the next row group, file or block), a new batch starts, so that a row group read
      // stays whole (see io/parquet-kept.ts); else they are copied once.
      let lost = 0;
      let total = 0;
      for (const c of columns) {
        const bytes = dataBytes(batch.data.children[c]);
        total += bytes;
        if (zeroCopy?.[c] && !adjacent[c]) lost += bytes;
      }
      if (2 * lost > total) flush();
      else zeroCopy = zeroCopy ? zeroCopy.map((z, c) => z && adjacent[c]) : adjacent;
    }
    group.push(batch);
  }
  flush();
  return new Table(table.schema, out);
}

function joinGroup(table: Table, group: RecordBatch[]): RecordBatch {
  const children = table.schema.fields.map((_, c) => joinData(group.map((b) => b.data.children[c])));
  const length = group.reduce((n, b) => n + b.numRows, 0);
  return new RecordBatch(table.schema, makeData({ type: new Struct(table.schema.fields), length, children, nullCount: 0 }));
}

const joinable = (d: Data): boolean => d.children.length === 0 && !d.dictionary && (DataType.isNull(d.type) || DataType.isBool(d.type) ||
  ((DataType.isUtf8(d.type) || DataType.isBinary(d.type)) && d.valueOffsets instanceof Int32Array) || (!d.valueOffsets && d.values !== undefined));

/** Whether b's rows follow a's in the same buffers (a's slice continued), so that both are one view. */
function adjacentData(a: Data, b: Data): boolean {
  if (!joinable(a)) return false;
  if (DataType.isNull(a.type)) return true;
  const nulls = a.nullCount + b.nullCount;
  if (nulls > 0 && !(a.nullBitmap === b.nullBitmap && b.offset === a.offset + a.length)) return false;
  if (DataType.isBool(a.type)) return a.values === b.values && b.offset === a.offset + a.length;
  const [x, y] = a.valueOffsets ? [a.valueOffsets, b.valueOffsets] as Typed[] : [a.values, b.values] as Typed[];
  if (a.valueOffsets && a.values !== b.values) return false;
  const end = x.byteOffset + (a.valueOffsets ? a.length : a.length * a.stride) * x.BYTES_PER_ELEMENT;
  return x.buffer === y.buffer && y.byteOffset === end;
}

/** One column's pieces as one Data: a view of their buffers where each continues the one before, else copied. */
function joinData(parts: Data[]): Data {
  const first = parts[0];
  const type = first.type as DataType;
  const length = parts.reduce((n, p) => n + p.length, 0);
  const nullCount = parts.reduce((n, p) => n + p.nullCount, 0);
  if (DataType.isNull(type)) return makeData({ type, length, nullCount: length });
  if (parts.every((p, i) => i === 0 || adjacentData(parts[i - 1], p))) {
    const span = first.valueOffsets
      ? { valueOffsets: new Int32Array(first.valueOffsets.buffer, first.valueOffsets.byteOffset, length + 1), data: first.values }
      : { data: DataType.isBool(type) ? first.values : new (first.values as Typed).constructor(first.values.buffer, first.values.byteOffset, length * first.stride) };
    return makeData({ type, length, nullCount, offset: first.offset, nullBitmap: nullCount > 0 ? first.nullBitmap : undefined, ...span } as Parameters<typeof makeData>[0]);
  }
  const nullBitmap = nullCount > 0 ? joinBits(parts, length, (p) => (p.nullCount > 0 ? p.nullBitmap : undefined)) : undefined;
  const copied = DataType.isBool(type) ? { data: joinBits(parts, length, (p) => p.values as Uint8Array) }
    : first.valueOffsets ? joinVariable(parts, length) : { data: joinTyped(parts, length * first.stride) };
  return makeData({ type, length, nullCount, nullBitmap, ...copied } as Parameters<typeof makeData>[0]);
}

/** Utf8 or Binary pieces copied: offsets rebased, bytes joined. */
function joinVariable(parts: Data[], length: number): { valueOffsets: Int32Array; data: Uint8Array } {
  const valueOffsets = new Int32Array(length + 1);
  let bytes = 0;
  for (const p of parts) bytes += p.valueOffsets[p.length] - p.valueOffsets[0];
  const data = new Uint8Array(bytes);
  let row = 0;
  let at = 0;
  for (const p of parts) {
    const offsets = p.valueOffsets as Int32Array;
    const start = offsets[0];
    for (let i = 1; i <= p.length; i++) valueOffsets[row + i] = offsets[i] - start + at;
    data.set((p.values as Uint8Array).subarray(start, offsets[p.length]), at);
    at += offsets[p.length] - start;
    row += p.length;
  }
  return { valueOffsets, data };
}

function joinTyped(parts: Data[], length: number): Typed {
  const out = new (parts[0].values as Typed).constructor(length);
  let at = 0;
  for (const p of parts) {
    const values = (p.values as Typed).subarray(0, p.length * p.stride);
    out.set(values, at);
    at += values.length;
  }
  return out;
}

/** The pieces' bits (from each piece's offset) in one new bitmap; a piece without a bitmap is all ones. */
function joinBits(parts: Data[], length: number, bits: (p: Data) => Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(((length + 63) & ~63) >> 3);
  let at = 0;
  for (const p of parts) {
    const source = bits(p);
    for (let i = 0; i < p.length; i++, at++) {
      const bit = p.offset + i;
      if (!source || (source[bit >> 3] & (1 << (bit & 7))) !== 0) out[at >> 3] |= 1 << (at & 7);
    }
  }
  return out;
}
