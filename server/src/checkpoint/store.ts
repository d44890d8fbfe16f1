// What a checkpoint directory holds, and the commit protocol that makes output exactly-once:
//
//   manifest.json                  the job it belongs to (ID column, output folder and format)
//   schema.arrow                   the output's schema (Arrow IPC), recorded by the driver when it is fixed or a null-typed
//                                  column gets its type, before any file is written under it; a resume writes under it too
//   attempts/<prefix>.json         written before an attempt writes anything; its output files are named <prefix>_*
//   committed/<output>.ids.parquet the IDs in one output file (batch backend) — its existence commits that file
//   committed/<output>.ids.jsonl   the same, one ID per line, closed by a line {"ids":<count>} (row backend)
//   done/<prefix>_<task>.json      input files a finished task consumed whole, which a resume does not read again
//   done/<prefix>_read<n>.json     the same for a read task whose rows an actor pool carried to write tasks
//   errors/<prefix>_<task>_<n>.jsonl  rows a UDF failed on under onError: "skip" (their IDs stay uncommitted)
//   names/<output>.json            with a filenameProvider: the names one output file's files take when the job
//                                  succeeds (written before its commit record; see io/filename-provider.ts)
//   output-renamed.json            the renames began: a file found under its new name is the committed one
//
// Every record is written atomically (FileSystem.write). An output file counts only once its commit
// record exists and loads whole, and the record is written after the file; a damaged record commits nothing.
// A resume deletes every output file of an earlier attempt that has no record, and drops the committed
// IDs inside its read tasks, so each input ID ends up in exactly one committed output file.
import { Table, type Vector } from "apache-arrow";
import type { Schema } from "apache-arrow";
import { schemaFromIPC, schemaToIPC } from "../block";
import { errorMessage, fileSystemFor, json, pathError, readFileBlocks, readJsonFile, writeBlock, type FileSystem, type Rename } from "../io";
import { IdSetBuilder, idCount, type IdRange, type SharedIds } from "./idset";
import type { CheckpointBackendKind, CheckpointSpec } from "../plan";
import type { ErroredRow as WireErroredRow } from "../contract";

export type { CheckpointBackendKind, CheckpointSpec } from "../plan";

export interface Manifest {
  version: 1;
  idColumn: string;
  output: { path: string; format: string };
  createdAt: string;
  /** mode "overwrite": the job's files are staged (in `staging`) until its last attempt succeeds; see io/overwrite.ts. */
  overwrite?: { job: string; staging: string };
}

/** A row a UDF failed on, as recorded beside the checkpoint. */
export type ErroredRow = WireErroredRow<unknown>;

const COMMIT_SUFFIX: Record<CheckpointBackendKind, string> = { batch: ".ids.parquet", row: ".ids.jsonl" };

export const dirs = { attempts: "attempts", committed: "committed", done: "done", errors: "errors", names: "names" } as const;

/** Files at the checkpoint's root that mark a phase: its deletion began; an overwrite's swap began; the filenameProvider's renames began. */
export const markers = { deleting: "deleting.json", outputSwapped: "output-swapped.json", outputRenamed: "output-renamed.json" } as const;

/** The output's schema, at the checkpoint's top level. */
export const SCHEMA_FILE = "schema.arrow";

/** Records the output's schema (atomically): called before any file is written under it. */
export async function recordOutputSchema(spec: Pick<CheckpointSpec, "path" | "filesystem">, schema: Schema): Promise<void> {
  const fs = fileSystemFor(spec.path, spec.filesystem);
  await fs.write(fs.join(spec.path, SCHEMA_FILE), [schemaToIPC(schema)]);
}

