// filenameProvider (Ray Data's FilenameProvider): a user object that names each file a file write makes.
// A write task writes a block under the job's own name (`<job>_<task>_<block>`, which abort, overwrite
// and a checkpoint's resume find files by) and asks the provider for the name the file takes when the job
// succeeds; the renames happen then (a plain job's in its commit, an overwrite's as part of its swap, a
// checkpointed job's when its last attempt finishes), after every name was checked to be unique, so a
// failed job, or one whose provider repeats a name, never replaced a file.
import type { Block } from "../block";
import type { WriteContext } from "./datasink";
import { IoError, errorMessage } from "./errors";
import type { FileSystem } from "./fs";

/** Names the files a file write makes (`filenameProvider` of writeParquet/writeCsv/writeJson). */
export interface FilenameProvider {
  /**
   * The name (no folders) of the file one block is written to. Must be unique within the job and the same
   * when a retried task writes the block again: build it from writeUuid, taskIndex and blockIndex (and,
   * with partitionCols, the partition values; the file goes into its partition's folder).
   */
  getFilenameForBlock(block: Block, writeUuid: string, taskIndex: number, blockIndex: number, details: FilenameDetails): string;
}

export interface FilenameDetails {
  /** The format's extension, with its dot: ".parquet", ".csv", ".json". */
  extension: string;
  /** With partitionCols: the block's values of the partition columns (null for a null). */
  partition?: Record<string, unknown>;
}

/**
 * A provider as plain data, for workers of a plan that came from no pipeline file (a pipeline file's
 * workers build it again by evaluating the file): its class's source and its own fields.
 */
export interface ProviderSource { className: string; source: string; state?: unknown; unsendable?: string }

/** A file's rename when its job succeeds, relative to the write's folder: from its job name to the provider's. */
export type Rename = [from: string, to: string];

export function isFilenameProvider(value: unknown): value is FilenameProvider {
  return typeof value === "object" && value !== null && typeof (value as FilenameProvider).getFilenameForBlock === "function";
}

export function describeProvider(provider: FilenameProvider): ProviderSource {
  const cls = provider.constructor;
  const className = cls?.name || "Object";
  if (typeof cls !== "function" || cls === Object) {
    return { className, source: "", unsendable: "it is a plain object, not an instance of a class" };
  }
  try {
    return { className, source: cls.toString(), state: structuredClone({ ...provider }) };
  } catch (e) {
    return { className, source: cls.toString(), unsendable: `its fields cannot be copied (${errorMessage(e)})` };
  }
}

/** The provider again, in a worker, from its class's source and its fields (the constructor is not run). */
export function rebuildProvider(described: ProviderSource, sink: string): FilenameProvider {
  const fail = (why: string) => new IoError(
    `${sink}: its filenameProvider (${described.className}) could not be sent to a worker: ${why}; define the pipeline in a *.rdpipe.ts file, whose workers build it themselves`);
  if (described.unsendable) throw fail(described.unsendable);
  let cls: new () => FilenameProvider;
  try {
    // Outside a pipeline file the class travels as source text: it must not use outer variables.
    cls = new Function("__name", `return (${described.source});`)((f: unknown) => f) as new () => FilenameProvider;
  } catch (e) {
    throw fail(errorMessage(e));
  }
  return Object.assign(Object.create(cls.prototype) as FilenameProvider, described.state);
}

/** "block 2 of write task 3" of a file's job name (`<job>_<task>_<block>.ext`, maybe in a partition folder). */
export function describeWrite(from: string): string {
  const match = /_(\d+)_(\d+)(\.[^./]*)?$/.exec(from);
  return match ? `block ${Number(match[2])} of write task ${Number(match[1])} (written as ${from})` : from;
}

