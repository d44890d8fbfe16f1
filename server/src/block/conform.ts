// One dataset, one schema: a block is brought to the dataset's schema by the lossless casts only —
// columns reordered, a missing column as nulls, an all-null column as nulls of the schema's type (or
// dropped when the schema has no such column), an integer as a float when exact and a float as an
// integer when whole — and otherwise refused.
import { DataType, type Field, Schema, type Vector, vectorFromArray } from "apache-arrow";
import { type Block, blockFromColumns, describeSchema, describeType, nullVector, preview } from "./arrow";

/** A block that does not fit the dataset's schema; `row` is the offending row's position in the block. */
export class SchemaMismatch extends Error {
  constructor(message: string, readonly column: string, readonly row: number | undefined) {
    super(message);
  }
}

export const sameSchema = (a: Schema, b: Schema): boolean => describeSchema(a) === describeSchema(b);

/**
 * The schema with each null-typed column (null in every row so far, so of no type yet) given the type
 * `later` has for it: how the first blocks' all-null columns get their type from a later block.
 */
export function refineSchema(schema: Schema, later: Schema): Schema {
  let changed = false;
  const fields = schema.fields.map((field) => {
    const other = later.fields.find((f) => f.name === field.name);
    if (!DataType.isNull(field.type) || !other || DataType.isNull(other.type)) return field;
    changed = true;
    return field.clone({ type: other.type });
  });
  return changed ? new Schema(fields, schema.metadata) : schema;
}

/** Files or blocks whose schemas are these can be one dataset's: the same columns in order, of the same types where neither is null-typed. */
export function compatibleSchemas(a: Schema, b: Schema): boolean {
  return a.fields.length === b.fields.length && a.fields.every((field, i) => {
    const other = b.fields[i];
    return field.name === other.name && (DataType.isNull(field.type) || DataType.isNull(other.type) || describeType(field.type) === describeType(other.type));
  });
}

/** Which column makes two schemas differ, e.g. "column 'x' is Float64 in a.parquet but Utf8 in b.parquet". */
export function schemaDifference(first: Schema, second: Schema, firstName: string, secondName: string): string {
  for (const field of first.fields) {
    const other = second.fields.find((f) => f.name === field.name);
    if (!other) return `column '${field.name}' is in ${firstName} but not in ${secondName}`;
    if (describeType(field.type) !== describeType(other.type)) {
      return `column '${field.name}' is ${describeType(field.type)} in ${firstName} but ${describeType(other.type)} in ${secondName}`;
    }
  }
  const extra = second.fields.find((f) => !first.fields.some((g) => g.name === f.name));
  return extra ? `column '${extra.name}' is in ${secondName} but not in ${firstName}` : `the columns are in another order in ${secondName}`;
}

/**
 * The block with exactly `schema`'s columns and types, cast only where no value changes; else a
 * SchemaMismatch naming the column, both types and the first row that does not fit (`rowName` says
 * where a block row is, e.g. "row 50000 of a.csv"; `fixedBy` what fixed the schema).
 */
export function conformBlock(
  block: Block, schema: Schema, rowName: (row: number) => string = (row) => `row ${row} of the block`, fixedBy = "its first block",
): Block {
  if (sameSchema(block.schema, schema)) return block;
  for (const field of block.schema.fields) {
    if (!schema.fields.some((f) => f.name === field.name)) {
      const row = firstPresent(block.getChild(field.name)!);
      if (row === undefined) continue; // null in every row: the same as absent, dropped
      throw new SchemaMismatch(`column '${field.name}' (${describeType(field.type)}, first set at ${rowName(row)}) is not in the dataset's ` +
        `schema {${describeSchema(schema)}}, which ${fixedBy} fixed (a key no row of a block has is no column: give it as null instead)`, field.name, row);
    }
  }
  const columns: Record<string, Vector> = {};
  for (const field of schema.fields) {
    const vector = block.getChild(field.name);
    columns[field.name] = vector ? castColumn(vector, field, rowName, fixedBy) : nullVector(field.type, block.numRows);
  }
  return blockFromColumns(columns, undefined, undefined, block.numRows);
}

function firstPresent(vector: Vector): number | undefined {
  for (let i = 0; i < vector.length; i++) if (vector.isValid(i)) return i;
  return undefined;
}

const isNumeric = (type: DataType) => DataType.isInt(type) || DataType.isFloat(type);

function castColumn(vector: Vector, field: Field, rowName: (row: number) => string, fixedBy: string): Vector {
  const from = describeType(vector.type), to = describeType(field.type);
  if (from === to) return vector;
  if (vector.nullCount === vector.length) return nullVector(field.type, vector.length);
  const refuse = (row: number, why: string) => new SchemaMismatch(
    `column '${field.name}' is ${to} in the dataset's schema (fixed by ${fixedBy}) but ${from} at ${rowName(row)} ` +
    `(${preview(vector.get(row))})${why}`, field.name, row);
  if (!isNumeric(vector.type) || !isNumeric(field.type)) throw refuse(firstPresent(vector)!, "");
  const values = new Array<number | bigint | null>(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const value = vector.get(i) as number | bigint | null;
    const cast = value === null ? null : castNumber(value, field.type);
    if (cast === undefined) throw refuse(i, `, which ${to} cannot hold exactly`);
    values[i] = cast;
  }
  return vectorFromArray(values, field.type);
}

/** The value in the target numeric type, or undefined when that would change it. */
function castNumber(value: number | bigint, type: DataType): number | bigint | undefined {
  if (DataType.isFloat(type)) {
    const asNumber = Number(value);
    return typeof value === "bigint" && BigInt(asNumber) !== value ? undefined : asNumber;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) return undefined;
  const whole = BigInt(value);
  const { bitWidth, isSigned } = type as DataType & { bitWidth: number; isSigned: boolean };
  const min = isSigned ? -(2n ** BigInt(bitWidth - 1)) : 0n;
  const max = isSigned ? 2n ** BigInt(bitWidth - 1) - 1n : 2n ** BigInt(bitWidth) - 1n;
  if (whole < min || whole > max) return undefined;
  return bitWidth === 64 ? whole : Number(whole);
}
