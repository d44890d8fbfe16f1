import type { Block } from "../block";
import type { FileSystem, FileSystemDescription } from "./fs/types";
import type { PrunePredicate } from "./prune";

export type FileFormat = "parquet" | "csv" | "json" | "text" | "binary";

export interface FileRef {
  path: string;
  size: number;
  /** Identifies the content version (S3 ETag, local mtime); part of the metadata cache key. */
  etag?: string;
  partition?: Record<string, string>;
}

export interface ReadOptions {
  /** Projection; parquet decodes only these columns, the other formats select after parsing. */
  columns?: string[];
  /** Adds a Utf8 column `path` holding the file path. */
  includePaths?: boolean;
  /** Blocks are split to at most about this many bytes. */
  targetBlockBytes: number;
  csv?: { delimiter?: string; header?: boolean };
  /** Absent: chosen by path (local, or S3 configured from the environment). */
  filesystem?: FileSystemDescription;
  /** Pushed down by the optimizer: row groups and hive folders where no row can match are not read. */
  filter?: PrunePredicate;
  /** Pushed down by the optimizer: a read task stops after this many rows. */
  limit?: number;
}

export interface FileReadSpec {
  format: FileFormat;
  files: FileRef[];
  options: ReadOptions;
}

export interface SourceBlock {
  block: Block;
  file: string;
  /** Index within its file of the block's first row. */
  rowOffset: number;
}

export type WriteFormat = "parquet" | "csv" | "json";

export interface WriteOptions {
  filesystem?: FileSystemDescription;
  /** Parquet only; default snappy. */
  compression?: "snappy" | "gzip" | "zstd" | "brotli" | "lz4_raw" | "uncompressed";
  /** Hive-style folders `col=value/` by these columns' values (escaped; null as __HIVE_DEFAULT_PARTITION__); the files leave the columns out. */
  partitionCols?: string[];
  /** A write task joins blocks until a file has at least this many rows (its last file may have fewer). */
  minRowsPerFile?: number;
  /** No file holds more rows than this. */
  maxRowsPerFile?: number;
}

/** What a format reader yields: a block of one file, before partition and path columns are added. */
export interface FileBlock {
  block: Block;
  rowOffset: number;
}

/**
 * The per-format reader contract. `columns` are file columns only (no partition keys, no `path`), never
 * empty; a reader checks they exist and may decode only those, the caller selects the final columns.
 */
export type FormatReader = (file: FileRef, fs: FileSystem, options: FormatReadOptions) => AsyncGenerator<FileBlock>;

export interface FormatReadOptions {
  columns?: string[];
  csv?: ReadOptions["csv"];
  /** Parquet skips the row groups whose statistics say no row can match. */
  filter?: PrunePredicate;
}

/** Rows per block for line-oriented formats, before splitting by size. */
export const LINES_PER_BLOCK = 65536;
