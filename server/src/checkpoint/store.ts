// What a checkpoint directory holds, and the commit protocol that makes output exactly-once:
//
//   manifest.json                  the job it belongs to (ID column, output folder and format)
//   attempts/<prefix>.json         written before an attempt writes anything; its output files are named <prefix>_*
//   committed/<output>.ids.parquet the IDs in one output file (batch backend) — its existence commits that file
//   committed/<output>.ids.jsonl   the same, one ID per line (row backend)
//   done/<prefix>_<task>.json      input files a finished task consumed whole, which a resume does not read again
//   done/<prefix>_read<n>.json     the same for a read task whose rows an actor pool carried to write tasks
//   errors/<prefix>_<task>_<n>.jsonl  rows a UDF failed on under onError: "skip" (their IDs stay uncommitted)
//
// An output file counts only once its commit record exists, and the record is written after the file.
// A resume deletes every output file of an earlier attempt that has no record, and drops the committed
// IDs inside its read tasks, so each input ID ends up in exactly one committed output file.
import os from "node:os";
import { Table, type Vector } from "apache-arrow";
import { fileSystemFor, readFileBlocks, writeBlock, type FileSystem, type FileSystemDescription } from "../io";
import { IdSetBuilder, idCount, type SharedIds } from "./idset";
import type { IdRange } from "./ranges";

export type CheckpointBackendKind = "batch" | "row";

/** What a write task needs to commit its output: plain data, sent to workers. */
export interface CheckpointSpec {
  path: string;
  idColumn: string;
  backend: CheckpointBackendKind;
  filesystem?: FileSystemDescription;
  /** This attempt's output file prefix. */
  attempt: string;
  /** Each committed file's IDs go to the driver, which fails the job on an ID met twice. */
  checkDuplicateIds?: boolean;
}

export interface Manifest {
  version: 1;
  idColumn: string;
  output: { path: string; format: string };
  createdAt: string;
}

/** A row a UDF failed on, as recorded beside the checkpoint. */
export interface ErroredRow {
  id: unknown;
  operator: string;
  file?: string;
  /** Position of the row in its input file, when known. */
  row?: number;
  /** The row the UDF got, as JSON (bigints as strings; long values cut). */
  input: string;
  error: string;
  stack?: string;
  at: string;
}

const COMMIT_SUFFIX: Record<CheckpointBackendKind, string> = { batch: ".ids.parquet", row: ".ids.jsonl" };

export const dirs = { attempts: "attempts", committed: "committed", done: "done", errors: "errors" } as const;

export const json = (value: unknown) => [Buffer.from(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)))];

export async function readJsonFile<T>(fs: FileSystem, file: string): Promise<T> {
  return JSON.parse(Buffer.from(await fs.readAll(file)).toString("utf8")) as T;
}

// ------------------------------------------------------------------ worker side

/** Commits one written output file: records its IDs. Called after the file itself is complete. */
export async function commitOutput(spec: CheckpointSpec, outputName: string, ids: Vector): Promise<void> {
  const fs = fileSystemFor(spec.path, spec.filesystem);
  const dir = fs.join(spec.path, dirs.committed);
  const name = `${outputName}${COMMIT_SUFFIX[spec.backend]}`;
  if (spec.backend === "batch") {
    await writeBlock("parquet", new Table({ [spec.idColumn]: ids }), dir, name, { filesystem: spec.filesystem });
    return;
  }
  const lines: string[] = [];
  for (let i = 0; i < ids.length; i++) lines.push(idLine(ids.get(i)));
  await fs.write(fs.join(dir, name), [Buffer.from(lines.join(""))]);
}

/** Integers as bare digits (exact beyond 2^53), anything else as JSON. */
function idLine(value: unknown): string {
  return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value)) ? `${value}\n` : `${JSON.stringify(value)}\n`;
}

function parseIdLine(line: string): unknown {
  return /^-?\d+$/.test(line) ? BigInt(line) : JSON.parse(line);
}

