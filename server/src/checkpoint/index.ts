// Job-level checkpointing: a job that reads, maps and writes records which output files are
// committed and which input IDs they hold, so that a rerun after any crash resumes where it stopped
// and writes every input ID exactly once. store.ts has the on-disk layout and commit protocol.
import { fileSystemFor, readFileBlocks, removeWrittenFiles, type FileSystem, type FileSystemDescription } from "../io";
import { blockToRows, type Row } from "../block";
import { type LogicalOp, PlanError, opDisplayName, opsInOrder } from "../plan";
import { allIds, hasId, idCount, type SharedIds } from "./idset";
import type { FinishedIds } from "./ranges";
import {
  CheckpointLease, attemptOf, committedOutputName, dirs, doneKey, listEntries, loadCommittedIds, readDoneRecords, readJsonFile, json,
  readErroredRows, readManifest, recordAttempt, writeManifest,
  type CheckpointBackendKind, type CheckpointSpec, type DoneFile, type ErroredRow, type FileEntry, type Manifest,
} from "./store";

export { CheckpointInUseError, commitOutput, doneKey, outputFileName, recordDoneFiles, recordDoneReads, recordErroredRows, taskCommits, taskOutputPrefix, type DoneFile, type CheckpointSpec, type ErroredRow, type CheckpointBackendKind } from "./store";
export { hasId, idCount, rowsNotIn, IdSetBuilder, type SharedIds } from "./idset";
export { describeDuplicate, idKeys, type CheckedOutput } from "./duplicates";
export { IdKeyTable } from "./keyset";
export { finishedIdsFor, idRange, widen, type FinishedIds, type IdRange } from "./ranges";

/** What the engine needs of a CheckpointConfig (the public class lives in api/). */
export interface CheckpointSettings {
  idColumn: string;
  /** Absolute path or s3:// URL. */
  checkpointPath: string;
  deleteCheckpointOnSuccess: boolean;
  filesystem?: FileSystemDescription;
  backend: CheckpointBackendKind;
  /** Write rows that share an ID instead of failing the job (CheckpointConfig.allowDuplicateIds). */
  allowDuplicateIds?: boolean;
}

/** What the tasks of one attempt need to commit their output. */
export function checkpointSpec(config: CheckpointSettings, attempt: string): CheckpointSpec {
  return {
    path: config.checkpointPath, idColumn: config.idColumn, backend: config.backend, filesystem: config.filesystem, attempt,
    checkDuplicateIds: !config.allowDuplicateIds,
  };
}

// ------------------------------------------------------------------ plan validation

const MAP_LIKE = new Set(["map", "mapBatches", "filter", "flatMap", "addColumn", "selectColumns", "dropColumns", "renameColumns"]);

type WriteOp = Extract<LogicalOp, { kind: "write" }>;

/**
 * Checks that a checkpointed plan is read → map-like operators → write and that the ID column reaches
 * the write as far as the plan shows (column operators; a source schema when known). Returns the write.
 */
export function validateCheckpointPlan(root: LogicalOp, config: CheckpointSettings, sourceColumns?: string[]): WriteOp {
  const prefix = `checkpointing (idColumn '${config.idColumn}')`;
  if (root.kind !== "write") throw new PlanError(`${prefix} needs a plan that ends in a write; this one ends in ${opDisplayName(root)}`, root);
  let read: LogicalOp = root.input;
  for (; read.kind !== "read"; read = (read as Extract<LogicalOp, { input: LogicalOp }>).input) {
    if (!MAP_LIKE.has(read.kind)) {
      throw new PlanError(`${prefix} supports read → map-like operators (map, mapBatches, filter, flatMap, column operators) → write; ${opDisplayName(read)} is not map-like`, read);
    }
  }
  const ops = opsInOrder(root);
  const id = config.idColumn;
  const projection = read.source.type === "files" ? read.source.options.columns : undefined;
  if (projection && !projection.includes(id)) {
    throw new PlanError(`${prefix}: ${read.name} reads columns [${projection.join(", ")}], which leave out the ID column '${id}'`, read);
  }
  if (sourceColumns && !sourceColumns.includes(id)) {
    throw new PlanError(`${prefix}: ${read.name} has no column '${id}'; its columns are ${sourceColumns.map((c) => `'${c}'`).join(", ")}`, read);
  }
  for (const op of ops) {
    const lost = (op.kind === "selectColumns" && !op.columns.includes(id)) || (op.kind === "dropColumns" && op.columns.includes(id))
      || (op.kind === "renameColumns" && id in op.mapping && op.mapping[id] !== id);
    if (lost) throw new PlanError(`${prefix}: ${opDisplayName(op)} removes or renames the ID column '${id}', which must reach the write unchanged`, op);
  }
  const write = root as WriteOp;
  // The checkpoint is deleted on success, and listed by nothing else: it must not share a folder with data.
  const dataFolders = [["output folder", write.path], ...(read.source.type === "files" ? read.source.paths.map((p) => ["input", p]) : [])];
  for (const [what, folder] of dataFolders) {
    if (overlaps(config.checkpointPath, folder)) {
      throw new PlanError(`${prefix}: checkpointPath ${config.checkpointPath} overlaps the ${what} ${folder}; give the checkpoint a folder of its own`, what === "input" ? read : write);
    }
  }
  return write;
}

