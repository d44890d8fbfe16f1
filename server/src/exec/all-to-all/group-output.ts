// The results of many small UDF calls (one per group) gathered into blocks of about a target size:
// their columns' values are appended to one array per column and made into Arrow vectors once per
// block, instead of a block per call that would be concatenated (and written) batch by batch.
import { type Schema, Table, Vector } from "apache-arrow";
import { type Block, BlockError, type Columns, type Row, blockFromColumns, blockFromRows, concatBlocks, preview, takeRows } from "../../block";
import { identityIndices } from "./rows";

interface TypedArray extends ArrayLike<unknown> {
  readonly byteLength: number;
  constructor: new (n: number) => TypedArray;
  set(values: ArrayLike<unknown>, at: number): void;
  subarray(start: number, end: number): TypedArray;
}

/** One output column: values of typed arrays of one kind in one growing array of that kind (their type is the column's), else plain values. */
interface Column {
  typed?: TypedArray;
  length: number;
  plain?: unknown[];
}

const newColumn = (): Column => ({ length: 0 });

const isTypedArray = (v: unknown): v is TypedArray => ArrayBuffer.isView(v) && !(v instanceof DataView);

/** Made with the index of a result and its error: which group it came from, for the message. */
export type ResultError = (index: number, message: string) => Error;

export class GroupOutputs {
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

  constructor(private readonly hint: Schema, private readonly targetBytes: number, private readonly fail: ResultError) {}

  /** Adds the result of call `index`; a block once the results since the last one reach the target size. */
  add(result: unknown, index: number): Block | undefined {
    let out: Block | undefined;
    const switchTo = (mode: "columns" | "rows" | "blocks") => {
      if (this.mode !== mode && this.mode !== undefined) out = this.take();
      if (this.results === 0) this.firstResult = index;
      this.mode = mode;
      this.results++;
    };
    if (result instanceof Table) {
      switchTo("blocks");
      if (result.numRows > 0) this.addBlock(result);
    } else if (Array.isArray(result)) {
      switchTo("rows");
      for (const row of result) this.rows.push(row as Row);
      this.numRows += result.length;
      this.bytes += result.length * 8 * Math.max(1, this.hint.fields.length);
    } else if (result !== null && typeof result === "object") {
      const columns = result as Columns;
      const names = Object.keys(columns);
      if (names.some((name) => columns[name] instanceof Vector)) {
        switchTo("blocks");
        this.addBlock(this.shaped(index, () => blockFromColumns(columns, this.hint)));
      } else {
        if (this.mode === "columns" && !sameNames(names, this.names)) out = this.take();
        switchTo("columns");
        if (this.results === 1) {
          this.names = names;
          this.columns = names.map(newColumn);
        }
        this.addColumns(columns, names, index);
      }
    } else {
      throw this.fail(index, `a mapGroups UDF must return columns ({ name: array }), an array of rows or an Arrow Table, got ${preview(result)}`);
    }
    if (out) return out;
    return this.bytes >= this.targetBytes ? this.take() : undefined;
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

  private addColumns(columns: Columns, names: string[], index: number): void {
    let length: number | undefined;
    for (const name of names) {
      const values = columns[name] as ArrayLike<unknown>;
      if (values === null || values === undefined || typeof values.length !== "number") {
        throw this.fail(index, `column '${name}' is not an array (got ${preview(values)})`);
      }
      length ??= values.length;
      if (values.length !== length) throw this.fail(index, `column '${name}' has ${values.length} values but other columns have ${length}`);
    }
    for (let c = 0; c < names.length; c++) {
      const values = columns[names[c]] as ArrayLike<unknown>, column = this.columns[c];
      if (isTypedArray(values) && column.plain === undefined && (column.typed === undefined || column.typed.constructor === values.constructor)) {
        appendTyped(column, values);
        this.bytes += values.byteLength;
        continue;
      }
      column.plain ??= column.typed ? Array.from(column.typed.subarray(0, column.length) as ArrayLike<unknown>) : [];
      column.typed = undefined;
      const plain = column.plain;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        plain.push(v);
        this.bytes += typeof v === "string" ? 8 + v.length : 8;
      }
    }
    this.numRows += length ?? 0;
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

function sameNames(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

/** A column's values as one array. */
function joined(column: Column): ArrayLike<unknown> {
  if (column.plain) return column.plain;
  return column.typed ? column.typed.subarray(0, column.length) : [];
}
