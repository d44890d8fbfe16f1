// Writing one block as one file, atomically (see FileSystem.write), on any file system.
import { DataType, Field, Utf8, makeVector, type Vector } from "apache-arrow";
import type { Compression } from "parquet-wasm";
import { SharedBytes, columnValues, utf8Vector, withBlockIPC, type Block } from "../block";
import { rebuildBlock } from "./columns";
import { fileSystemFor, type FileSystemDescription } from "./fs";
import type { WriteFormat, WriteOptions } from "./types";
import { IoError, pathError } from "./errors";
import { writeImageFiles } from "./images";
import { parquetWasm } from "./parquet-wasm";
import { parquetFile } from "./parquet-write";

const EXTENSIONS: Record<WriteFormat, string> = { parquet: ".parquet", csv: ".csv", json: ".json", images: "" };

export function fileExtension(format: WriteFormat): string {
  return EXTENSIONS[format];
}

const COMPRESSION: Record<NonNullable<WriteOptions["compression"]>, keyof typeof Compression> = {
  snappy: "SNAPPY",
  gzip: "GZIP",
  zstd: "ZSTD",
  brotli: "BROTLI",
  lz4_raw: "LZ4_RAW",
  uncompressed: "UNCOMPRESSED",
};

/** The codec ids of parquet.thrift's CompressionCodec. */
const PARQUET_CODECS: Record<NonNullable<WriteOptions["compression"]>, number> = {
  uncompressed: 0, snappy: 1, gzip: 2, brotli: 4, zstd: 6, lz4_raw: 7,
};

/** The bytes of this thread's Parquet writes in flight, freed once written (two tasks' writes may share a kept chunk's reads). */
const writtenBytes = new SharedBytes();

/** Text output is written in pieces of about this many characters. */
const TEXT_CHUNK_CHARS = 1 << 20;

export async function writeBlock(
  format: WriteFormat, block: Block, dir: string, fileName: string, options: WriteOptions = {},
): Promise<{ path: string; rows: number; bytes: number }> {
  const fs = fileSystemFor(dir, options.filesystem);
  const finalPath = fs.join(dir, fileName);
  try {
    if (format === "images") return await writeImageFiles(block, fs, dir, fileName, options.image!);
    if (format === "parquet") {
      const { chunks, release } = parquetFile(withPlainStrings(block), (piece) => parquetBytes(piece, options), PARQUET_CODECS[options.compression ?? "snappy"]);
      writtenBytes.hold(release);
      let bytes: number | undefined;
      try {
        bytes = await fs.write(finalPath, chunks);
        return { path: finalPath, rows: block.numRows, bytes };
      } finally {
        writtenBytes.release(release, bytes !== undefined);
      }
    }
    const bytes = await fs.write(finalPath, encoded(format === "csv" ? csvChunks(block) : jsonLinesChunks(block)));
    return { path: finalPath, rows: block.numRows, bytes };
  } catch (e) {
    throw e instanceof IoError ? e : pathError(finalPath, e, "write failed");
  }
}

/** Removes the files in dir named prefix* (and in-flight temporary files of them); all of dir for "". */
export async function removeWrittenFiles(dir: string, prefix: string, filesystem?: FileSystemDescription): Promise<number> {
  try {
    return await fileSystemFor(dir, filesystem).deleteByPrefix(dir, prefix);
  } catch (e) {
    throw pathError(dir, e);
  }
}

function* encoded(chunks: Iterable<string>): Generator<Uint8Array> {
  for (const chunk of chunks) yield Buffer.from(chunk, "utf8");
}

// ---------------------------------------------------------------------------------------------
// Parquet

/** A Parquet file of one row group (without bloom filters, whose offsets parquet-write.ts would not move). */
function parquetBytes(block: Block, options: WriteOptions): Uint8Array {
  const { Compression, Table: WasmTable, WriterPropertiesBuilder, writeParquet } = parquetWasm();
  const properties = new WriterPropertiesBuilder()
    // Dictionary encoding of high-cardinality strings made writes several times slower (DESIGN, library facts).
    .setDictionaryEnabled(false)
    .setCompression(Compression[COMPRESSION[options.compression ?? "snappy"]])
    .build();
  return writeParquet(withBlockIPC(block, (ipc) => WasmTable.fromIPCStream(ipc)), properties);
}

/** Dictionary-encoded string columns become plain Utf8, so readers see strings, not dictionaries. */
function withPlainStrings(block: Block): Block {
  const isDictionary = block.schema.fields.map((f) => DataType.isDictionary(f.type));
  if (!isDictionary.includes(true)) return block;
  const fields = block.schema.fields.map((f, i) => (isDictionary[i] ? new Field(f.name, new Utf8(), f.nullable, f.metadata) : f));
  return rebuildBlock(block, fields, (batch) => batch.data.children.map((child, i) => (isDictionary[i]
    ? utf8Vector(Array.from(makeVector(child), (v) => (v == null ? null : String(v)))).data[0]
    : child)));
}

// ---------------------------------------------------------------------------------------------
// CSV and JSON Lines

/** Plain values of a column for text output: timestamps and dates as ISO strings, int64 as number when exact. */
function textColumnValues(vector: Vector): unknown[] {
  const type: DataType = vector.type;
  if (DataType.isTimestamp(type) || DataType.isDate(type)) {
    const dateOnly = DataType.isDate(type);
    return Array.from({ length: vector.length }, (_, i) => {
      const value = vector.get(i) as number | Date | null;
      if (value === null) return null;
      const iso = new Date(value).toISOString();
      return dateOnly ? iso.slice(0, 10) : iso;
    });
  }
  return columnValues(vector);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  return value;
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") text = String(value);
  else if (value instanceof Uint8Array) text = jsonReplacer("", value) as string;
  else text = JSON.stringify(value, jsonReplacer);
  // RFC 4180; an empty string is quoted so that it stays distinct from a null.
  return text === "" || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of a block as arrays of plain values, one record batch at a time. */
function* rowsOf(block: Block): Generator<unknown[]> {
  for (const batch of block.batches) {
    const columns = batch.schema.fields.map((_, i) => textColumnValues(batch.getChildAt(i)!));
    for (let r = 0; r < batch.numRows; r++) yield columns.map((column) => column[r]);
  }
}

function* chunked(lines: Iterable<string>): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  for (const line of lines) {
    parts.push(line);
    size += line.length;
    if (size >= TEXT_CHUNK_CHARS) {
      yield parts.join("");
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield parts.join("");
}

function csvChunks(block: Block): Iterable<string> {
  const names = block.schema.fields.map((f) => f.name);
  function* lines(): Generator<string> {
    yield `${names.map(csvField).join(",")}\n`;
    for (const row of rowsOf(block)) yield `${row.map(csvField).join(",")}\n`;
  }
  return chunked(lines());
}

function jsonLinesChunks(block: Block): Iterable<string> {
  const names = block.schema.fields.map((f) => f.name);
  function* lines(): Generator<string> {
    for (const row of rowsOf(block)) {
      const object: Record<string, unknown> = {};
      names.forEach((name, i) => { object[name] = row[i]; });
      yield `${JSON.stringify(object, jsonReplacer)}\n`;
    }
  }
  return chunked(lines());
}