/** What an earlier try of a task committed: its IDs, and the index its next output file takes. */
export async function taskCommits(spec: CheckpointSpec, taskIndex: number): Promise<{ ids?: SharedIds; nextOutput: number }> {
  const fs = fileSystemFor(spec.path, spec.filesystem);
  const prefix = taskOutputPrefix(spec.attempt, taskIndex);
  const records = (await listEntries(fs, spec.path, dirs.committed)).filter((e) => e.name.startsWith(prefix) && committedOutputName(e) !== undefined);
  if (records.length === 0) return { nextOutput: 0 };
  const indices = records.map((e) => Number.parseInt(e.name.slice(prefix.length, e.name.indexOf(".", prefix.length)), 10));
  return { ids: (await loadCommittedIds(fs, records)).ids, nextOutput: Math.max(...indices) + 1 };
}

/** An input file as a done record names it: a changed file (size, etag) is not done. */
export interface DoneFile { path: string; size: number; etag?: string }

export const doneKey = (file: DoneFile) => JSON.stringify([file.path, file.size, file.etag ?? null]);

/** "<attempt>_<task>", the stem of every file one task of an attempt writes (outputs, done and error records). */
export const taskName = (attempt: string, taskIndex: number) => `${attempt}_${String(taskIndex).padStart(6, "0")}`;

/** The name prefix of the output files one task of an attempt writes. */
export const taskOutputPrefix = (attempt: string, taskIndex: number) => `${taskName(attempt, taskIndex)}_`;

/** An output file's name: its task's prefix and its number within the task. */
export const outputFileName = (attempt: string, taskIndex: number, index: number, extension: string) =>
  `${taskOutputPrefix(attempt, taskIndex)}${String(index).padStart(6, "0")}${extension}`;

/**
 * Records that a task consumed these input files whole: every row is committed or was meant to be
 * dropped. When that holds for all of its files (`allInputsDone`), a resume reads none of those inputs,
 * so it need not load the IDs of the task's output files (named by `prefix`) either.
 */
export async function recordDoneFiles(
  spec: CheckpointSpec, taskIndex: number, files: DoneFile[], allInputsDone: boolean, committedRows: number, ids?: IdRange,
): Promise<void> {
  await writeDoneRecord(spec, taskName(spec.attempt, taskIndex), files, { prefix: taskOutputPrefix(spec.attempt, taskIndex), rows: committedRows, allInputsDone, ids });
}

/**
 * Records that the rows of a read task's files, which an actor pool carried to other tasks, are all
 * committed (or meant to be dropped) in the output files of the write tasks named by `outputs` (their
 * prefixes). Those files hold other reads' rows too, so a resume still loads their IDs.
 */
export async function recordDoneReads(spec: CheckpointSpec, readIndex: number, files: DoneFile[], outputs: string[]): Promise<void> {
  const name = `${spec.attempt}_read${String(readIndex).padStart(6, "0")}`;
  await writeDoneRecord(spec, name, files, { prefix: `${name}_`, rows: 0, allInputsDone: false, outputs });
}

async function writeDoneRecord(spec: CheckpointSpec, name: string, files: DoneFile[], rest: Omit<DoneRecord, "files">): Promise<void> {
  if (files.length === 0) return;
  const fs = fileSystemFor(spec.path, spec.filesystem);
  const record: DoneRecord = { files: files.map(({ path, size, etag }) => ({ path, size, etag })), ...rest };
  await fs.write(fs.join(fs.join(spec.path, dirs.done), `${name}.json`), json(record));
}

export interface DoneRecord {
  files: DoneFile[];
  /** The name prefix of the task's output files, and the rows they hold. */
  prefix: string;
  rows: number;
  allInputsDone: boolean;
  /** A read whose rows went through an actor pool: the prefixes of the write tasks' output files that hold them. */
  outputs?: string[];
  /** The range of the IDs the task committed (absent: not known). */
  ids?: IdRange;
}

export async function recordErroredRows(spec: CheckpointSpec, taskIndex: number, sequence: number, rows: ErroredRow[]): Promise<void> {
  if (rows.length === 0) return;
  const fs = fileSystemFor(spec.path, spec.filesystem);
  const name = `${taskName(spec.attempt, taskIndex)}_${String(sequence).padStart(6, "0")}.jsonl`;
  const text = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString() : v))).join("\n") + "\n";
  await fs.write(fs.join(fs.join(spec.path, dirs.errors), name), [Buffer.from(text)]);
}

