// The results of many small UDF calls (one per group) gathered into blocks of about a target size:
// their columns' values are appended to one array per column and made into Arrow vectors once per
// block, instead of a block per call that would be concatenated (and written) batch by batch.
import { Schema, Table, Vector } from "apache-arrow";
import { type Block, BlockError, type Columns, type Row, blockFromColumns, blockFromRows, concatBlocks, preview, takeRows } from "../../block";
import { identityIndices } from "./rows";

interface TypedArray extends ArrayLike<unknown> {
  readonly byteLength: number;
  constructor: new (n: number) => TypedArray;
  set(values: ArrayLike<unknown>, at: number): void;
  subarray(start: number, end: number): TypedArray;
}

/**
 * One output column: values of typed arrays of one kind in one growing array of that kind (their type is
 * the column's); plain numbers in a growing Float64Array (pushing to a JS array is several times slower),
 * given back as plain numbers; else plain values.
 */
interface Column {
  typed?: TypedArray;
  numbers?: Float64Array;
  length: number;
  plain?: unknown[];
}

const newColumn = (): Column => ({ typed: undefined, numbers: undefined, length: 0, plain: undefined });

const isTypedArray = (v: unknown): v is TypedArray => ArrayBuffer.isView(v) && !(v instanceof DataView);

/** Made with the index of a result and its error: which group it came from, for the message. */
export type ResultError = (index: number, message: string) => Error;

export class GroupOutputs {
  /** One instance that lives as long as the worker, for the optimized code of its methods (see KeyTable.alive). */
  static readonly alive = new GroupOutputs(new Schema([]), 0, (_, message) => new Error(message));
  private names: string[] = [];
  private columns: Column[] = [];
  private rows: Row[] = [];
  private blocks: Block[] = [];
  private mode: "columns" | "rows" | "blocks" | undefined;
  private numRows = 0;
  private bytes = 0;
  /** Results gathered since the last block, and the first of them, to name them when they do not make one block. */
  private results = 0;
  private firstResult = 0;
  /** The values of each column of the result being added, read once; by `reader` while its names are `names`. */
  private values: unknown[] = [];
  private reader: ColumnReader | undefined;

  constructor(private readonly hint: Schema, private readonly targetBytes: number, private readonly fail: ResultError) {}

  /** Adds the result of call `index`; a block once the results since the last one reach the target size. */
  add(result: unknown, index: number): Block | undefined {
    let out: Block | undefined;
    if (result instanceof Table) {
      out = this.switchTo("blocks", index);
      if (result.numRows > 0) this.addBlock(result);
    } else if (Array.isArray(result)) {
      out = this.switchTo("rows", index);
      for (const row of result) this.rows.push(row as Row);
      this.numRows += result.length;
      this.bytes += result.length * 8 * Math.max(1, this.hint.fields.length);
    } else if (result !== null && typeof result === "object") {
      const columns = result as Columns;
      const same = this.mode === "columns" && hasNames(columns, this.names);
      const names = same ? this.names : Object.keys(columns), values = this.values;
      if (same) this.reader!(columns, values);
      else {
        values.length = names.length;
        for (let c = 0; c < names.length; c++) values[c] = columns[names[c]];
      }
      if (hasVector(values)) {
        out = this.switchTo("blocks", index);
        this.addBlock(this.shaped(index, () => blockFromColumns(columns, this.hint)));
      } else {
        // Other names than the results before: those make a block of their own (then switchTo starts a new run).
        if (!same && this.mode === "columns") out = this.take();
        const before = this.switchTo("columns", index);
        out ??= before;
        if (this.results === 1) {
          this.names = names;
          this.columns = names.map(newColumn);
          this.reader = readerOf(names);
        }
        this.addColumns(values, names, index);
      }
    } else {
      throw this.fail(index, `a mapGroups UDF must return columns ({ name: array }), an array of rows or an Arrow Table, got ${preview(result)}`);
    }
    if (out) return out;
    return this.bytes >= this.targetBytes ? this.take() : undefined;
  }

  /** Counts result `index` as one of `mode`; the results gathered before it as a block when they were of another mode. */
  private switchTo(mode: "columns" | "rows" | "blocks", index: number): Block | undefined {
    const out = this.mode !== mode && this.mode !== undefined ? this.take() : undefined;
    if (this.results === 0) this.firstResult = index;
    this.mode = mode;
    this.results++;
    return out;
  }

  /** The results not yet in a block, as one; undefined when there are none. */
  take(): Block | undefined {
    const mode = this.mode;
    this.mode = undefined;
    if (this.results === 0 || mode === undefined) return undefined;
    const [first, count] = [this.firstResult, this.results];
    this.results = 0;
    this.bytes = 0;
    const rows = this.numRows;
    this.numRows = 0;
    const shaped = (make: () => Block) => {
      try {
        return make();
      } catch (e) {
        if (count === 1) throw this.fail(first, (e as Error).message);
        throw this.fail(first, `the results of ${count} groups from this one on do not make one block: ${(e as Error).message}`);
      }
    };
    if (mode === "rows") {
      const list = this.rows;
      this.rows = [];
      return list.length === 0 ? undefined : shaped(() => blockFromRows(list, this.hint));
    }
    if (mode === "blocks") {
      const blocks = this.blocks;
      this.blocks = [];
      // One contiguous batch per block, not one per call: a file writer writes each batch on its own.
      if (blocks.length <= 1) return blocks[0];
      return shaped(() => {
        const all = concatBlocks(blocks);
        return takeRows(all, identityIndices(all.numRows));
      });
    }
    const names = this.names, columns = this.columns;
    this.columns = [];
    const out: Columns = Object.create(null) as Columns;
    names.forEach((name, c) => { out[name] = joined(columns[c]); });
    return shaped(() => blockFromColumns(out, this.hint, undefined, rows));
  }