/** One path is the other or inside it. */
function overlaps(a: string, b: string): boolean {
  const trim = (p: string) => p.replace(/\/+$/, "");
  const [x, y] = [trim(a), trim(b)];
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
}

// ------------------------------------------------------------------ preparing an attempt

export interface PreparedCheckpoint {
  spec: CheckpointSpec;
  /** Held until the attempt ends (release it then, whatever happened). */
  lease: CheckpointLease;
  /** The job had finished and only the deletion of its checkpoint was cut short: there is nothing to do. */
  alreadyComplete: boolean;
  /** Committed IDs to drop in read tasks; undefined when nothing is committed yet. */
  committedIds?: SharedIds;
  /** The IDs of tasks that consumed their input files whole, not loaded: read tasks load those a block reaches into. */
  finishedIds?: FinishedIds;
  /** Input files earlier attempts consumed whole (as doneKey): not read again. A changed one fails the job. */
  doneFiles: Set<string>;
  donePaths: Set<string>;
  /** Rows committed before this attempt (IDs, unless a flatMap made several rows of one). */
  committedRowsAtStart: number;
  committedFilesAtStart: number;
  /** Output files of earlier attempts removed because they were never committed. */
  removedUncommitted: number;
  loadMs: number;
}

/** Markers at the checkpoint's top level, beside manifest.json. */
const markers = { deleting: "deleting.json", outputCleared: "output-cleared.json" } as const;

/**
 * Opens (or creates) the checkpoint for an attempt: checks it belongs to this job, empties the output
 * folder once for "overwrite", removes the output files no earlier attempt committed, loads the committed
 * IDs and done files, and records the attempt before it writes anything.
 */
export async function prepareCheckpoint(config: CheckpointSettings, write: WriteOp, attempt: string): Promise<PreparedCheckpoint> {
  const started = Date.now();
  const root = config.checkpointPath;
  const fs = fileSystemFor(root, config.filesystem);
  const spec = checkpointSpec(config, attempt);
  const lease = await CheckpointLease.acquire(fs, root, attempt);
  try {
    return await openAttempt(config, write, spec, lease, fs, started);
  } catch (e) {
    await lease.release();
    throw e;
  }
}