// ------------------------------------------------------------------ driver side

export interface FileEntry { name: string; path: string; size: number }

/** The files directly in a checkpoint subdirectory (none when it does not exist yet). */
export async function listEntries(fs: FileSystem, root: string, subdir: string): Promise<FileEntry[]> {
  const dir = fs.join(root, subdir);
  if ((await fs.stat(dir)) === null) return [];
  const out: FileEntry[] = [];
  for await (const page of fs.listDirectory(dir)) {
    for (const file of page.files) {
      const name = file.path.slice(file.path.lastIndexOf("/") + 1);
      if (!name.startsWith(".")) out.push({ name, path: file.path, size: file.size });
    }
  }
  return out;
}

export async function readManifest(fs: FileSystem, root: string): Promise<Manifest | undefined> {
  const file = fs.join(root, "manifest.json");
  if ((await fs.stat(file)) === null) return undefined;
  return readJsonFile<Manifest>(fs, file);
}

export async function writeManifest(fs: FileSystem, root: string, manifest: Manifest): Promise<void> {
  await fs.write(fs.join(root, "manifest.json"), json(manifest));
}

export async function recordAttempt(fs: FileSystem, root: string, attempt: string): Promise<void> {
  await fs.write(fs.join(fs.join(root, dirs.attempts), `${attempt}.json`), json({ attempt, startedAt: new Date().toISOString() }));
}

export const attemptOf = (entry: FileEntry) => entry.name.replace(/\.json$/, "");

/** The output file a commit record commits, or undefined for another file. */
export function committedOutputName(entry: FileEntry): string | undefined {
  for (const suffix of Object.values(COMMIT_SUFFIX)) if (entry.name.endsWith(suffix)) return entry.name.slice(0, -suffix.length);
  return undefined;
}

/** The IDs of one commit record. */
export async function readCommittedIds(fs: FileSystem, entry: FileEntry): Promise<{ column?: Vector; values?: unknown[] }> {
  if (entry.name.endsWith(COMMIT_SUFFIX.row)) {
    const text = Buffer.from(await fs.readAll(entry.path)).toString("utf8");
    return { values: text.split("\n").filter((line) => line !== "").map(parseIdLine) };
  }
  const blocks = readFileBlocks({
    format: "parquet", files: [{ path: entry.path, size: entry.size }],
    options: { targetBlockBytes: Number.MAX_SAFE_INTEGER, filesystem: fs.description },
  });
  const columns: Vector[] = [];
  for await (const { block } of blocks) columns.push(block.getChildAt(0)!);
  return { column: columns.length === 1 ? columns[0] : columns.reduce((a, b) => a.concat(b)) };
}

/** Loads every commit record into one shared ID set (in parallel: S3 latency dominates small files), with each record's ID count. */
export async function loadCommittedIds(fs: FileSystem, records: FileEntry[], concurrency = 16): Promise<{ ids: SharedIds; perRecord: number[] }> {
  const builder = new IdSetBuilder();
  const perRecord = new Array<number>(records.length).fill(0);
  let next = 0;
  const worker = async () => {
    while (next < records.length) {
      const index = next++;
      const { column, values } = await readCommittedIds(fs, records[index]);
      if (column) builder.addColumn(column);
      for (const value of values ?? []) builder.add(value);
      perRecord[index] = column?.length ?? values?.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, records.length) }, worker));
  return { ids: builder.build(), perRecord };
}

export async function readDoneRecords(fs: FileSystem, root: string): Promise<DoneRecord[]> {
  const records: DoneRecord[] = [];
  for (const entry of await listEntries(fs, root, dirs.done)) {
    records.push(await readJsonFile<DoneRecord>(fs, entry.path));
  }
  return records;
}

