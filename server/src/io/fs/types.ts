// The one interface over local disk and S3, and the plain-data description a task carries to build its own client.
import type { Readable } from "node:stream";

export interface FileInfo {
  path: string;
  size: number;
  /** Changes whenever the content does (S3 ETag; local mtime). */
  etag: string;
}

/** One page of a directory listing: files, and subdirectories still to list (a flat store like S3 lists nested files directly and has none). */
export interface ListingPage {
  files: FileInfo[];
  directories: string[];
}

export interface FileSystem {
  readonly description: FileSystemDescription;
  /** Pages of the files in a directory (and, for flat stores, below it), in key order. */
  listDirectory(dir: string): AsyncIterable<ListingPage>;
  /** A file's info, "directory" for a folder or prefix, null when nothing is there. */
  stat(path: string): Promise<FileInfo | "directory" | null>;
  /**
   * stat, and for a directory its listing (as listDirectory), where one request can start both
   * (S3: the listing's first page says whether there is a directory); absent, stat then listDirectory.
   */
  statAndList?(path: string): Promise<{ info: FileInfo | "directory" | null; pages?: AsyncIterable<ListingPage> }>;
  /** Bytes [start, end) of a file. */
  readRange(path: string, start: number, end: number): Promise<Uint8Array>;
  readAll(path: string): Promise<Uint8Array>;
  readStream(path: string): Readable;
  /** Writes a whole file so that it appears complete or not at all; returns its byte count. */
  write(path: string, chunks: Iterable<Uint8Array>): Promise<number>;
  /**
   * Creates the file only if nothing is there, atomically: "exists" when something was, "unsupported"
   * when the store cannot do it (an S3-compatible store without conditional writes).
   */
  writeIfAbsent(path: string, data: Uint8Array): Promise<"created" | "exists" | "unsupported">;
  /** Removes the files directly in dir whose names start with namePrefix (all of them for ""); returns how many. */
  deleteByPrefix(dir: string, namePrefix: string): Promise<number>;
  /** Gives a complete file another name in the same store, replacing what was there (S3: copy, then delete). */
  renameFile(from: string, to: string): Promise<void>;
  /** Removes these files; ones already gone are fine. */
  deleteFiles(paths: string[]): Promise<void>;
  join(dir: string, name: string): string;

  // Folders, where the store has them (local disk; S3 has none): what overwrite's staging swaps with.
  /** Renames a folder (same file system), the change synced to disk. */
  renameFolder?(from: string, to: string): Promise<void>;
  /** Makes a folder and the missing ones above it. */
  makeFolder?(dir: string): Promise<void>;
  /** Removes a folder if it is empty; returns whether it is gone. */
  removeEmptyFolder?(dir: string): Promise<boolean>;
}

export type FileSystemDescription = { kind: "local" } | S3Description;

export interface S3Options {
  /** An S3-compatible endpoint, e.g. http://127.0.0.1:9000 (addressed path-style). */
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Keys per ListObjectsV2 page (S3's maximum and default: 1000). */
  listPageSize?: number;
  /** Writes larger than this go as a multipart upload in parts of this size (at least 5 MiB). */
  partSize?: number;
  maxAttempts?: number;
  /**
   * Whether the store honours conditional writes (PutObject with If-None-Match: *), which the checkpoint
   * lease uses; asked of the store once when not given.
   */
  conditionalWrites?: boolean;
}

export type S3Description = S3Options & { kind: "s3" };
