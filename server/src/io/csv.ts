// CSV reading: csv-parse over a file stream; column types are inferred from the file's first block
// and then locked, so every block of a file has the same schema.
import { pipeline } from "node:stream";
import type { CsvError, Parser } from "csv-parse";
import { Bool, Float64, Int64, makeVector, vectorFromArray, type Vector } from "apache-arrow";
import { blockFromColumns, preview, utf8Vector } from "../block";
import { columnsToRead } from "./columns";
import { strictUtf8 } from "./lines";
import type { FileSystem } from "./fs";
import { LINES_PER_BLOCK, type FileBlock, type FileRef, type FormatReadOptions } from "./types";
import { IoError } from "./errors";

type ColumnKind = "int64" | "float64" | "bool" | "string";

const KIND_DESCRIPTION: Record<ColumnKind, string> = {
  int64: "an integer", float64: "a number", bool: "true or false", string: "text",
};

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT64_MAX = 2n ** 63n - 1n;

function isInt64(text: string): boolean {
  if (!INTEGER.test(text)) return false;
  // Up to 18 digits always fits; longer ones need an exact check.
  if (text.replace(/^[+-]/, "").length < 19) return true;
  const value = BigInt(text);
  return value <= INT64_MAX && value >= -INT64_MAX - 1n;
}

function isBool(text: string): boolean {
  const lower = text.toLowerCase();
  return lower === "true" || lower === "false";
}

function fits(kind: ColumnKind, text: string): boolean {
  switch (kind) {
    case "int64": return isInt64(text);
    case "float64": return NUMBER.test(text);
    case "bool": return isBool(text);
    case "string": return true;
  }
}

function inferKind(values: string[]): ColumnKind {
  const present = values.filter((v) => v !== "");
  if (present.length === 0) return "string";
  for (const kind of ["int64", "float64", "bool"] as const) {
    if (present.every((v) => fits(kind, v))) return kind;
  }
  return "string";
}

/** csv-parse, loaded where a CSV file is first read. */
const csvParse = () => require("csv-parse") as typeof import("csv-parse");

function csvParser(fs: FileSystem, path: string, delimiter: string, withInfo = false): Parser {
  // pipeline (unlike pipe) passes a read error on to the parser, and closes the file when iteration stops early.
  return pipeline(fs.readStream(path), strictUtf8(path), csvParse().parse({ delimiter, bom: true, skip_empty_lines: true, info: withInfo }), () => undefined);
}

/**
 * The line a record (0-based, header included) ends on. Tracking lines for every record makes parsing
 * about twice as slow, so they are recovered by parsing again, only when an error needs one.
 */
async function lineOfRecord(fs: FileSystem, path: string, delimiter: string, recordIndex: number): Promise<number> {
  let index = 0;
  let line = 0;
  try {
    for await (const { info } of csvParser(fs, path, delimiter, true) as AsyncIterable<{ info: { lines: number } }>) {
      line = info.lines;
      if (index++ === recordIndex) break;
    }
  } catch {
    // The error being reported lies beyond the record we were looking for.
  }
  return line;
}

export async function* readCsvBlocks(file: FileRef, fs: FileSystem, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  const path = file.path;
  const delimiter = options.csv?.delimiter ?? ",";
  const header = options.csv?.header ?? true;
  let names: string[] | null = null;
  let selected: number[] = [];
  let kinds: ColumnKind[] | null = null;
  let pending: string[][] = [];
  let recordIndex = -1;
  let rowOffset = 0;

  const buildBlock = async (): Promise<FileBlock> => {
    kinds ??= selected.map((index) => inferKind(pending.map((fields) => fields[index])));
    const columns: Record<string, Vector> = {};
    for (let k = 0; k < selected.length; k++) {
      const name = names![selected[k]];
      const texts = pending.map((fields) => fields[selected[k]]);
      const misfit = texts.findIndex((text) => text !== "" && !fits(kinds![k], text));
      if (misfit >= 0) {
        const line = await lineOfRecord(fs, path, delimiter, recordIndex - pending.length + 1 + misfit);
        throw new IoError(`${path}: line ${line}: column '${name}': ${preview(texts[misfit])} is not ${KIND_DESCRIPTION[kinds[k]]} ` +
          `like the values in the first ${LINES_PER_BLOCK} rows, which fixed the column's type`);
      }
      columns[name] = csvColumn(kinds[k], texts);
    }
    const block = { block: blockFromColumns(columns, undefined, undefined, pending.length), rowOffset };
    rowOffset += pending.length;
    pending = [];
    return block;
  };

  const records = csvParser(fs, path, delimiter) as AsyncIterable<string[]>;
  try {
    for await (const fields of records) {
      recordIndex++;
      if (names === null) {
        names = header ? fields : fields.map((_, i) => `f${i}`);
        const duplicate = names.find((name, i) => names!.indexOf(name) !== i);
        if (duplicate !== undefined) throw new IoError(`${path}: line ${recordIndex + 1}: duplicate column name '${duplicate}'`);
        const columns = columnsToRead(names, options.columns, path, options.optionalColumns);
        selected = columns ? columns.map((c) => names!.indexOf(c)) : names.map((_, i) => i);
        if (header) continue;
      }
      pending.push(fields);
      if (pending.length >= LINES_PER_BLOCK) yield await buildBlock();
    }
  } catch (e) {
    if (!(e instanceof csvParse().CsvError)) throw e;
    if (e.code === "CSV_QUOTE_NOT_CLOSED") {
      // csv-parse reports this at the end of the file; the broken record starts after the last good one.
      const line = recordIndex < 0 ? 1 : (await lineOfRecord(fs, path, delimiter, recordIndex)) + 1;
      throw new IoError(`${path}: line ${line}: unclosed quote (the quoted field starting in this record never ends)`);
    }
    throw new IoError(`${path}: line ${(e as CsvError & { lines?: number }).lines ?? "?"}: ${e.message}`);
  }
  if (pending.length > 0) yield await buildBlock();
  // A header and no rows: the columns are known (as text, there being no values to type them by).
  else if (rowOffset === 0 && names !== null && header) {
    yield { block: blockFromColumns(Object.fromEntries(selected.map((index) => [names![index], utf8Vector([])])), undefined, undefined, 0), rowOffset };
  }
}

function csvColumn(kind: ColumnKind, texts: string[]): Vector {
  const hasNulls = texts.includes("");
  switch (kind) {
    case "string":
      return utf8Vector(texts.map((t) => (t === "" ? null : t)));
    case "int64":
      return hasNulls
        ? vectorFromArray(texts.map((t) => (t === "" ? null : BigInt(t))), new Int64())
        : makeVector(BigInt64Array.from(texts, (t) => BigInt(t)));
    case "float64":
      return hasNulls
        ? vectorFromArray(texts.map((t) => (t === "" ? null : Number(t))), new Float64())
        : makeVector(Float64Array.from(texts, Number));
    case "bool":
      return vectorFromArray(texts.map((t) => (t === "" ? null : t.toLowerCase() === "true")), new Bool());
  }
}