async function openAttempt(
  config: CheckpointSettings, write: WriteOp, spec: CheckpointSpec, lease: CheckpointLease, fs: FileSystem, started: number,
): Promise<PreparedCheckpoint> {
  const root = spec.path;
  const identity = jobIdentity(config, write);
  const deleting = fs.join(root, markers.deleting);
  if ((await fs.stat(deleting)) !== null) {
    // The job succeeded, then was stopped while deleting its checkpoint: finish that, and write nothing.
    checkSameJob(root, await readJsonFile<JobIdentity>(fs, deleting), identity);
    await deleteCheckpoint(fs, root, identity);
    return {
      spec, lease, alreadyComplete: true, doneFiles: new Set(), donePaths: new Set(), committedRowsAtStart: 0, committedFilesAtStart: 0,
      removedUncommitted: 0, loadMs: Date.now() - started,
    };
  }
  const manifest = await readManifest(fs, root);
  if (manifest) checkSameJob(root, manifest, identity);
  else {
    if (!(await isEmptyFolder(fs, root))) {
      throw new PlanError(`checkpointPath ${root} holds files but is not a checkpoint (no manifest.json); give the checkpoint an empty or new folder`);
    }
    await writeManifest(fs, root, { version: 1, ...identity, createdAt: new Date().toISOString() });
  }
  const attempts = (await listEntries(fs, root, dirs.attempts)).map(attemptOf);
  if (write.mode === "overwrite" && attempts.length === 0 && (await fs.stat(fs.join(root, markers.outputCleared))) === null) {
    // Emptied once per job, before its first attempt writes, and marked only when done: a crash mid-way empties it again.
    await removeWrittenFiles(write.path, "", write.options.filesystem);
    await fs.write(fs.join(root, markers.outputCleared), json({}));
  }
  let records = await listEntries(fs, root, dirs.committed);
  let removedUncommitted = 0;
  let orphanTasks = new Set<string>();
  if (attempts.length > 0) {
    const output = await reconcileOutput(write, attempts, committedNames(records));
    removedUncommitted = output.removed;
    // A record whose file is gone commits nothing: its rows are written again, so its task's inputs are not done.
    const orphans = records.filter((r) => !output.present.has(committedOutputName(r)!));
    await fs.deleteFiles(orphans.map((r) => r.path));
    records = records.filter((r) => !orphans.includes(r));
    orphanTasks = new Set(orphans.map((r) => taskPrefixOf(r.name)));
  }
  const committed = committedNames(records);
  const done = (await readDoneRecords(fs, root)).filter((d) => !orphanTasks.has(d.prefix) && !d.outputs?.some((p) => orphanTasks.has(p)));
  // IDs of tasks that consumed all their input files are never met again: those files are not read.
  const finished = done.filter((d) => d.allInputsDone);
  const finishedPrefixes = new Set(finished.map((d) => d.prefix));
  const needed = records.filter((r) => !finishedPrefixes.has(taskPrefixOf(r.name)));
  const committedIds = needed.length > 0 ? (await loadCommittedIds(fs, needed)).ids : undefined;
  const finishedTasks = finished.map((d) => ({ range: d.ids, records: records.filter((r) => taskPrefixOf(r.name) === d.prefix) })).filter((t) => t.records.length > 0);
  const doneFiles = done.flatMap((d) => d.files);
  await recordAttempt(fs, root, spec.attempt);
  return {
    spec, lease, alreadyComplete: false, committedIds: committedIds && idCount(committedIds) > 0 ? committedIds : undefined,
    finishedIds: finishedTasks.length > 0 ? { filesystem: config.filesystem, tasks: finishedTasks } : undefined,
    doneFiles: new Set(doneFiles.map(doneKey)), donePaths: new Set(doneFiles.map((f) => f.path)),
    committedRowsAtStart: (committedIds ? idCount(committedIds) : 0) + finished.reduce((s, d) => s + d.rows, 0),
    committedFilesAtStart: committed.size, removedUncommitted, loadMs: Date.now() - started,
  };
}

/** Nothing in dir but, at most, the lease this run holds and temporary files of writes a crash cut short. */
async function isEmptyFolder(fs: FileSystem, dir: string): Promise<boolean> {
  if ((await fs.stat(dir)) === null) return true;
  const ignorable = (file: string) => {
    const name = file.slice(file.lastIndexOf("/") + 1);
    return name === "lease.json" || (name.startsWith(".") && name.endsWith(".tmp"));
  };
  for await (const page of fs.listDirectory(dir)) {
    if (page.directories.length > 0 || page.files.some((f) => !ignorable(f.path))) return false;
  }
  return true;
}

/**
 * Deletes the output files (and in-flight temporaries) of the given attempts that have no commit record;
 * returns how many, and the names of the committed files that are there.
 */
async function reconcileOutput(write: WriteOp, attempts: string[], committed: Set<string>): Promise<{ removed: number; present: Set<string> }> {
  const fs = fileSystemFor(write.path, write.options.filesystem);
  const present = new Set<string>();
  if ((await fs.stat(write.path)) === null) return { removed: 0, present };
  const doomed: string[] = [];
  for await (const page of fs.listDirectory(write.path)) {
    for (const file of page.files) {
      const name = file.path.slice(file.path.lastIndexOf("/") + 1);
      const base = name.startsWith(".") && name.endsWith(".tmp") ? name.slice(1, -4) : name;
      if (!attempts.some((a) => base.startsWith(`${a}_`))) continue;
      if (base === name && committed.has(name)) present.add(name);
      else doomed.push(file.path);
    }
  }
  await fs.deleteFiles(doomed);
  return { removed: doomed.length, present };
}

