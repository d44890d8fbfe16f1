// Driver-side listing on any file system: expands directories (several subdirectories, and several
// given paths, listed in parallel; results in a stable order), drops marker and temporary files, filters by extension and parses hive
// partition directories. `streamFiles` yields files page by page as they are found; `listFiles` waits for all.
import * as path from "node:path";
import { fileSystemFor, isS3Path, type FileInfo, type FileSystem, type FileSystemDescription } from "./fs";
import { concatPrefetched } from "./prefetch";
import type { FileRef } from "./types";
import { IoError, pathError } from "./errors";

export interface ListOptions {
  fileExtensions?: string[];
  /** Extensions for files found inside listed directories when fileExtensions is not given (the format's own, as Ray does). */
  defaultExtensions?: string[];
  partitioning?: "hive" | null;
  filesystem?: FileSystemDescription;
}

/** Subdirectories listed ahead of the one being read. */
const DIRECTORIES_AHEAD = 16;

/** Spark/Hive markers (`_SUCCESS`, `_metadata`), hidden files and our own in-flight writes. */
/** Names that listing skips: hidden files, markers such as _SUCCESS, and temporary files of writes in progress. */
export function isIgnoredName(name: string): boolean {
  return name.startsWith(".") || name.startsWith("_") || name.endsWith(".tmp");
}

function normalizeExtensions(extensions: string[] | undefined): string[] | null {
  if (!extensions || extensions.length === 0) return null;
  return extensions.map((e) => {
    const lower = e.toLowerCase();
    return lower.startsWith(".") ? lower : `.${lower}`;
  });
}

/** key=value directory segments between the listed root and the file (or of the file's own directory when it was listed by name). */
function hivePartition(root: string, file: string, rootIsDirectory: boolean): Record<string, string> {
  const directory = rootIsDirectory ? path.posix.relative(root, path.posix.dirname(file)) : path.posix.dirname(file);
  const partition: Record<string, string> = {};
  for (const segment of directory.split(/[\\/]/)) {
    const eq = segment.indexOf("=");
    if (eq <= 0) continue;
    partition[decodeSegment(segment.slice(0, eq))] = decodeSegment(segment.slice(eq + 1));
  }
  return partition;
}

/** Spark escapes special characters in partition values as %XX. */
function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function* walk(fs: FileSystem, directory: string, pages = fs.listDirectory(directory)): AsyncGenerator<FileInfo[]> {
  const subdirectories: string[] = [];
  for await (const page of pages) {
    if (page.files.length > 0) yield page.files;
    subdirectories.push(...page.directories.filter((d) => !isIgnoredName(path.posix.basename(d))));
  }
  yield* concatPrefetched(subdirectories, (d) => walk(fs, d), { count: DIRECTORIES_AHEAD, weight: () => 0, maxWeight: 0 });
}

/** The files under one given path, a page at a time. */
async function* filesUnder(original: string, opts: ListOptions): AsyncGenerator<FileRef[]> {
  const root = isS3Path(original) ? original : path.resolve(original);
  const fs = fileSystemFor(root, opts.filesystem);
  let rootInfo, listing;
  try {
    ({ info: rootInfo, pages: listing } = fs.statAndList ? await fs.statAndList(root) : { info: await fs.stat(root), pages: undefined });
  } catch (e) {
    throw pathError(original, e, "cannot access");
  }
  if (rootInfo === null) throw new IoError(`no such file or directory: ${original}`);
  const rootIsDirectory = rootInfo === "directory";
  const pages: AsyncIterable<FileInfo[]> | FileInfo[][] = rootInfo === "directory" ? walk(fs, root, listing) : [[rootInfo]];
  const extensions = normalizeExtensions(opts.fileExtensions);
  const wanted = rootIsDirectory ? extensions ?? normalizeExtensions(opts.defaultExtensions) : extensions;
  const isListed = (file: string) => !rootIsDirectory || !path.posix.relative(root, file).split(/[\\/]/).some(isIgnoredName);
  try {
    for await (const page of pages) {
      yield page
        .filter((file) => isListed(file.path) && (!wanted || wanted.some((ext) => file.path.toLowerCase().endsWith(ext))))
        .map((file): FileRef => ({
          path: file.path, size: file.size, etag: file.etag,
          ...(opts.partitioning === "hive" ? { partition: hivePartition(root, file.path, rootIsDirectory) } : {}),
        }));
    }
  } catch (e) {
    throw e instanceof IoError ? e : pathError(original, e, "cannot list");
  }
}

/** The files under the given paths (each once), a page at a time, as they are listed; the paths are listed in parallel. */
export async function* streamFiles(paths: string | string[], opts: ListOptions = {}): AsyncGenerator<FileRef[]> {
  const given = Array.isArray(paths) ? paths : [paths];
  const seen = new Set<string>();
  const pages = concatPrefetched(given, (original) => filesUnder(original, opts), { count: DIRECTORIES_AHEAD, weight: () => 0, maxWeight: 0 });
  for await (const page of pages) {
    const fresh = page.filter((file) => !seen.has(file.path));
    for (const file of fresh) seen.add(file.path);
    if (fresh.length > 0) yield fresh;
  }
  if (seen.size === 0) {
    const extensions = normalizeExtensions(opts.fileExtensions);
    const filter = extensions ? ` with extensions ${extensions.join(", ")}` : "";
    throw new IoError(`no files found in ${given.join(", ")}${filter}`);
  }
}

/** All files under the given paths, sorted. */
export async function listFiles(paths: string | string[], opts: ListOptions = {}): Promise<FileRef[]> {
  const files: FileRef[] = [];
  for await (const page of streamFiles(paths, opts)) files.push(...page);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
