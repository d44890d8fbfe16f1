// File systems: one interface over local disk and S3. A FileSystemDescription is plain data, so read
// and write tasks carry it to worker threads, which build their own client from it.
import { LocalFileSystem } from "./local";
import { S3FileSystem } from "./s3";
import type { FileSystem, FileSystemDescription } from "./types";

export { S3FileSystem } from "./s3";
export type { FileInfo, FileSystem, FileSystemDescription, ListingPage, S3Description, S3Options } from "./types";
export { stopUploads } from "./s3-upload";

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
