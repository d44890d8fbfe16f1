// Driver-side listing of local files: expands directories, drops marker and temporary files,
// filters by extension and parses hive partition directories.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { IoError, type FileRef } from "./types";

export interface ListOptions {
  fileExtensions?: string[];
  /** Extensions for files found inside listed directories when fileExtensions is not given (the format's own, as Ray does). */
  defaultExtensions?: string[];
  partitioning?: "hive" | null;
}

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
  const directory = rootIsDirectory ? path.relative(root, path.dirname(file)) : path.dirname(file);
  const partition: Record<string, string> = {};
  for (const segment of directory.split(path.sep)) {
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

async function walk(directory: string, out: string[]): Promise<void> {
  const entries = await fs.readdir(directory, { withFileTypes: true });
  for (const entry of entries) {
    if (isIgnoredName(entry.name)) continue;
    const full = path.join(directory, entry.name);
    const isDirectory = entry.isDirectory() || (entry.isSymbolicLink() && (await fs.stat(full)).isDirectory());
    if (isDirectory) await walk(full, out);
    else out.push(full);
  }
}

export async function listFiles(paths: string | string[], opts: ListOptions = {}): Promise<FileRef[]> {
  const given = Array.isArray(paths) ? paths : [paths];
  const extensions = normalizeExtensions(opts.fileExtensions);
  const inDirectories = extensions ?? normalizeExtensions(opts.defaultExtensions);
  const byPath = new Map<string, FileRef>();
  for (const original of given) {
    const root = path.resolve(original);
    let rootStat;
    try {
      rootStat = await fs.stat(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new IoError(`no such file or directory: ${original}`);
      throw new IoError(`cannot access ${original}: ${(e as Error).message}`);
    }
    const found: string[] = [];
    if (rootStat.isDirectory()) await walk(root, found);
    else found.push(root);
    for (const file of found) {
      const wanted = file === root ? extensions : inDirectories;
      if (wanted && !wanted.some((ext) => file.toLowerCase().endsWith(ext))) continue;
      const size = file === root ? rootStat.size : (await fs.stat(file)).size;
      const ref: FileRef = { path: file, size };
      if (opts.partitioning === "hive") ref.partition = hivePartition(root, file, rootStat.isDirectory());
      byPath.set(file, ref);
    }
  }
  if (byPath.size === 0) {
    const filter = extensions ? ` with extensions ${extensions.join(", ")}` : "";
    throw new IoError(`no files found in ${given.join(", ")}${filter}`);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