/** The output files that commit records commit. */
function committedNames(records: FileEntry[]): Set<string> {
  return new Set(records.map(committedOutputName).filter((name) => name !== undefined));
}

/** "<attempt>_<task>_" of an output file's (or its commit record's) name. */
const taskPrefixOf = (name: string) => name.slice(0, name.indexOf("_", name.indexOf("_") + 1) + 1);

type JobIdentity = Pick<Manifest, "idColumn" | "output">;

function jobIdentity(config: CheckpointSettings, write: WriteOp): JobIdentity {
  return { idColumn: config.idColumn, output: { path: write.path, format: write.format } };
}

function checkSameJob(root: string, found: JobIdentity, job: JobIdentity): void {
  if (found.idColumn === job.idColumn && found.output.path === job.output.path && found.output.format === job.output.format) return;
  throw new PlanError(
    `the checkpoint at ${root} belongs to another job (idColumn '${found.idColumn}', writing ${found.output.format} to ${found.output.path}); ` +
    `this job has idColumn '${job.idColumn}' and writes ${job.output.format} to ${job.output.path}. Use another checkpointPath, or delete that one to start over`);
}

/**
 * After a successful attempt: removes the output files of this attempt that were never committed (a
 * task whose worker died between writing and committing, then rewrote its rows), then, when asked to,
 * the checkpoint — unless rows or blocks errored and wait for a resume. Returns whether it was deleted.
 */
export async function finishCheckpoint(config: CheckpointSettings, prepared: PreparedCheckpoint, write: WriteOp, unfinishedRows: boolean): Promise<boolean> {
  if (prepared.alreadyComplete) return true;
  const fs = fileSystemFor(config.checkpointPath, config.filesystem);
  const committed = committedNames(await listEntries(fs, config.checkpointPath, dirs.committed));
  await reconcileOutput(write, [prepared.spec.attempt], committed);
  if (!config.deleteCheckpointOnSuccess || unfinishedRows) return false;
  await deleteCheckpoint(fs, prepared.spec.path, jobIdentity(config, write));
  return true;
}

/**
 * Deletes a finished job's checkpoint — only what the checkpoint consists of — so that no interruption
 * leaves part of it looking like progress: the `deleting` marker goes first and last, and a run that
 * finds it finishes the deletion and writes nothing.
 */
async function deleteCheckpoint(fs: FileSystem, root: string, job: JobIdentity): Promise<void> {
  await fs.write(fs.join(root, markers.deleting), json(job));
  for (const subdir of Object.values(dirs)) await fs.deleteByPrefix(fs.join(root, subdir), "");
  await fs.deleteFiles([fs.join(root, "manifest.json"), fs.join(root, markers.outputCleared)]);
  await fs.deleteFiles([fs.join(root, markers.deleting), fs.join(root, "lease.json")]);
  if (await isEmptyFolder(fs, root)) await fs.deleteByPrefix(root, "");
}

// ------------------------------------------------------------------ inspection (CLI, server, editor)

export interface CommittedFile { output: string; record: string; ids: number }

export interface CheckpointSummary {
  path: string;
  manifest?: Manifest;
  attempts: string[];
  committedFiles: CommittedFile[];
  committedIds: number;
  /** Input files earlier attempts consumed whole. */
  doneFiles: number;
  /** Rows a UDF failed on whose IDs are still uncommitted (a resume processes exactly these). */
  erroredRows: number;
}

/** Reads a checkpoint for display; loads every record, so it is as costly as a resume's loading. */
export class CheckpointReader {
  private constructor(
    readonly path: string, private readonly fs: FileSystem, readonly manifest: Manifest | undefined,
    private readonly records: FileEntry[], private readonly attempts: string[],
  ) {}