export async function readErroredRows(fs: FileSystem, root: string): Promise<ErroredRow[]> {
  const out: ErroredRow[] = [];
  const entries = (await listEntries(fs, root, dirs.errors)).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const text = Buffer.from(await fs.readAll(entry.path)).toString("utf8");
    for (const line of text.split("\n")) if (line !== "") out.push(JSON.parse(line) as ErroredRow);
  }
  return out;
}

export { idCount };

// ------------------------------------------------------------------ one run at a time

interface LeaseRecord { attempt: string; pid: number; host: string; renewedAt: number }

/** A lease from another host counts as held until it is this old without renewal. */
const LEASE_TTL_MS = 30_000;
const LEASE_RENEW_MS = 10_000;
/** Time between writing the lease and checking it is still ours (two runs starting at once). */
const LEASE_SETTLE_MS = 50;

export class CheckpointInUseError extends Error {}

/**
 * One run at a time per checkpoint: a second run would delete the first one's files as uncommitted
 * between their write and their commit. The lease names its holder; one on this host is held while its
 * process lives (a killed run's lease is taken over at once), one from another host until it goes stale.
 */
export class CheckpointLease {
  /** Leases this process holds, by file: a second execution here must not take one over. */
  private static readonly heldHere = new Set<string>();
  private timer?: NodeJS.Timeout;
  private renewal: Promise<void> = Promise.resolve();
  private released = false;

  private constructor(private readonly fs: FileSystem, private readonly file: string, private readonly record: LeaseRecord) {}

  static async acquire(fs: FileSystem, root: string, attempt: string): Promise<CheckpointLease> {
    const file = fs.join(root, "lease.json");
    const holder = await readLease(fs, file);
    if (CheckpointLease.heldHere.has(file) || (holder && isHeld(holder))) throw inUse(root, file, holder);
    const lease = new CheckpointLease(fs, file, { attempt, pid: process.pid, host: os.hostname(), renewedAt: Date.now() });
    CheckpointLease.heldHere.add(file);
    try {
      await lease.write();
      await new Promise((resolve) => setTimeout(resolve, LEASE_SETTLE_MS));
      const after = await readLease(fs, file);
      if (after && after.attempt !== attempt) throw inUse(root, file, after);
    } catch (e) {
      CheckpointLease.heldHere.delete(file);
      throw e;
    }
    lease.timer = setInterval(() => { lease.renewal = lease.write().catch(() => undefined); }, LEASE_RENEW_MS).unref();
    return lease;
  }

  private async write(): Promise<void> {
    if (this.released) return;
    this.record.renewedAt = Date.now();
    await this.fs.write(this.file, json(this.record));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.renewal; // a renewal in flight must not bring the file back after it is gone
    try {
      const holder = await readLease(this.fs, this.file).catch(() => undefined);
      if (holder?.attempt === this.record.attempt) await this.fs.deleteFiles([this.file]);
    } finally {
      CheckpointLease.heldHere.delete(this.file);
    }
  }
}

async function readLease(fs: FileSystem, file: string): Promise<LeaseRecord | undefined> {
  if ((await fs.stat(file)) === null) return undefined;
  try {
    return await readJsonFile<LeaseRecord>(fs, file);
  } catch {
    return undefined; // removed between stat and read
  }
}

/**
 * Whether another live run holds the lease. Not if it went unrenewed past the TTL (its process is gone, or
 * its pid was reused after a restart), nor if it names a process of this host that no longer exists, nor
 * this very process (a previous incarnation with the same pid, as a restarted container's PID 1).
 */
function isHeld(lease: LeaseRecord): boolean {
  if (Date.now() - lease.renewedAt >= LEASE_TTL_MS) return false;
  if (lease.host !== os.hostname()) return true;
  if (lease.pid === process.pid) return false;
  try {
    process.kill(lease.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function inUse(root: string, file: string, holder: LeaseRecord | undefined): CheckpointInUseError {
  const who = holder ? `process ${holder.pid} on ${holder.host}, renewed ${Math.round((Date.now() - holder.renewedAt) / 1000)}s ago` : "another execution in this process";
  return new CheckpointInUseError(`the checkpoint at ${root} is in use by another run (${who}); wait for it to finish, or delete ${file} if that run is gone`);
}
