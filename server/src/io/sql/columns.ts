// Between query results and Arrow blocks: a typed column becomes its Arrow type (int → Int64, exact
// beyond 2^53; float → Float64; text → Utf8; bool → Bool; binary → Binary; null stays null), an untyped
// one is typed from its values; and a block's rows become insert parameters, in its columns' order.
import { Binary, Bool, DataType, Float64, Int64, makeData, makeVector, vectorFromArray, type Vector } from "apache-arrow";
import { blockFromColumns, columnValues, preview, utf8Vector, type Block } from "../../block";
import type { SqlColumn, SqlRows, SqlType, SqlValue } from "./types";

/** The value as the column's type holds it, or undefined when it cannot be (null stays null). */
const COERCE: Record<Exclude<SqlType, "unknown">, (value: unknown) => unknown> = {
  int: (v) => (typeof v === "bigint" ? v : typeof v === "number" && Number.isInteger(v) ? BigInt(v) : typeof v === "string" && /^-?\d+$/.test(v) ? BigInt(v) : undefined),
  float: (v) => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined),
  text: (v) => (typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : undefined),
  bool: (v) => (typeof v === "boolean" ? v : typeof v === "bigint" || typeof v === "number" ? Number(v) !== 0 : undefined),
  binary: (v) => (v instanceof Uint8Array ? v : typeof v === "string" ? new TextEncoder().encode(v) : undefined),
};

/** Validity bits for the non-null values (undefined when there is no null). */
function validity(values: unknown[]): { nullBitmap?: Uint8Array; nullCount: number } {
  let nullCount = 0;
  let bitmap: Uint8Array | undefined;
  values.forEach((v, i) => {
    if (v !== null) return;
    bitmap ??= new Uint8Array((values.length + 7) >> 3).fill(0xff);
    bitmap[i >> 3] &= ~(1 << (i & 7));
    nullCount++;
  });
  return { nullBitmap: bitmap, nullCount };
}

function typedVector(type: Exclude<SqlType, "unknown">, values: unknown[]): Vector {
  const length = values.length;
  switch (type) {
    case "int": {
      const data = new BigInt64Array(length);
      values.forEach((v, i) => { if (v !== null) data[i] = v as bigint; });
      return makeVector(makeData({ type: new Int64(), length, data, ...validity(values) }));
    }
    case "float": {
      const data = new Float64Array(length);
      values.forEach((v, i) => { if (v !== null) data[i] = v as number; });
      return makeVector(makeData({ type: new Float64(), length, data, ...validity(values) }));
    }
    case "text": return utf8Vector(values as (string | null)[]);
    case "bool": return vectorFromArray(values as (boolean | null)[], new Bool());
    case "binary": return vectorFromArray(values as (Uint8Array | null)[], new Binary());
  }
}

/**
 * One block of a query's rows. `firstRow` is the position of the first of them in the query's result and
 * `where` names the read, for errors (a value its column's type cannot hold, two columns of one name).
 */
export function blockFromSqlRows({ columns, rows }: SqlRows, firstRow: number, where: string): Block {
  const vectors: Record<string, Vector | unknown[]> = {};
  columns.forEach((column: SqlColumn, c) => {
    if (column.name in vectors) throw new Error(`${where}: the query returns two columns named '${column.name}'; give them different names (AS)`);
    const raw = rows.map((row) => row[c] ?? null);
    if (column.type === "unknown") { vectors[column.name] = untyped(raw); return; }
    const coerce = COERCE[column.type];
    vectors[column.name] = typedVector(column.type, raw.map((value, r) => {
      if (value === null) return null;
      const typed = coerce(value);
      if (typed === undefined) {
        throw new Error(`${where}: column '${column.name}' is of type ${column.type} but row ${firstRow + r} of the result holds ${preview(value, 80)}`);
      }
      return typed;
    }));
  });
  return blockFromColumns(vectors, undefined, undefined, rows.length);
}

/** An untyped column's values: integers among fractions become numbers too, so the column is Float64. */
function untyped(values: unknown[]): unknown[] {
  const fractions = values.some((v) => typeof v === "number" && !Number.isInteger(v));
  return fractions ? values.map((v) => (typeof v === "bigint" ? Number(v) : v)) : values;
}

/** A block's rows as insert parameters: integers as bigint (exact), nested values as JSON text. */
export function sqlParameters(block: Block): SqlValue[][] {
  const columns = block.schema.fields.map((field) => {
    const values = columnValues(block.getChild(field.name)!);
    if (DataType.isInt(field.type)) return values.map((v) => (v === null ? null : BigInt(v as number | bigint)));
    return values.map((v): SqlValue => (v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !(v instanceof Date)
      ? JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x)) : v as SqlValue));
  });
  const rows = new Array<SqlValue[]>(block.numRows);
  for (let r = 0; r < block.numRows; r++) rows[r] = columns.map((values) => values[r]);
  return rows;
}
