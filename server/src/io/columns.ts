// Column selection and constant columns for the blocks a read yields.
import { Field, RecordBatch, Schema, Struct, Table, Utf8, makeData, type Data } from "apache-arrow";
import { utf8Vector, type Block } from "../block";
import { IoError } from "./errors";
import { HIVE_NULL } from "./prune";

/**
 * The requested columns the file has (undefined: all); a missing one is an error unless optional. With
 * none of them there, the file's first column (its rows still count; the read's projection drops it).
 */
export function columnsToRead(available: string[], requested: string[] | undefined, file: string, optional: string[] = []): string[] | undefined {
  if (!requested) return undefined;
  const missing = requested.filter((name) => !available.includes(name));
  const required = missing.filter((name) => !optional.includes(name));
  if (required.length > 0) {
    const list = required.map((name) => `'${name}'`).join(", ");
    throw new IoError(`${file}: unknown column ${list} (the file has: ${available.join(", ")})`);
  }
  if (missing.length === 0) return requested;
  const present = requested.filter((name) => available.includes(name));
  return present.length > 0 ? present : available.slice(0, 1);
}

/** The requested columns in the requested order (a no-op without a projection). */
export function projectBlock(block: Block, columns: string[] | undefined): Block {
  return columns ? block.select(columns) : block;
}

/** Rebuilds a block batch by batch with new fields; `children` gives a batch's column data in field order. */
export function rebuildBlock(block: Block, fields: Field[], children: (batch: RecordBatch) => Data[]): Block {
  const schema = new Schema(fields, block.schema.metadata);
  return new Table(schema, block.batches.map((batch) => new RecordBatch(schema, makeData({
    type: new Struct(fields), length: batch.numRows, nullCount: 0, children: children(batch),
  }))));
}

/** Appends Utf8 columns holding one value each (partition keys, `path`), replacing same-named ones; Hive's null folder is null. */
export function withConstantColumns(block: Block, constants: [name: string, value: string][]): Block {
  if (constants.length === 0) return block;
  const replaced = new Set(constants.map(([name]) => name));
  const keptIndexes: number[] = [];
  block.schema.fields.forEach((field, i) => { if (!replaced.has(field.name)) keptIndexes.push(i); });
  const fields = [
    ...keptIndexes.map((i) => block.schema.fields[i]),
    ...constants.map(([name]) => new Field(name, new Utf8(), true)),
  ];
  return rebuildBlock(block, fields, (batch) => [
    ...keptIndexes.map((i) => batch.data.children[i]),
    ...constants.map(([, value]) => utf8Vector(new Array<string | null>(batch.numRows).fill(value === HIVE_NULL ? null : value)).data[0]),
  ]);
}
