// JSON reading: JSON Lines or a top-level array of objects, both streamed. The first block
// of a file fixes its columns and types; later blocks must agree.
import { Field, Int64, Schema } from "apache-arrow";
import {
  BlockError, blockFromColumns, blockFromRows, compatibleSchemas, describeSchema, preview, refineSchema, type Block, type Row,
} from "../block";
import { columnsToRead } from "./columns";
import type { FileSystem } from "./fs";
import { fileLines, fileText } from "./lines";
import { LINES_PER_BLOCK, type FileBlock, type FileRef, type FormatReadOptions } from "./types";
import { IoError, errorMessage } from "./errors";

/** A parsed object and the line it starts on, for error messages. */
interface JsonRow {
  row: Row;
  line: number;
}

async function firstNonWhitespaceChar(fs: FileSystem, path: string): Promise<string | null> {
  for await (const text of fileText(fs, path)) {
    const match = /\S/.exec(text.replace(/^\uFEFF/, ""));
    if (match) return match[0];
  }
  return null;
}

function expectObject(path: string, line: number, value: unknown): Row {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new IoError(`${path}: line ${line}: expected a JSON object, got ${preview(value, 200)}`);
  }
  return value as Row;
}

async function* jsonLinesRows(fs: FileSystem, path: string): AsyncGenerator<JsonRow> {
  let lineNumber = 0;
  for await (const line of fileLines(fs, path)) {
    lineNumber++;
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new IoError(`${path}: line ${lineNumber}: invalid JSON (${errorMessage(e)}): ${preview(line, 200)}`);
    }
    yield { row: expectObject(path, lineNumber, value), line: lineNumber };
  }
}

function isJsonWhitespace(c: string): boolean {
  return c === " " || c === "\n" || c === "\r" || c === "\t" || c === "\uFEFF";
}

/**
 * The elements of a top-level JSON array, streamed: a scanner finds where each element ends (tracking
 * strings and nesting), so each is parsed alone and an error names the line the element starts on.
 */
async function* jsonArrayRows(fs: FileSystem, path: string): AsyncGenerator<JsonRow> {
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let closed = false;
  let afterComma = false;
  let element = "";
  let elementLine = 0;
  for await (const chunk of fileText(fs, path)) {
    let segmentStart = depth > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === "\n") line++;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === "\\") escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (depth === 0) {
        if (isJsonWhitespace(c)) continue;
        if (c !== "[" || closed) throw new IoError(`${path}: line ${line}: unexpected ${preview(c)} outside the top-level array`);
        depth = 1;
        segmentStart = i + 1;
        continue;
      }
      if (depth === 1 && (c === "," || c === "]")) {
        element += chunk.slice(segmentStart, i);
        segmentStart = i + 1;
        if (elementLine > 0) {
          yield parseArrayElement(path, element, elementLine);
        } else if (c === "," || afterComma) {
          throw new IoError(`${path}: line ${line}: empty array element`);
        }
        afterComma = c === ",";
        element = "";
        elementLine = 0;
        if (c === "]") { depth = 0; closed = true; segmentStart = -1; }
        continue;
      }
      if (elementLine === 0 && !isJsonWhitespace(c)) elementLine = line;
      if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") depth--;
    }
    if (segmentStart >= 0) element += chunk.slice(segmentStart);
  }
  if (!closed) throw new IoError(`${path}: line ${line}: the file ends inside the top-level array`);
}

function parseArrayElement(path: string, text: string, line: number): JsonRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new IoError(`${path}: line ${line}: invalid JSON (${errorMessage(e)}): ${preview(text.trim(), 200)}`);
  }
  return { row: expectObject(path, line, value), line };
}

/** JSON numbers are all doubles; a column whose numbers are all integers becomes Int64, as in pyarrow. */
function integerColumnsHint(rows: Row[]): Schema {
  const candidates = new Map<string, boolean>();
  for (const row of rows) {
    for (const key in row) {
      const value = row[key];
      if (value === null || value === undefined) continue;
      const integer = typeof value === "number" && Number.isInteger(value);
      candidates.set(key, (candidates.get(key) ?? true) && integer);
    }
  }
  return new Schema([...candidates].filter(([, integer]) => integer).map(([name]) => new Field(name, new Int64(), true)));
}

export async function* readJsonBlocks(file: FileRef, fs: FileSystem, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  const path = file.path;
  const isArray = (await firstNonWhitespaceChar(fs, path)) === "[";
  const rows = isArray ? jsonArrayRows(fs, path) : jsonLinesRows(fs, path);
  const wanted = options.columns ? new Set(options.columns) : null;
  let firstSchema: Schema | null = null;
  let pending: JsonRow[] = [];
  let rowOffset = 0;

  const buildBlock = (): FileBlock => {
    const where = `lines ${pending[0].line}-${pending[pending.length - 1].line}`;
    const plainRows = pending.map(({ row }) => (wanted ? pickKeys(row, wanted) : row));
    let block: Block;
    try {
      block = firstSchema === null
        ? blockFromRows(plainRows, integerColumnsHint(plainRows))
        : blockFromColumns(columnsOf(path, pending, plainRows, firstSchema), firstSchema, undefined, plainRows.length);
    } catch (e) {
      throw e instanceof BlockError ? new IoError(`${path}: ${where}: ${e.message}`) : e;
    }
    if (firstSchema === null) {
      columnsToRead(block.schema.fields.map((f) => f.name), options.columns, path, options.optionalColumns);
      firstSchema = block.schema;
    } else if (!compatibleSchemas(firstSchema, block.schema)) {
      throw new IoError(`${path}: ${where}: column types differ from the file's first rows: ` +
        `{${describeSchema(block.schema)}} but the first rows have {${describeSchema(firstSchema)}}`);
    } else {
      firstSchema = refineSchema(firstSchema, block.schema); // a column null in all the first rows takes its type from later ones
    }
    const result = { block, rowOffset };
    rowOffset += pending.length;
    pending = [];
    return result;
  };

  for await (const row of rows) {
    pending.push(row);
    if (pending.length >= LINES_PER_BLOCK) yield buildBlock();
  }
  if (pending.length > 0) yield buildBlock();
}

function pickKeys(row: Row, wanted: Set<string>): Row {
  const out: Row = {};
  for (const key in row) if (wanted.has(key)) out[key] = row[key];
  return out;
}

/** Columns in the first block's order; a key the first block did not have is an error. */
function columnsOf(path: string, pending: JsonRow[], rows: Row[], schema: Schema): Record<string, unknown[]> {
  const columns: Record<string, unknown[]> = {};
  for (const field of schema.fields) columns[field.name] = new Array<unknown>(rows.length).fill(null);
  rows.forEach((row, i) => {
    for (const key in row) {
      const column = columns[key];
      if (column === undefined) {
        throw new IoError(`${path}: line ${pending[i].line}: field '${key}' does not appear in the file's first ` +
          `${LINES_PER_BLOCK} rows, which fixed its columns (${schema.fields.map((f) => f.name).join(", ")})`);
      }
      column[i] = row[key];
    }
  });
  return columns;
}
