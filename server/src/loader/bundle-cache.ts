// Pipeline bundles kept on disk between runs: running esbuild (loading it and its process) costs tens of
// milliseconds of every `rdpipe run`. A bundle is reused while every file it was made from, and every
// tsconfig/jsconfig/package.json above the pipeline's folder, has the content it had (SHA-256).
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Entry {
  /** The files the bundle was made from and their content hashes (null: the file was not there). */
  inputs: [string, string | null][];
  code: string;
}

const CONFIG_FILES = ["tsconfig.json", "jsconfig.json", "package.json"];

export function bundleCacheDir(): string {
  return process.env.RDPIPE_BUNDLE_CACHE_DIR || path.join(os.homedir() || os.tmpdir(), ".cache", "rdpipe", "bundles");
}

function contentHash(file: string): string | null {
  try {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch {
    return null;
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

function entryFile(filename: string, compilerKey: string): string {
  return path.join(bundleCacheDir(), `${createHash("sha256").update(JSON.stringify([filename, compilerKey])).digest("hex").slice(0, 32)}.json`);
}

/** The cached bundle of `filename` made by the compiler `compilerKey` names, when nothing it was made from changed. */
export function cachedBundle(filename: string, compilerKey: string): string | undefined {
  let entry: Entry;
  try {
    entry = JSON.parse(fs.readFileSync(entryFile(filename, compilerKey), "utf8")) as Entry;
  } catch {
    return undefined;
  }
  return entry.inputs.every(([file, hash]) => contentHash(file) === hash) ? entry.code : undefined;
}

/** Keeps the bundle for the next run; `inputs` are the files it was made from. A cache that cannot be written is skipped. */
export function storeBundle(filename: string, compilerKey: string, inputs: string[], code: string): void {
  const file = entryFile(filename, compilerKey);
  const temp = `${file}.${process.pid}.tmp`;
  const hashed = [...new Set([...inputs, ...configFiles(path.dirname(filename))])].map((input): [string, string | null] => [input, contentHash(input)]);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(temp, JSON.stringify({ inputs: hashed, code } satisfies Entry));
    fs.renameSync(temp, file);
  } catch {
    fs.rmSync(temp, { force: true });
  }
}