/** The provider's name for one file, checked: a plain file name, not hidden, not the engine's own temporary names. */
export function providerName(provider: FilenameProvider, sink: string, block: Block, context: WriteContext, details: FilenameDetails): string {
  const where = `${sink}: filenameProvider.getFilenameForBlock for block ${context.blockIndex} of write task ${context.taskIndex}`;
  let name: unknown;
  try {
    name = provider.getFilenameForBlock(block, context.jobId, context.taskIndex, context.blockIndex, details);
  } catch (e) {
    throw new IoError(`${where} failed: ${errorMessage(e)}`, { cause: e });
  }
  const problem = typeof name !== "string" ? `returned ${name === undefined ? "undefined" : JSON.stringify(name) ?? typeof name}, not a string`
    : name === "" ? "returned an empty name"
    : /[/\\]/.test(name) ? `returned "${name}", which has a path separator; a name is one file's, in the output folder (partitionCols make the folders)`
    : name === "." || name === ".." ? `returned "${name}", which is not a file name`
    : name.includes("\0") ? `returned a name with a NUL character`
    : name.startsWith(".") ? `returned "${name}", a hidden name (readers skip those, and the engine's temporary files are named so)`
    : Buffer.byteLength(name) > 255 ? `returned a name of ${Buffer.byteLength(name)} bytes (at most 255)`
    : undefined;
  if (problem) throw new IoError(`${where} ${problem}`);
  return name as string;
}

/** A rename that cannot be done: why, and the file (its job name) that asked for it. */
export interface RenameProblem { error: IoError; from: string }

/**
 * Every file that would take a name an earlier one takes, or another file's job name (which it would
 * replace before that one's own rename).
 */
export function renameCollisions(renames: Rename[], sink: string, dir: string): RenameProblem[] {
  const byTarget = new Map<string, string>();
  const sources = new Set(renames.map(([from]) => from));
  const problems: RenameProblem[] = [];
  for (const [from, to] of renames) {
    const other = byTarget.get(to);
    if (other !== undefined) {
      problems.push({ from, error: new IoError(`${sink} to ${dir}: filenameProvider gave two files the name "${to}": ${describeWrite(other)} and ${describeWrite(from)}; names must be unique within the job (use writeUuid, taskIndex and blockIndex)`) });
    } else if (to !== from && sources.has(to)) {
      problems.push({ from, error: new IoError(`${sink} to ${dir}: filenameProvider named ${describeWrite(from)} "${to}", the name ${describeWrite(to)} is written under`) });
    }
    byTarget.set(to, other ?? from);
  }
  return problems;
}

/** Renames are checked and done this many at a time (S3's latency dominates one). */
const AT_ONCE = 16;

async function inChunks<T>(items: T[], each: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += AT_ONCE) await Promise.all(items.slice(start, start + AT_ONCE).map(each));
}

/** The first rename whose target a file not of this job holds already (append: a provider's name must not replace earlier output). */
export async function occupiedTarget(fs: FileSystem, dir: string, renames: Rename[], sink: string): Promise<RenameProblem | undefined> {
  const occupied: Rename[] = [];
  await inChunks(renames, async ([from, to]) => {
    if (from !== to && (await fs.stat(fs.join(dir, to))) !== null) occupied.push([from, to]);
  });
  const [from, to] = occupied.sort(([a], [b]) => (a < b ? -1 : 1))[0] ?? [];
  if (from === undefined || to === undefined) return undefined;
  return { from, error: new IoError(`${sink} to ${dir}: filenameProvider named ${describeWrite(from)} "${to}", but ${fs.join(dir, to)} exists already (mode "append" replaces no file; use mode "overwrite", or other names)`) };
}

/** Renames each file to its provider's name; one already renamed (a repeat after a crash) is passed over. */
export async function applyRenames(fs: FileSystem, dir: string, renames: Rename[]): Promise<void> {
  await inChunks(renames, async ([from, to]) => {
    if (from === to || (await fs.stat(fs.join(dir, from))) === null) return;
    await fs.renameFile(fs.join(dir, from), fs.join(dir, to));
  });
}

/** A path under dir as it is once the renames are done. */
export function renamedPath(fs: FileSystem, dir: string, file: string, renames: Map<string, string>): string {
  const relative = file.startsWith(`${dir.replace(/\/+$/, "")}/`) ? file.slice(dir.replace(/\/+$/, "").length + 1) : undefined;
  const to = relative === undefined ? undefined : renames.get(relative);
  return to === undefined ? file : fs.join(dir, to);
}
