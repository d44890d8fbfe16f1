import type { Block } from "../block";
import type { FileSystem, FileSystemDescription } from "./fs/types";
import type { PrunePredicate } from "./prune";
import type { ProviderSource } from "./filename-provider";

export type FileFormat = "parquet" | "csv" | "json" | "text" | "binary" | "images";

export interface FileRef {
  path: string;
  size: number;
  /** Identifies the content version (S3 ETag, local mtime); part of the metadata cache key. */
  etag?: string;
  partition?: Record<string, string>;
  /** A Parquet file that several tasks read: the row groups [first, end) this one reads (their indexes in its footer). */
  rowGroups?: [number, number];
}

export interface ReadOptions {
  /** Projection; parquet decodes only these columns, the other formats select after parsing. */
  columns?: string[];
  /** Of `columns`, those a file may lack (the optimizer's guess from a UDF's source): left out where missing, not an error. */
  optionalColumns?: string[];
  /** Adds a Utf8 column `path` holding the file path. */
  includePaths?: boolean;
  /** Blocks are split to at most about this many bytes. */
  targetBlockBytes: number;
  csv?: { delimiter?: string; header?: boolean };
  image?: ImageReadOptions;
  /** Absent: chosen by path (local, or S3 configured from the environment). */
  filesystem?: FileSystemDescription;
  /** Pushed down by the optimizer: row groups and hive folders where no row can match are not read. */
  filter?: PrunePredicate;
  /** Pushed down by the optimizer: a read task stops after this many rows. */
  limit?: number;
  /** Parquet, set when the read's blocks go straight to a Parquet write: each row group's encoded columns stay with its block (see parquet-kept.ts). */
  keepEncoded?: boolean;
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
  /** Set when the read skipped the file (onError "skip"): why. The block has no rows; the file is recorded as an errored row. */
  skipped?: string;
}

export type WriteFormat = "parquet" | "csv" | "json" | "images";

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
  /** Images only: one file per row (see images.ts). */
  image?: ImageWriteOptions;
  /** The filenameProvider as plain data, for workers that did not evaluate the pipeline file (see filename-provider.ts). */
  providerSource?: ProviderSource;
}

export type ImageMode = "RGB" | "RGBA" | "L";
export type ImageFormat = "png" | "jpeg" | "webp" | "tiff";

/** How readImages decodes: `size` is [height, width] (stretched to it, as Ray Data's), `mode` the channels. */
export interface ImageReadOptions {
  size?: [number, number];
  mode?: ImageMode;
  /** "skip": an undecodable file is left out and recorded as an errored row of the read; "fail" (default): the read fails naming it. */
  onError?: "fail" | "skip";
}

export interface ImageWriteOptions {
  /** The column of images: raw pixels with `height`, `width` and `channels` columns beside it (as readImages gives), or encoded image bytes. */
  column: string;
  format: ImageFormat;
}


/** What a format reader yields: a block of one file, before partition and path columns are added. */
export interface FileBlock {
  block: Block;
  rowOffset: number;
  /** The file was skipped (onError "skip"): why. */
  skipped?: string;
}

/**
 * The per-format reader contract. `columns` are file columns only (no partition keys, no `path`), never
 * empty; a reader checks they exist and may decode only those, the caller selects the final columns.
 */
export type FormatReader = (file: FileRef, fs: FileSystem, options: FormatReadOptions) => AsyncGenerator<FileBlock>;

export interface FormatReadOptions {
  columns?: string[];
  /** Of columns, those the file may lack (see ReadOptions.optionalColumns). */
  optionalColumns?: string[];
  csv?: ReadOptions["csv"];
  /** Parquet skips the row groups whose statistics say no row can match. */
  filter?: PrunePredicate;
  keepEncoded?: boolean;
  /** Parquet: the next row group is read while one is decoded (not under a row limit, which may need no more). */
  readAhead?: boolean;
  image?: ImageReadOptions;
}

/** Rows per block for line-oriented formats, before splitting by size. */
export const LINES_PER_BLOCK = 65536;
