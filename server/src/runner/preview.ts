// A job's typed preview: the rows a plan without a write returns, as JSON-safe cells with their Arrow
// fields, and a per-column summary (min, max, nulls) over those rows for the panel's grid.
import type { Schema, Table } from "apache-arrow";
import { blockToRows } from "../block";
import type { ColumnSummary, FieldInfo, JobPreview, PreviewCell } from "../contract";

export function schemaFields(schema: Schema): FieldInfo[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
}

export function previewOf(table: Table): JobPreview {
  const fields = schemaFields(table.schema);
  const rows = blockToRows(table);
  const columns = fields.map((field) => rows.map((row) => row[field.name]));
  return {
    fields,
    rows: rows.map((_, r) => columns.map((values) => toCell(values[r]))),
    summary: columns.map(summarize),
  };
}

/** A value as JSON holds it exactly; what JSON cannot hold becomes a string (the field's type says what it was). */
export function toCell(value: unknown): PreviewCell {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string": case "boolean": return value;
    case "number": return Number.isFinite(value) ? value : String(value);
    case "bigint": return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : String(value);
    case "object": {
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
      if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
      if (Array.isArray(value)) return value.map(toCell);
      return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, toCell(v)]));
    }
    default: return String(value);
  }
}

type Ordered = number | bigint | string | boolean | Date;

/** A value that orders against the column's others (NaN, lists, structs and binary do not). */
function ordered(value: unknown): value is Ordered {
  switch (typeof value) {
    case "number": return !Number.isNaN(value);
    case "bigint": case "string": case "boolean": return true;
    default: return value instanceof Date && !Number.isNaN(value.getTime());
  }
}

/** Min, max and nulls of one column's values (an int64 column mixes numbers and bigints, which `<` compares exactly). */
export function summarize(values: unknown[]): ColumnSummary {
  let nulls = 0;
  let min: Ordered | undefined;
  let max: Ordered | undefined;
  for (const value of values) {
    if (value === null || value === undefined) { nulls++; continue; }
    if (!ordered(value)) continue;
    if (min === undefined || value < min) min = value;
    if (max === undefined || value > max) max = value;
  }
  return min === undefined ? { nulls } : { min: toCell(min), max: toCell(max), nulls };
}

/**
 * The preview's rows as `rdpipe run` prints them, `{id: 1, name: "a"}`, read back from the typed cells
 * (the only form a job's result carries): an int64 JSON could not hold prints as `123n`, binary as
 * `<N bytes>`, NaN, infinities and timestamps bare.
 */
export function previewLines(preview: JobPreview): string[] {
  const texts = preview.fields.map((field) => /^(Large)?Utf8$|, (Large)?Utf8>$/.test(field.type));
  return preview.rows.map((row) => `{${preview.fields.map((field, c) => `${field.name}: ${cellText(row[c], field.type, texts[c])}`).join(", ")}}`);
}

function cellText(cell: PreviewCell, type: string, text: boolean): string {
  if (typeof cell !== "string") return cell !== null && typeof cell === "object" ? JSON.stringify(cell) : String(cell);
  if (text) return JSON.stringify(cell);
  if (/^U?[Ii]nt64$/.test(type)) return `${cell}n`;
  if (/^(Large)?Binary$|^FixedSizeBinary/.test(type)) return `<${Buffer.from(cell, "base64").length} bytes>`;
  return cell;
}
