// Worker-side reading of one read task's files, and the driver's fallback metadata path.
import type { Schema } from "apache-arrow";
import path from "node:path";
import { compatibleSchemas, describeSchema, emptyBlock, refineSchema, schemaDifference, sliceBlock, splitBlockBySize } from "../block";
import { readBinaryBlocks } from "./binary";
import { projectBlock, withConstantColumns } from "./columns";
import { readCsvBlocks } from "./csv";
import { fileSystemFor, type FileSystemDescription } from "./fs";
import type { FileMetadata, MetadataCache } from "./metadata-cache";
import { concatPrefetched } from "./prefetch";
import { readJsonBlocks } from "./json";
import { parquetFileMetadata, parquetRowGroups, readParquetBlocks } from "./parquet";
import { readImageBlocks } from "./images";
import { readTextBlocks } from "./text";
import type { FileFormat, FileReadSpec, FileRef, FormatReader, SourceBlock } from "./types";
import { IoError, errorMessage } from "./errors";

const READERS: Record<FileFormat, FormatReader> = {
  parquet: readParquetBlocks,
  csv: readCsvBlocks,
  json: readJsonBlocks,
  text: readTextBlocks,
  binary: readBinaryBlocks,
  images: readImageBlocks,
};

/** A file's rows, in-memory size and schema, from the cache when it holds this version of the file. */
export async function fileMetadata(format: FileFormat, file: FileRef, filesystem?: FileSystemDescription, cache?: MetadataCache): Promise<FileMetadata> {
  // Decoded text is about as large as the file; rows are unknown without reading it.
  if (format !== "parquet") return { inMemoryBytes: file.size };
  const cached = cache?.get(file);
  if (cached) return cached;
  const metadata = await parquetFileMetadata(file, fileSystemFor(file.path, filesystem));
  cache?.set(file, metadata);
  return metadata;
}

/** The rows of each row group of a Parquet file: from the cache, else from its footer (its schema is not decoded). */
export async function fileRowGroups(file: FileRef, filesystem?: FileSystemDescription, cache?: MetadataCache): Promise<number[]> {
  return (cache?.get(file)?.rowGroups ?? await parquetRowGroups(file, fileSystemFor(file.path, filesystem))).map((group) => group.rows);
}

/** Files read ahead of the one being yielded, when small: with S3's latency, reading one file at a time leaves a task idle. */
const FILES_AHEAD = 16;
/**
 * A file read ahead is decoded whole and held until its turn, at a few times its size in memory: those
 * ahead hold a quarter of a block's bytes of files. At a whole block's, a task of 15 MB Parquet files
 * held the next two decoded (~40 MiB a worker); at a quarter, the 5M-row job with 2 workers peaked at
 * 398 MiB RSS instead of 454 and ran in 1.81 s instead of 2.05 (2.87 CPU-s instead of 3.22; 6
 * alternating runs; memory new to a process costs ~1.7 ms/MiB to fault in on this VM), where a row
 * group's read-ahead (parquet.ts) already hides the disk.
 */
const AHEAD_BLOCK_SHARE = 1 / 4;

export async function* readFileBlocks(spec: FileReadSpec): AsyncGenerator<SourceBlock> {
  const { targetBlockBytes, limit } = spec.options;
  let first: FileSchema | null = null;
  const blocks = concatPrefetched(spec.files, (file) => fileBlocks(spec, file), {
    // Under a limit, files are read one at a time: the ones after it are likely not needed.
    count: limit === undefined ? FILES_AHEAD : 1, weight: (file) => file.size, maxWeight: targetBlockBytes * AHEAD_BLOCK_SHARE,
  });
  let rowsLeft = limit ?? Infinity;
  for await (const raw of blocks) {
    if (rowsLeft <= 0) break;
    const item = raw.block.numRows > rowsLeft ? { ...raw, block: sliceBlock(raw.block, 0, rowsLeft) } : raw;
    rowsLeft -= item.block.numRows;
    // A file with columns and no rows (a header-only CSV) holds no values to disagree with the others.
    if (item.block.numRows === 0) { yield item; continue; }
    first ??= { file: item.file, schema: item.block.schema };
    assertSameFileSchema(first, { file: item.file, schema: item.block.schema });
    first.schema = refineSchema(first.schema, item.block.schema);
    let pieceOffset = item.rowOffset;
    for (const piece of splitBlockBySize(item.block, targetBlockBytes)) {
      yield { block: piece, file: item.file, rowOffset: pieceOffset };
      pieceOffset += piece.numRows;
    }
  }
}

export interface FileSchema { file: string; schema: Schema }

/**
 * The files of one read have one schema (the same columns, in order, of the same types, a column null
 * in every row of a file fitting any type); else an error naming both files and the column.
 */
export function assertSameFileSchema(first: FileSchema, other: FileSchema): void {
  if (compatibleSchemas(first.schema, other.schema)) return;
  throw new IoError(`columns differ across files: ${other.file} has {${describeSchema(other.schema)}} but ${first.file} has ` +
    `{${describeSchema(first.schema)}}: ${schemaDifference(other.schema, first.schema, path.basename(other.file), path.basename(first.file))}`);
}

/** What a read adds to a file's own columns (partition values, `path`) and which columns it keeps. */
function readShape(spec: FileReadSpec, file: FileRef) {
  const { columns, includePaths = false } = spec.options;
  const partition = file.partition ?? {};
  const isAdded = (name: string) => name in partition || (includePaths && name === "path");
  const constants: [string, string][] = Object.entries(partition).filter(([key]) => !columns || columns.includes(key));
  if (includePaths) constants.push(["path", file.path]);
  const fileColumns = columns?.filter((name) => !isAdded(name));
  const outputColumns = columns && includePaths && !columns.includes("path") ? [...columns, "path"] : columns;
  return { constants, fileColumns, outputColumns };
}

/** The schema reading a Parquet file yields, from its footer (through the cache): no data is read. */
export async function parquetReadSchema(spec: FileReadSpec, file: FileRef, cache?: MetadataCache): Promise<Schema | undefined> {
  const { schema } = await fileMetadata("parquet", file, spec.options.filesystem, cache);
  if (!schema) return undefined;
  const { constants, outputColumns } = readShape(spec, file);
  return projectBlock(withConstantColumns(emptyBlock(schema), constants), outputColumns).schema;
}

/** One file's non-empty blocks with partition and path columns added and the projection applied. */
async function* fileBlocks(spec: FileReadSpec, file: FileRef): AsyncGenerator<SourceBlock> {
  const { csv, image, filter, optionalColumns, keepEncoded, limit } = spec.options;
  const { constants, fileColumns, outputColumns } = readShape(spec, file);
  const fs = fileSystemFor(file.path, spec.options.filesystem);
  try {
    for await (const { block, rowOffset, skipped } of READERS[spec.format](file, fs, { columns: fileColumns?.length ? fileColumns : undefined, optionalColumns, csv, image, filter, keepEncoded, readAhead: limit === undefined })) {
      if (skipped !== undefined) { yield { block, file: file.path, rowOffset, skipped }; continue; }
      yield { block: projectBlock(withConstantColumns(block, constants), outputColumns), file: file.path, rowOffset };
    }
  } catch (e) {
    throw e instanceof IoError ? e : new IoError(`${file.path}: ${errorMessage(e)}`);
  }
}