/** The output's schema an earlier attempt recorded, if any. */
export async function readOutputSchema(fs: FileSystem, root: string): Promise<Schema | undefined> {
  const file = fs.join(root, SCHEMA_FILE);
  if ((await fs.stat(file)) === null) return undefined;
  const bytes = await fs.readAll(file);
  try {
    return schemaFromIPC(bytes);
  } catch (e) {
    throw pathError(file, e, "not an Arrow IPC schema");
  }
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
  lines.push(`${JSON.stringify({ ids: ids.length })}\n`);
  await fs.write(fs.join(dir, name), [Buffer.from(lines.join(""))]);
}

/** Records the filenameProvider names an output file's files take when the job succeeds; called before its commit. */
export async function recordNames(spec: CheckpointSpec, outputName: string, renames: Rename[]): Promise<void> {
  const fs = fileSystemFor(spec.path, spec.filesystem);
  await fs.write(fs.join(fs.join(spec.path, dirs.names), `${outputName}.json`), json({ renames }));
}

/** The renames of these committed output files (by name), in name order. */
export async function readNames(fs: FileSystem, root: string, outputs: Set<string>): Promise<Rename[]> {
  const entries = (await listEntries(fs, root, dirs.names)).filter((e) => outputs.has(e.name.replace(/\.json$/, ""))).sort((a, b) => (a.name < b.name ? -1 : 1));
  const out: Rename[] = [];
  for (const entry of entries) out.push(...(await readJsonFile<{ renames: Rename[] }>(fs, entry.path)).renames);
  return out;
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
  const { ids, damaged } = await loadCommittedIds(fs, records);
  // A damaged record commits nothing: its rows are written again, and its output file, now uncommitted, is removed with the others.
  await fs.deleteFiles(damaged.map((d) => d.record.path));
  return { ids, nextOutput: Math.max(...indices) + 1 };
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
  await writeDoneRecord(spec, files, { prefix: taskOutputPrefix(spec.attempt, taskIndex), rows: committedRows, allInputsDone, ids });
}

/**
 * Records that the rows of a read task's files, which an actor pool carried to other tasks, are all
 * committed (or meant to be dropped) in the output files of the write tasks named by `outputs` (their
 * prefixes). Those files hold other reads' rows too, so a resume still loads their IDs.
 */
export async function recordDoneReads(spec: CheckpointSpec, readIndex: number, files: DoneFile[], outputs: string[]): Promise<void> {
  const name = `${spec.attempt}_read${String(readIndex).padStart(6, "0")}`;
  await writeDoneRecord(spec, files, { prefix: `${name}_`, rows: 0, allInputsDone: false, outputs });
}

async function writeDoneRecord(spec: CheckpointSpec, files: DoneFile[], rest: Omit<DoneRecord, "files">): Promise<void> {
  if (files.length === 0) return;
  const fs = fileSystemFor(spec.path, spec.filesystem);
  const record: DoneRecord = { files: files.map(({ path, size, etag }) => ({ path, size, etag })), ...rest };
  await fs.write(doneRecordPath(fs, spec.path, record.prefix), json(record));
}

/** Where the done record of the task whose output files are named `prefix` is. */
export const doneRecordPath = (fs: FileSystem, root: string, prefix: string) => fs.join(fs.join(root, dirs.done), `${prefix.slice(0, -1)}.json`);

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

/** When each recorded attempt started (ms since the epoch). */
export async function attemptStarts(fs: FileSystem, root: string): Promise<Map<string, number>> {
  const starts = new Map<string, number>();
  for (const entry of await listEntries(fs, root, dirs.attempts)) {
    const record = await readJsonFile<{ startedAt?: string }>(fs, entry.path).catch(() => undefined);
    const at = Date.parse(record?.startedAt ?? "");
    if (!Number.isNaN(at)) starts.set(attemptOf(entry), at);
  }
  return starts;
}

/** The output file a commit record commits, or undefined for another file. */
export function committedOutputName(entry: FileEntry): string | undefined {
  for (const suffix of Object.values(COMMIT_SUFFIX)) if (entry.name.endsWith(suffix)) return entry.name.slice(0, -suffix.length);
  return undefined;
}