  static async open(path: string, filesystem?: FileSystemDescription): Promise<CheckpointReader> {
    const fs = fileSystemFor(path, filesystem);
    if ((await fs.stat(path)) === null) throw new Error(`no checkpoint at ${path}`);
    const manifest = await readManifest(fs, path);
    const records = (await listEntries(fs, path, dirs.committed)).filter((e) => committedOutputName(e) !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1));
    const attempts = (await listEntries(fs, path, dirs.attempts)).map(attemptOf).sort();
    if (!manifest && records.length === 0 && attempts.length === 0) throw new Error(`${path} is not a checkpoint (no manifest.json, attempts or committed records)`);
    return new CheckpointReader(path, fs, manifest, records, attempts);
  }

  private idsCache?: Promise<{ perFile: number[]; ids: SharedIds }>;

  private loadIds(): Promise<{ perFile: number[]; ids: SharedIds }> {
    this.idsCache ??= loadCommittedIds(this.fs, this.records).then(({ ids, perRecord }) => ({ perFile: perRecord, ids }));
    return this.idsCache;
  }

  async summary(): Promise<CheckpointSummary> {
    const { perFile, ids } = await this.loadIds();
    const outputDir = this.manifest?.output.path;
    return {
      path: this.path, manifest: this.manifest, attempts: this.attempts,
      committedFiles: this.records.map((r, i) => {
        const name = committedOutputName(r)!;
        return { output: outputDir ? fileSystemFor(outputDir).join(outputDir, name) : name, record: r.path, ids: perFile[i] };
      }),
      committedIds: idCount(ids),
      doneFiles: (await this.doneFiles()).length,
      erroredRows: (await this.erroredRows()).length,
    };
  }

  /** Committed IDs in record order, a page at a time (as strings: IDs may exceed 2^53). */
  async ids(offset: number, limit: number): Promise<{ total: number; ids: string[] }> {
    const { ids } = await this.loadIds();
    const page: string[] = [];
    let index = 0;
    for (const id of allIds(ids)) {
      if (index++ < offset) continue;
      if (page.length >= limit) break;
      page.push(String(id));
    }
    return { total: idCount(ids), ids: page };
  }

  /** Rows of the committed output files, a page at a time, each with the output file it is in. */
  async rows(offset: number, limit: number): Promise<{ total: number; rows: { file: string; row: Row }[] }> {
    const { perFile } = await this.loadIds();
    const total = perFile.reduce((s, n) => s + n, 0);
    const out: { file: string; row: Row }[] = [];
    const outputDir = this.manifest?.output.path;
    if (!outputDir) return { total, rows: out };
    const outputFs = fileSystemFor(outputDir, this.fs.description);
    const outputSystem = outputFs.description;
    let skip = offset;
    for (let i = 0; i < this.records.length && out.length < limit; i++) {
      if (skip >= perFile[i]) { skip -= perFile[i]; continue; }
      const file = outputFs.join(outputDir, committedOutputName(this.records[i])!);
      const info = await outputFs.stat(file);
      if (info === null || info === "directory") continue;
      const spec = { format: this.manifest!.output.format as "parquet" | "csv" | "json", files: [{ path: file, size: info.size }], options: { targetBlockBytes: 64 << 20, filesystem: outputSystem } };
      for await (const { block } of readFileBlocks(spec)) {
        for (const row of blockToRows(block)) {
          if (skip > 0) { skip--; continue; }
          if (out.length >= limit) break;
          out.push({ file, row });
        }
      }
    }
    return { total, rows: out };
  }

  /** Input files earlier attempts consumed whole, which a resume does not read. */
  private doneCache?: Promise<DoneFile[]>;

  doneFiles(): Promise<DoneFile[]> {
    this.doneCache ??= readDoneRecords(this.fs, this.path).then((records) => records.flatMap((d) => d.files));
    return this.doneCache;
  }

  private erroredCache?: Promise<ErroredRow[]>;

  /** Rows a UDF failed on that no later attempt committed. */
  erroredRows(): Promise<ErroredRow[]> {
    this.erroredCache ??= (async () => {
      const { ids } = await this.loadIds();
      const asKey = (id: unknown) => (ids.kind === "int" && typeof id === "string" && /^-?\d+$/.test(id) ? BigInt(id) : id);
      // A row that failed in several attempts is shown once, with its latest failure.
      const latest = new Map<string, ErroredRow>();
      for (const row of (await readErroredRows(this.fs, this.path)).sort((a, b) => a.at.localeCompare(b.at))) {
        if (!hasId(ids, asKey(row.id))) latest.set(JSON.stringify(row.id), row);
      }
      return [...latest.values()];
    })();
    return this.erroredCache;
  }
}
