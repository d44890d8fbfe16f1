import type { Block } from "../block";
import type { FileSystem, FileSystemDescription } from "./fs/types";

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
}

/** A read or write failed because of the input or the file system; the message names the file (and line or row). */
export class IoError extends Error {
  override name = "IoError";
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
}

/** Rows per block for line-oriented formats, before splitting by size. */
export const LINES_PER_BLOCK = 65536;

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Errors that mean the disk has no room, in the words a user reads. */
const DISK_FULL: Record<string, string> = {
  ENOSPC: "the disk is full (ENOSPC: no space left on device)",
  EDQUOT: "the disk is full: the disk quota is exceeded (EDQUOT)",
};

/**
 * An IoError "path: [what: ]reason", naming the path once even when the cause already starts with it (as
 * S3 errors do); a full disk says so.
 */
export function pathError(path: string, error: unknown, what?: string): IoError {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = (typeof code === "string" ? DISK_FULL[code] : undefined) ?? errorMessage(error);
  const reason = message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
  return new IoError(`${path}: ${what ? `${what}: ` : ""}${reason}`, { cause: error });
}
