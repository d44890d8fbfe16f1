// Pipeline bundles kept on disk between runs: running esbuild (loading it and its process) costs tens of
// milliseconds of every `rdpipe run`. A bundle is reused while every file it was made from, and every
// tsconfig/jsconfig/package.json above the pipeline's folder, has the content it had (SHA-256), and the
// inputs' folders hold the same module files and symbolic links (a new rows.ts would take an import of
// "./rows" from rows.js; esbuild names a linked file by its target, so a retargeted link shows only there).
// A bundle is code this process runs: the cache folder and its files must be this user's and writable by
// no one else (a cache in a shared folder such as /tmp is not used).
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Entry {
  /** The files the bundle was made from and their content hashes (null: the file was not there). */
  inputs: [string, string | null][];
  /** What each input folder holds that an import can resolve to (folderEntries). */
  folders: [string, string][];
  code: string;
}

const CONFIG_FILES = ["tsconfig.json", "jsconfig.json", "package.json"];
/** The kernel stamps mtimes from a coarse clock that may lag Date.now() by a tick (up to 10 ms). */
const MTIME_LAG_MS = 20;

function bundleCacheDir(): string {
  return process.env.RDPIPE_BUNDLE_CACHE_DIR || path.join(os.homedir() || os.tmpdir(), ".cache", "rdpipe", "bundles");
}

function contentHash(file: string): string | null {
  try {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch {
    return null;
  }
}

/** Extensions esbuild resolves an import without one to (and JSON, imported with its own). */
const MODULE_FILE = /\.([cm]?[jt]sx?|json)$/;

/** The module files in `dir` and where its symbolic links point, one line each ("" when the folder cannot be read). */
function folderEntries(dir: string): string {
  try {
    return fs.readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isSymbolicLink() || (e.isFile() && MODULE_FILE.test(e.name)))
      .map((e) => (e.isSymbolicLink() ? `${e.name} -> ${fs.readlinkSync(path.join(dir, e.name))}` : e.name)).sort().join("\n");
  } catch {
    return "";
  }
}

/** Whether `stats` (of the cache folder or an entry) belong to this user and no one else can write there. */
function ownedPrivately(stats: fs.Stats): boolean {
  const uid = process.getuid?.();
  return uid === undefined || (stats.uid === uid && (stats.mode & 0o022) === 0);
}

/** The cache folder `dir`, made private if it was missing; undefined when it is not this user's alone (or cannot be made). */
export function privateCacheDir(dir = bundleCacheDir()): string | undefined {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stats = fs.lstatSync(dir);
    return stats.isDirectory() && ownedPrivately(stats) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The configuration files esbuild may read for a pipeline in `dir`: in it and in every folder above. */
function configFiles(dir: string): string[] {
  const files: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    files.push(...CONFIG_FILES.map((name) => path.join(d, name)));
    if (path.dirname(d) === d) return files;
  }
}

function entryFile(dir: string, filename: string, compilerKey: string): string {
  return path.join(dir, `${createHash("sha256").update(JSON.stringify([filename, compilerKey])).digest("hex").slice(0, 32)}.json`);
}

/** The cached bundle of `filename` made by the compiler `compilerKey` names, when nothing it was made from changed. */
export function cachedBundle(filename: string, compilerKey: string): string | undefined {
  const dir = privateCacheDir();
  if (dir === undefined) return undefined;
  let entry: Entry;
  try {
    const text = readPrivateFile(entryFile(dir, filename, compilerKey));
    if (text === undefined) return undefined;
    entry = JSON.parse(text.toString("utf8")) as Entry;
  } catch {
    return undefined;
  }
  const unchanged = entry.inputs?.every(([file, hash]) => contentHash(file) === hash) && entry.folders?.every(([folder, entries]) => folderEntries(folder) === entries);
  return unchanged ? entry.code : undefined;
}

/** The file's bytes when it is this user's alone (not through a symbolic link); undefined when missing or not private. */
export function readPrivateFile(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    return ownedPrivately(fs.fstatSync(fd)) ? fs.readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `data` to `file` whole or not at all (a temporary file renamed over it), readable by this user only; errors are ignored. */
export function writePrivateFile(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    fs.writeFileSync(temp, data, { mode: 0o600, flag: "wx" });
    fs.renameSync(temp, file);
  } catch {
    fs.rmSync(temp, { force: true });
  }
}

/** Whether a file was written after `since` (or so shortly before that its mtime cannot tell). */
function writtenSince(file: string, since: number): boolean {
  try {
    return fs.statSync(file).mtimeMs >= since - MTIME_LAG_MS;
  } catch {
    return false;
  }
}

/**
 * Keeps the bundle for the next run; `inputs` are the files it was made from, by a build that began at
 * `builtAt`. Not when one of them was written since (esbuild may have read it before): its hash now
 * would stand for content the bundle lacks. A cache that cannot be written is skipped.
 */
export function storeBundle(filename: string, compilerKey: string, inputs: string[], code: string, builtAt: number): void {
  if (inputs.some((input) => writtenSince(input, builtAt))) return;
  const dir = privateCacheDir();
  if (dir === undefined) return;
  const hashed = [...new Set([...inputs, ...configFiles(path.dirname(filename))])].map((input): [string, string | null] => [input, contentHash(input)]);
  const folders = [...new Set([filename, ...inputs].map((input) => path.dirname(input)))].map((folder): [string, string] => [folder, folderEntries(folder)]);
  writePrivateFile(entryFile(dir, filename, compilerKey), JSON.stringify({ inputs: hashed, folders, code } satisfies Entry));
}
