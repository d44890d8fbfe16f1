// The engine's own bundles (dist/cli.js, dist/worker.js) loaded through a V8 code cache: parsing and
// compiling a 1.8 MB bundle costs ~0.1 CPU-s in every process and in every worker thread, a cached one
// a tenth of that. The cache of a bundle is named by its content's hash (and Node's version), so a
// rebuilt bundle never meets the code of the old one; it is written beside the pipeline bundles'
// cache, in a folder that must be this user's alone (code cache is code this process runs).
// This file is an entry of its own (dist/code-cache.js): it loads before the bundles, so it stays small.
// Worker threads boot through it, and it keeps the ones bin/rdpipe.js starts before the CLI loads.
import { createHash } from "node:crypto";
import fs from "node:fs";
import Module from "node:module";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { Worker } from "node:worker_threads";
import { privateCacheDir, readPrivateFile, writePrivateFile } from "./bundle-cache";

function codeCacheDir(): string {
  return process.env.RDPIPE_CODE_CACHE_DIR || path.join(os.homedir() || os.tmpdir(), ".cache", "rdpipe", "code");
}

const digest = (...parts: (string | Buffer)[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex").slice(0, 32);
};

/**
 * What the code cache of `filename` holding `content` is named: "<file's hash>-<content's hash>-<V8 tag>.bin".
 * V8 takes a cache only under the flags it was made under (cachedDataVersionTag: V8's version, its
 * flags, the CPU's features), and a worker sets --expose-gc: the tag keeps one cache per flag state.
 */
function codeCacheFile(dir: string, filename: string, content: Buffer, tag: number): string {
  return path.join(dir, `${digest(filename)}-${digest(`${process.version} ${process.arch}\n`, content)}-${tag}.bin`);
}

/** Node's CommonJS internals a loader needs. */
interface ModuleInternals { _nodeModulePaths(dir: string): string[]; _cache: Record<string, Module> }

/**
 * Requires the CommonJS file `file` as Node would, compiled from its code cache when one matches its
 * content; a missing or rejected cache is made anew once the module has run its top level (when the
 * functions it called at load are compiled too), replacing the caches of the file's earlier content.
 */
export function requireCached(file: string): unknown {
  const filename = path.resolve(file);
  const content = fs.readFileSync(filename);
  // esbuild writes ASCII (it escapes other characters in code; a comment may keep some, which then read as
  // other characters of a comment): read as Latin-1, the 2 MB bundle becomes a string in a tenth of the time.
  const code = content.toString("latin1");
  const dir = privateCacheDir(codeCacheDir());
  const tag = v8.cachedDataVersionTag();
  const cacheFile = dir === undefined ? undefined : codeCacheFile(dir, filename, content, tag);
  const cachedData = cacheFile === undefined ? undefined : readPrivateFile(cacheFile);
  const script = new vm.Script(Module.wrap(code), { filename, cachedData });
  const mod = new Module(filename);
  mod.filename = filename;
  mod.paths = (Module as unknown as ModuleInternals)._nodeModulePaths(path.dirname(filename));
  (Module as unknown as ModuleInternals)._cache[filename] = mod;
  const body = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  body.call(mod.exports, mod.exports, Module.createRequire(filename), mod, filename, path.dirname(filename));
  mod.loaded = true;
  // Made now, it holds the functions the top level ran too. Not when another thread set a V8 flag meanwhile
  // (a worker sets --expose-gc): V8 would stamp it with flags other than its name's.
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    const data = script.createCachedData();
    if (v8.cachedDataVersionTag() === tag) {
      writePrivateFile(cacheFile, data);
      removeOtherVersions(cacheFile);
    }
  }
  return mod.exports;
}

/** The caches of the same file's other contents (an earlier build) go. */
function removeOtherVersions(cacheFile: string): void {
  const dir = path.dirname(cacheFile);
  const [fileKey, contentKey] = path.basename(cacheFile).split("-");
  try {
    for (const other of fs.readdirSync(dir)) {
      const [otherFile, otherContent] = other.split("-");
      if (otherFile === fileKey && otherContent !== contentKey && other.endsWith(".bin")) fs.rmSync(path.join(dir, other), { force: true });
    }
  } catch { /* a cache that cannot be tidied is only larger */ }
}

/**
 * Node options of a worker thread: none of the parent's (loaders such as tsx in tests stay out; workers
 * run plain bundled JS), but a V8 CPU profile of each worker in the folder RDPIPE_WORKER_CPU_PROF names.
 */
function workerExecArgv(): string[] {
  const dir = process.env.RDPIPE_WORKER_CPU_PROF;
  return dir ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(dir)] : [];
}

/**
 * A new worker thread running `script` (a bundle beside this file), compiled from its code cache. The
 * flag the worker sets is set first: V8 takes a cache only under the flags it was made under, and it is
 * made after the bundle ran.
 */
function newWorkerThread(script: string): Worker {
  const boot = `require("node:v8").setFlagsFromString("--expose-gc"); require(${JSON.stringify(__filename)}).requireCached(${JSON.stringify(script)});`;
  return new Worker(boot, { eval: true, stdout: false, stderr: false, execArgv: workerExecArgv() });
}

/** Threads started ahead of need, by script; they keep the process alive only once taken. */
const started = new Map<string, Worker[]>();

/** Starts `count` worker threads running `script` now, for workerThread to hand out later. */
export function startWorkerThreads(script: string, count: number): void {
  if (count === 0) return;
  // Set here first (process-wide, as each worker sets it): set by a worker while this thread loads its own
  // bundle, it would change V8's cache tag under it, and the bundle's cache would be rejected or not kept.
  v8.setFlagsFromString("--expose-gc");
  const list = started.get(script) ?? [];
  started.set(script, list);
  for (let i = 0; i < count; i++) {
    const worker = newWorkerThread(script);
    worker.unref();
    // One that fails or ends before it is taken is not handed out (its error has no other listener yet).
    const drop = () => {
      const at = list.indexOf(worker);
      if (at >= 0) list.splice(at, 1);
    };
    worker.once("error", drop).once("exit", drop);
    list.push(worker);
  }
}

/** A worker thread running `script`: one started ahead of need if there is one, else a new one. */
export function workerThread(script: string): Worker {
  const worker = started.get(script)?.shift();
  if (!worker) return newWorkerThread(script);
  worker.removeAllListeners("error").removeAllListeners("exit");
  worker.ref();
  return worker;
}
