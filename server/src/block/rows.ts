// Blocks to and from plain row objects for row UDFs. Rows of one schema share one shape (one object
// literal made by a function built once per schema), and rows handed back with one shape are read
// back column by column with a function built once per shape, without iterating each row's keys.
import type { Schema } from "apache-arrow";
import { type Block, type Row, BlockError, blockFromColumns, preview } from "./arrow";
import { plainValues } from "./columns";

type MakeRow = (columns: unknown[][], i: number) => Row;
type ReadColumns = (rows: Row[], columns: unknown[][]) => void;

const rowMakers = new Map<string, MakeRow>();
const columnReaders = new Map<string, ReadColumns>();
/** Shapes remembered at most; past this, the caches start again. */
const MAX_SHAPES = 256;

/** Names an object literal can carry as written: any but __proto__ (which sets the prototype). */
const literalSafe = (names: string[]) => !names.includes("__proto__");

function cached<F>(cache: Map<string, F>, names: string[], make: () => F): F {
  const key = names.join("\u0000");
  let fn = cache.get(key);
  if (!fn) {
    if (cache.size >= MAX_SHAPES) cache.clear();
    fn = make();
    cache.set(key, fn);
  }
  return fn;
}

function rowMaker(names: string[]): MakeRow {
  if (!literalSafe(names)) {
    return (columns, i) => {
      const row: Row = {};
      for (let c = 0; c < names.length; c++) Object.defineProperty(row, names[c], { value: columns[c][i], enumerable: true, writable: true, configurable: true });
      return row;
    };
  }
  return cached(rowMakers, names, () => new Function("c", "i", `return {${names.map((n, c) => `${JSON.stringify(n)}: c[${c}][i]`).join(", ")}};`) as MakeRow);
}

function columnReader(names: string[]): ReadColumns {
  return cached(columnReaders, names, () => new Function("rows", "c", `
    ${names.map((_, c) => `const c${c} = c[${c}];`).join(" ")}
    for (let i = 0; i < rows.length; i++) { const r = rows[i]; ${names.map((n, c) => `c${c}[i] = r[${JSON.stringify(n)}];`).join(" ")} }`) as ReadColumns);
}

export function blockToRows(block: Block): Row[] {
  const names = block.schema.fields.map((f) => f.name);
  const columns = names.map((name) => plainValues(block.getChild(name)!));
  const make = rowMaker(names);
  const rows = new Array<Row>(block.numRows);
  for (let i = 0; i < block.numRows; i++) rows[i] = make(columns, i);
  return rows;
}

const isRowObject = (row: unknown): row is Row => row !== null && typeof row === "object" && !Array.isArray(row);

/** The keys of the rows when every row has the same keys in the same order, else undefined. */
function sharedShape(rows: Row[]): string[] | undefined {
  if (rows.length === 0 || !isRowObject(rows[0])) return undefined;
  const names: string[] = [];
  for (const key in rows[0]) names.push(key);
  for (let i = 1; i < rows.length; i++) {
    const row = rows[i];
    if (!isRowObject(row)) return undefined;
    let k = 0;
    for (const key in row) if (key !== names[k++]) return undefined;
    if (k !== names.length) return undefined;
  }
  return names;
}

export function blockFromRows(rows: Row[], hint?: Schema): Block {
  const shape = sharedShape(rows);
  const names = shape ?? allKeys(rows);
  const columns = names.map(() => new Array<unknown>(rows.length));
  if (shape && literalSafe(shape)) {
    columnReader(shape)(rows, columns);
  } else {
    for (let c = 0; c < names.length; c++) for (let i = 0; i < rows.length; i++) columns[c][i] = rows[i][names[c]];
  }
  const named: Record<string, unknown[]> = Object.create(null) as Record<string, unknown[]>;
  for (let c = 0; c < names.length; c++) named[names[c]] = columns[c];
  return blockFromColumns(named, hint, undefined, rows.length);
}

/** Every key of any row, in the order first seen; a value that is no row object is an error. */
function allKeys(rows: Row[]): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    if (!isRowObject(row)) throw new BlockError(`expected each row to be an object, got ${preview(row)}`);
    for (const key in row) if (!seen.has(key)) { seen.add(key); names.push(key); }
  }
  return names;
}