/** The IDs of one commit record; throws when it is cut off or unreadable. */
export async function readCommittedIds(fs: FileSystem, entry: FileEntry): Promise<{ column?: Vector; values?: unknown[] }> {
  if (entry.name.endsWith(COMMIT_SUFFIX.row)) {
    const lines = Buffer.from(await fs.readAll(entry.path)).toString("utf8").split("\n");
    const closing = lines.length >= 2 && lines.at(-1) === "" && /^\{"ids":\d+\}$/.test(lines.at(-2)!) ? (JSON.parse(lines.at(-2)!) as { ids: number }).ids : undefined;
    const values = lines.slice(0, -2).map(parseIdLine);
    if (closing !== values.length) throw new Error(closing === undefined ? "cut off: it has no closing line" : `it says ${closing} IDs but holds ${values.length}`);
    return { values };
  }
  const blocks = readFileBlocks({
    format: "parquet", files: [{ path: entry.path, size: entry.size }],
    options: { targetBlockBytes: Number.MAX_SAFE_INTEGER, filesystem: fs.description },
  });
  const columns: Vector[] = [];
  for await (const { block } of blocks) columns.push(block.getChildAt(0)!);
  return { column: columns.length === 1 ? columns[0] : columns.reduce((a, b) => a.concat(b)) };
}

/** A commit record that is cut off or cannot be read: it commits nothing. */
export interface DamagedRecord { record: FileEntry; error: string }

/**
 * Loads every commit record into one shared ID set (in parallel: S3 latency dominates small files), with
 * each record's ID count (0 for a damaged one) and the records that are damaged, whose IDs are left out.
 */
export async function loadCommittedIds(
  fs: FileSystem, records: FileEntry[], concurrency = 16,
): Promise<{ ids: SharedIds; perRecord: number[]; damaged: DamagedRecord[] }> {
  const builder = new IdSetBuilder();
  const perRecord = new Array<number>(records.length).fill(0);
  const damaged: DamagedRecord[] = [];
  let next = 0;
  const worker = async () => {
    while (next < records.length) {
      const index = next++;
      let loaded: Awaited<ReturnType<typeof readCommittedIds>>;
      try {
        loaded = await readCommittedIds(fs, records[index]);
      } catch (e) {
        // Only bytes that do not parse make a record damaged; a store that cannot be read (a failed GET,
        // EIO, no permission) says nothing about it, and uncommitting would delete committed output.
        if (isStorageError(e)) throw pathError(records[index].path, e, "cannot read the commit record");
        damaged.push({ record: records[index], error: errorMessage(e) });
        continue;
      }
      const { column, values } = loaded;
      if (column) builder.addColumn(column);
      for (const value of values ?? []) builder.add(value);
      perRecord[index] = column?.length ?? values?.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, records.length) }, worker));
  return { ids: builder.build(), perRecord, damaged };
}

/** An error of the file system or the store (an errno code, an S3 SDK error), as opposed to bytes that do not parse. */
function isStorageError(error: unknown): boolean {
  for (let e = error; e instanceof Error || (typeof e === "object" && e !== null); e = (e as { cause?: unknown }).cause) {
    const { code, $metadata, name } = e as { code?: unknown; $metadata?: unknown; name?: unknown };
    if ((typeof code === "string" && /^E(?!RR_)[A-Z0-9]+$/.test(code)) || $metadata !== undefined || name === "TimeoutError" || name === "AbortError") return true;
  }
  return false;
}

/** The done records; one that cannot be read counts as not written (its inputs are read again). */
export async function readDoneRecords(fs: FileSystem, root: string): Promise<DoneRecord[]> {
  const records: DoneRecord[] = [];
  for (const entry of await listEntries(fs, root, dirs.done)) {
    const record = await readJsonFile<DoneRecord>(fs, entry.path).catch(() => undefined);
    if (record) records.push(record);
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
