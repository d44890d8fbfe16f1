// File systems: one interface over local disk and S3. A FileSystemDescription is plain data, so read
// and write tasks carry it to worker threads, which build their own client from it.
import type { Readable } from "node:stream";
import { LocalFileSystem } from "./local";
import { S3FileSystem, type S3Description } from "./s3";

export { S3FileSystem, type S3Description, type S3Options } from "./s3";
export { stopUploads } from "./s3-upload";

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

export function isS3Path(path: string): boolean {
  return path.startsWith("s3://");
}

const clients = new Map<string, FileSystem>();

/**
 * What a task needs to reach a path: the configured file system's description, else, for S3, the
 * driver's environment (resolved here, since worker threads see the environment as it was when they started).
 */
export function describeFileSystem(path: string, configured?: FileSystem): FileSystemDescription | undefined {
  return configured?.description ?? (isS3Path(path) ? S3FileSystem.fromEnvironment().description : undefined);
}

/** The file system for a path: the given description when it fits the path's scheme, else local or S3 (from the environment). */
export function fileSystemFor(path: string, description?: FileSystemDescription): FileSystem {
  const fits = description && (description.kind === "s3") === isS3Path(path);
  const resolved = fits ? description : isS3Path(path) ? S3FileSystem.fromEnvironment().description : { kind: "local" as const };
  const key = JSON.stringify(resolved);
  let fs = clients.get(key);
  if (!fs) {
    fs = resolved.kind === "local" ? new LocalFileSystem() : new S3FileSystem(resolved);
    clients.set(key, fs);
  }
  return fs;
}