  private addBlock(block: Block): void {
    this.blocks.push(block);
    this.numRows += block.numRows;
    this.bytes += block.numRows * 8 * Math.max(1, block.numCols);
  }

  /** Adds a result's columns: `all[c]` the values of column `names[c]`. */
  private addColumns(all: unknown[], names: string[], index: number): void {
    let length = -1;
    for (let c = 0; c < names.length; c++) {
      const values = all[c] as ArrayLike<unknown>;
      if (values === null || values === undefined || typeof values.length !== "number") {
        throw this.fail(index, `column '${names[c]}' is not an array (got ${preview(values)})`);
      }
      if (length === -1) length = values.length;
      else if (values.length !== length) throw this.fail(index, `column '${names[c]}' has ${values.length} values but other columns have ${length}`);
    }
    for (let c = 0; c < names.length; c++) {
      const values = all[c] as ArrayLike<unknown>, column = this.columns[c];
      if (column.plain === undefined) {
        if (isTypedArray(values)) {
          if (column.numbers === undefined && (column.typed === undefined || column.typed.constructor === values.constructor)) {
            appendTyped(column, values);
            this.bytes += values.byteLength;
            continue;
          }
        } else if (column.typed === undefined && appendNumbers(column, values)) {
          this.bytes += 8 * values.length;
          continue;
        }
        column.plain = column.typed || column.numbers ? Array.from(joined(column)) : [];
        column.typed = column.numbers = undefined;
      }
      this.bytes += appendPlain(column.plain, values);
    }
    this.numRows += Math.max(0, length);
  }

  private shaped(index: number, make: () => Block): Block {
    try {
      return make();
    } catch (e) {
      if (e instanceof BlockError) throw this.fail(index, e.message);
      throw e;
    }
  }
}

/** Whether the object's own enumerable keys are `names`, in that order (without making the list of them). */
function hasNames(columns: Columns, names: string[]): boolean {
  let i = 0;
  for (const name in columns) {
    if (names[i] !== name || !Object.prototype.hasOwnProperty.call(columns, name)) return false;
    i++;
  }
  return i === names.length;
}

function hasVector(values: unknown[]): boolean {
  for (let c = 0; c < values.length; c++) if (values[c] instanceof Vector) return true;
  return false;
}

type ColumnReader = (columns: Columns, out: unknown[]) => void;

/** Made once per worker per list of names. */
const readers = new Map<string, ColumnReader>();

/** Reads the named columns of a result into `out` by name (a call site per column: V8 keeps each one monomorphic, a read by a variable name is not). */
function readerOf(names: string[]): ColumnReader {
  const key = JSON.stringify(names);
  let reader = readers.get(key);
  if (reader) return reader;
  if (readers.size >= 256) readers.clear();
  reader = new Function("o", "out", names.map((name, c) => `out[${c}] = o[${JSON.stringify(name)}];`).join(" ")) as ColumnReader;
  readers.set(key, reader);
  return reader;
}

/** Appends the values; their estimated bytes. */
function appendPlain(plain: unknown[], values: ArrayLike<unknown>): number {
  let bytes = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    plain.push(v);
    bytes += typeof v === "string" ? 8 + v.length : 8;
  }
  return bytes;
}

/** Appends typed values to the column's array of their kind, grown by doubling (copied: a group's view may change with its input). */
function appendTyped(column: Column, values: TypedArray): void {
  const needed = column.length + values.length;
  if (column.typed === undefined || needed > column.typed.length) {
    const grown = new values.constructor(Math.max(needed, 2 * (column.typed?.length ?? 0), 64));
    if (column.typed) grown.set(column.typed.subarray(0, column.length), 0);
    column.typed = grown;
  }
  column.typed.set(values, column.length);
  column.length = needed;
}

/** Appends the values when they are all numbers (and the column holds numbers or nothing yet); whether it did. */
function appendNumbers(column: Column, values: ArrayLike<unknown>): boolean {
  const n = values.length;
  for (let i = 0; i < n; i++) if (typeof values[i] !== "number") return false;
  const needed = column.length + n;
  if (column.numbers === undefined || needed > column.numbers.length) {
    const grown = new Float64Array(Math.max(needed, 2 * (column.numbers?.length ?? 0), 64));
    if (column.numbers) grown.set(column.numbers.subarray(0, column.length), 0);
    column.numbers = grown;
  }
  const numbers = column.numbers;
  for (let i = 0, at = column.length; i < n; i++, at++) numbers[at] = values[i] as number;
  column.length = needed;
  return true;
}

/** A column's values as one array (plain numbers as a plain array, as the UDF gave them). */
function joined(column: Column): ArrayLike<unknown> {
  if (column.plain) return column.plain;
  if (column.numbers) {
    const out = new Array<number>(column.length);
    for (let i = 0; i < out.length; i++) out[i] = column.numbers[i];
    return out;
  }
  return column.typed ? column.typed.subarray(0, column.length) : [];
}
