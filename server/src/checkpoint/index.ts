// Job-level checkpointing: a job that reads, maps and writes records which output files are
// committed and which input IDs they hold, so that a rerun after any crash resumes where it stopped
// and writes every input ID exactly once. store.ts has the on-disk layout and commit protocol,
// reader.ts shows what a checkpoint holds.
import type { Schema } from "apache-arrow";
import { FileDatasink, OverwriteStage, fileSystemFor, json, readJsonFile, type FileOutput, type FileSystem, type FileSystemDescription } from "../io";
import { type LogicalOp, PlanError, opDisplayName, opsInOrder } from "../plan";
import { idCount, type SharedIds } from "./idset";
import { CheckpointLease, LEASE_FILE, isLeaseFile } from "./lease";
import type { FinishedIds } from "./ranges";
import { renameOutput, renamedOutputs } from "./renames";
import {
  attemptOf, attemptStarts, markers, committedOutputName, dirs, doneKey, doneRecordPath, listEntries, loadCommittedIds, readDoneRecords,
  readManifest, readNames, readOutputSchema, recordAttempt, writeManifest, SCHEMA_FILE,
  type CheckpointBackendKind, type CheckpointSpec, type DoneRecord, type FileEntry, type Manifest,
} from "./store";

export { CheckpointInUseError } from "./lease";
export {
  SCHEMA_FILE, commitOutput, doneKey, outputFileName, recordDoneFiles, recordNames, recordOutputSchema, recordDoneReads, recordErroredRows, taskCommits, taskOutputPrefix,
  type DoneFile, type CheckpointSpec, type ErroredRow, type CheckpointBackendKind,
} from "./store";
export { hasId, idCount, rowsNotIn, IdSetBuilder, type IdRange, type SharedIds } from "./idset";
export { CheckpointReader, type CheckpointSummary, type CommittedFile } from "./reader";
export { describeDuplicate, idKeys, type CheckedOutput } from "./duplicates";
export { IdKeyTable } from "./keyset";
export { finishedIdsFor, idRange, widen, type FinishedIds } from "./ranges";

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

/** Whether a checkpoint's job has begun (an earlier attempt wrote its manifest): a run of it is a resume. */
export async function checkpointStarted(config: CheckpointSettings): Promise<boolean> {
  const fs = fileSystemFor(config.checkpointPath, config.filesystem);
  return (await readManifest(fs, config.checkpointPath).catch(() => undefined)) !== undefined;
}

/** What the tasks of one attempt need to commit their output. */
export function checkpointSpec(config: CheckpointSettings, attempt: string): CheckpointSpec {
  return {
    path: config.checkpointPath, idColumn: config.idColumn, backend: config.backend, filesystem: config.filesystem, attempt,
    checkDuplicateIds: !config.allowDuplicateIds,
  };
}

// ------------------------------------------------------------------ plan validation

const MAP_LIKE = new Set(["map", "mapBatches", "filter", "flatMap", "addColumn", "selectColumns", "dropColumns", "renameColumns", "withColumn", "filterExpr", "select"]);

type WriteOp = Extract<LogicalOp, { kind: "write" }>;

/** The files a checkpointed job writes (validateCheckpointPlan checked that it writes files). */
const outputOf = (write: WriteOp): FileOutput => write.datasink as FileDatasink;

/**
 * Checks that a checkpointed plan is read → map-like operators → write and that the ID column reaches
 * the write as far as the plan shows (column operators; a source schema when known). Returns the write.
 */
export function validateCheckpointPlan(root: LogicalOp, config: CheckpointSettings, sourceColumns?: string[]): WriteOp {
  const prefix = `checkpointing (idColumn '${config.idColumn}')`;
  if (root.kind !== "write") throw new PlanError(`${prefix} needs a plan that ends in a write; this one ends in ${opDisplayName(root)}`, root);
  if (!(root.datasink instanceof FileDatasink)) {
    throw new PlanError(`${prefix} needs a file write (writeParquet, writeCsv, writeJson), whose files it commits; ${opDisplayName(root)} writes to another Datasink`, root);
  }
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
      || (op.kind === "renameColumns" && id in op.mapping && op.mapping[id] !== id)
      || (op.kind === "withColumn" && op.column === id && !(op.expr.op === "col" && op.expr.name === id))
      || (op.kind === "select" && !op.exprs.some((e) => e.op === "col" && e.name === id));
    if (lost) throw new PlanError(`${prefix}: ${opDisplayName(op)} removes or renames the ID column '${id}', which must reach the write unchanged`, op);
  }
  const write = outputOf(root);
  // The checkpoint is deleted on success, and listed by nothing else: it must not share a folder with data.
  const dataFolders = [["output folder", write.path], ...(read.source.type === "files" ? read.source.paths.map((p) => ["input", p]) : [])];
  for (const [what, folder] of dataFolders) {
    if (overlaps(config.checkpointPath, folder)) {
      throw new PlanError(`${prefix}: checkpointPath ${config.checkpointPath} overlaps the ${what} ${folder}; give the checkpoint a folder of its own`, what === "input" ? read : root);
    }
  }
  return root;
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
  /** The output's schema, as the attempts that committed files fixed it: this attempt writes under it (casting losslessly) or fails. */
  outputSchema?: Schema;
  /** Rows committed before this attempt (IDs, unless a flatMap made several rows of one). */
  committedRowsAtStart: number;
  committedFilesAtStart: number;
  /** Output files of earlier attempts removed because they were never committed. */
  removedUncommitted: number;
  /** Where this attempt writes: the output folder, or an overwrite's staging folder. */
  writeTo: string;
  /** An overwrite whose staged output replaces the folder's when the job succeeds (none once that happened). */
  overwrite?: OverwriteStage;
  loadMs: number;
}

/** Markers at the checkpoint's top level, beside manifest.json. `outputSwapped`: an overwrite's staged output is final. */

/**
 * Opens (or creates) the checkpoint for an attempt: checks it belongs to this job, stages an overwrite
 * (once per job, recorded in the manifest), removes the output files no earlier attempt committed, loads
 * the committed IDs and done files, and records the attempt before it writes anything. onLeaseLost: another
 * run took the lease over later, and this attempt must stop.
 */
export async function prepareCheckpoint(
  config: CheckpointSettings, write: WriteOp, attempt: string, onLeaseLost: (error: Error) => void,
): Promise<PreparedCheckpoint> {
  const started = Date.now();
  const root = config.checkpointPath;
  const fs = fileSystemFor(root, config.filesystem);
  const spec = checkpointSpec(config, attempt);
  const lease = await CheckpointLease.acquire(fs, root, attempt, onLeaseLost);
  try {
    return await openAttempt(config, outputOf(write), spec, lease, fs, started);
  } catch (e) {
    await lease.release();
    throw e;
  }
}

async function openAttempt(
  config: CheckpointSettings, write: FileOutput, spec: CheckpointSpec, lease: CheckpointLease, fs: FileSystem, started: number,
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
      removedUncommitted: 0, loadMs: Date.now() - started, writeTo: write.path,
    };
  }
  let manifest = await readManifest(fs, root);
  const attempts = (await listEntries(fs, root, dirs.attempts)).map(attemptOf);
  // Every attempt's files stay when the staged output replaces the folder's (S3 keeps them by name).
  const stageOf = (job: string) => OverwriteStage.of(write.path, job, [...attempts, spec.attempt].map((a) => `${a}_`), { filesystem: write.options.filesystem, checkpoint: root });
  if (manifest) checkSameJob(root, manifest, identity);
  else {
    if (!(await isEmptyFolder(fs, root))) {
      throw new PlanError(`checkpointPath ${root} holds files but is not a checkpoint (no manifest.json); give the checkpoint an empty or new folder`);
    }
    // The staging folder is recorded before anything is staged, so that every attempt finds it.
    const overwrite = write.mode === "overwrite" ? { job: spec.attempt, staging: stageOf(spec.attempt).writeTo } : undefined;
    manifest = { version: 1, ...identity, createdAt: new Date().toISOString(), overwrite };
    await writeManifest(fs, root, manifest);
  }
  let overwrite = manifest.overwrite && stageOf(manifest.overwrite.job);
  if (overwrite && (await fs.stat(fs.join(root, markers.outputSwapped))) !== null) {
    // An earlier attempt succeeded and began the swap: finish it; this attempt writes into the folder itself.
    const committed = committedNames(await listEntries(fs, root, dirs.committed));
    await overwrite.commit(await readNames(fs, root, committed));
    overwrite = undefined;
  }
  await overwrite?.begin();
  const writeTo = overwrite?.writeTo ?? write.path;
  let records = await listEntries(fs, root, dirs.committed);
  let removedUncommitted = 0;
  if (attempts.length > 0) {
    const committed = committedNames(records);
    const output = await reconcileOutput(writeTo, write.options.filesystem, attempts, committed);
    removedUncommitted = output.removed;
    const renamed = await renamedOutputs(fs, root, writeTo, write, committed);
    // A record whose file is gone (not renamed either) commits nothing: its rows are written again.
    const orphans = records.filter((r) => !output.present.has(committedOutputName(r)!) && !renamed.has(committedOutputName(r)!));
    await uncommit(fs, root, orphans);
    records = records.filter((r) => !orphans.includes(r));
  }
  let done: DoneRecord[];
  let finished: DoneRecord[];
  let committedIds: SharedIds | undefined;
  for (;;) {
    done = await readDoneRecords(fs, root);
    // IDs of tasks that consumed all their input files are never met again: those files are not read.
    finished = done.filter((d) => d.allInputsDone);
    const finishedPrefixes = new Set(finished.map((d) => d.prefix));
    const needed = records.filter((r) => !finishedPrefixes.has(taskPrefixOf(r.name)));
    const loaded = needed.length > 0 ? await loadCommittedIds(fs, needed) : undefined;
    committedIds = loaded?.ids;
    if (!loaded?.damaged.length) break;
    // A damaged record commits nothing either; its task's other records may now be needed, so load again.
    const damaged = loaded.damaged.map((d) => d.record);
    await uncommit(fs, root, damaged, { dir: writeTo, filesystem: write.options.filesystem });
    records = records.filter((r) => !damaged.includes(r));
  }
  const committed = committedNames(records);
  const finishedTasks = finished.map((d) => ({ range: d.ids, records: records.filter((r) => taskPrefixOf(r.name) === d.prefix) })).filter((t) => t.records.length > 0);
  const doneFiles = done.flatMap((d) => d.files);
  // Without a committed file, no data is under the recorded schema: this attempt fixes its own.
  const outputSchema = records.length > 0 ? await readOutputSchema(fs, root) : undefined;
  await recordAttempt(fs, root, spec.attempt);
  return {
    spec, lease, alreadyComplete: false, outputSchema, committedIds: committedIds && idCount(committedIds) > 0 ? committedIds : undefined,
    finishedIds: finishedTasks.length > 0 ? { filesystem: config.filesystem, tasks: finishedTasks } : undefined,
    doneFiles: new Set(doneFiles.map(doneKey)), donePaths: new Set(doneFiles.map((f) => f.path)),
    committedRowsAtStart: (committedIds ? idCount(committedIds) : 0) + finished.reduce((s, d) => s + d.rows, 0),
    committedFilesAtStart: committed.size, removedUncommitted, loadMs: Date.now() - started, writeTo, overwrite,
  };
}

/** Nothing in dir but, at most, the lease this run holds (or takeover tokens) and temporary files of writes a crash cut short. */
async function isEmptyFolder(fs: FileSystem, dir: string): Promise<boolean> {
  if ((await fs.stat(dir)) === null) return true;
  const ignorable = (file: string) => {
    const name = file.slice(file.lastIndexOf("/") + 1);
    return isLeaseFile(name) || (name.startsWith(".") && name.endsWith(".tmp"));
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
async function reconcileOutput(
  dir: string, filesystem: FileSystemDescription | undefined, attempts: string[], committed: Set<string>,
): Promise<{ removed: number; present: Set<string> }> {
  const fs = fileSystemFor(dir, filesystem);
  const present = new Set<string>();
  if ((await fs.stat(dir)) === null) return { removed: 0, present };
  const doomed: string[] = [];
  for await (const file of outputFiles(fs, dir)) {
    const name = file.slice(file.lastIndexOf("/") + 1);
    const base = name.startsWith(".") && name.endsWith(".tmp") ? name.slice(1, -4) : name;
    if (!attempts.some((a) => base.startsWith(`${a}_`))) continue;
    if (base === name && committed.has(name)) present.add(name);
    else doomed.push(file);
  }
  await fs.deleteFiles(doomed);
  return { removed: doomed.length, present };
}

/**
 * The files of an output folder, and of its hive partition folders (`col=value/`, partitionCols): a
 * written block's files there share one name, so they are committed, kept and removed together.
 */
async function* outputFiles(fs: FileSystem, dir: string): AsyncGenerator<string> {
  const partitions: string[] = [];
  for await (const page of fs.listDirectory(dir)) {
    for (const file of page.files) yield file.path;
    partitions.push(...page.directories.filter((d) => /\/[^./][^/]*=[^/]*\/?$/.test(d)));
  }
  for (const partition of partitions) yield* outputFiles(fs, partition);
}

/**
 * Makes commit records count as never written: the done records that may count their rows as done go
 * first (their inputs are read again for the rows), then the output files (when their folder is given:
 * the output's, or an overwrite's staging folder), then the records themselves.
 * An interruption leaves the rest to the next attempt, which finds the same records damaged or without files.
 */
async function uncommit(
  fs: FileSystem, root: string, records: FileEntry[], output?: { dir: string; filesystem?: FileSystemDescription },
): Promise<void> {
  if (records.length === 0) return;
  const tasks = new Set(records.map((r) => taskPrefixOf(r.name)));
  const attemptOfPrefix = (prefix: string) => prefix.slice(0, prefix.indexOf("_"));
  const attempts = new Set([...tasks].map(attemptOfPrefix));
  const starts = await attemptStarts(fs, root);
  const earliest = Math.min(...[...attempts].map((a) => starts.get(a) ?? -Infinity));
  // Done: the records' own tasks; reads whose rows an actor pool carried into their files; and every task of
  // a later attempt, which dropped the rows these records committed when it read their inputs.
  const stale = (await readDoneRecords(fs, root)).filter((d) => tasks.has(d.prefix) || d.outputs?.some((prefix) => tasks.has(prefix))
    || (!attempts.has(attemptOfPrefix(d.prefix)) && !((starts.get(attemptOfPrefix(d.prefix)) ?? Infinity) < earliest)));
  await fs.deleteFiles([...new Set([...tasks, ...stale.map((d) => d.prefix)].map((prefix) => doneRecordPath(fs, root, prefix)))]);
  if (output) {
    const outputFs = fileSystemFor(output.dir, output.filesystem);
    const names = new Set(records.map((r) => committedOutputName(r)!));
    const doomed: string[] = [];
    if ((await outputFs.stat(output.dir)) !== null) {
      for await (const file of outputFiles(outputFs, output.dir)) if (names.has(file.slice(file.lastIndexOf("/") + 1))) doomed.push(file);
    }
    await outputFs.deleteFiles(doomed);
  }
  await fs.deleteFiles(records.map((r) => r.path));
}

/** The output files that commit records commit. */
function committedNames(records: FileEntry[]): Set<string> {
  return new Set(records.map(committedOutputName).filter((name) => name !== undefined));
}

/** "<attempt>_<task>_" of an output file's (or its commit record's) name. */
const taskPrefixOf = (name: string) => name.slice(0, name.indexOf("_", name.indexOf("_") + 1) + 1);

type JobIdentity = Pick<Manifest, "idColumn" | "output">;

function jobIdentity(config: CheckpointSettings, write: FileOutput): JobIdentity {
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
 * task whose worker died between writing and committing, then rewrote its rows), swaps an overwrite's
 * staged output in, then, when asked to, deletes the checkpoint — unless rows or blocks errored and wait
 * for a resume. Returns whether it was deleted.
 */
export async function finishCheckpoint(config: CheckpointSettings, prepared: PreparedCheckpoint, op: WriteOp, unfinishedRows: boolean): Promise<boolean> {
  if (prepared.alreadyComplete) return true;
  const write = outputOf(op);
  const fs = fileSystemFor(config.checkpointPath, config.filesystem);
  const records = await listEntries(fs, config.checkpointPath, dirs.committed);
  const committed = committedNames(records);
  await reconcileOutput(prepared.writeTo, write.options.filesystem, [prepared.spec.attempt], committed);
  const uncommitNamed = (names: Set<string>) => uncommit(fs, config.checkpointPath, records.filter((r) => names.has(committedOutputName(r)!)), { dir: prepared.writeTo, filesystem: write.options.filesystem });
  const renames = await renameOutput(fs, config.checkpointPath, prepared.writeTo, write, committed, prepared.overwrite !== undefined, uncommitNamed);
  if (prepared.overwrite) {
    // Marked first: an attempt that finds the marker finishes the swap rather than staging again.
    await fs.write(fs.join(config.checkpointPath, markers.outputSwapped), json({}));
    await prepared.overwrite.commit(renames);
  }
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
  await fs.deleteFiles([fs.join(root, "manifest.json"), fs.join(root, SCHEMA_FILE), fs.join(root, markers.outputSwapped), fs.join(root, markers.outputRenamed)]);
  await fs.deleteFiles([fs.join(root, markers.deleting), fs.join(root, LEASE_FILE)]);
  if (await isEmptyFolder(fs, root)) await fs.deleteByPrefix(root, "");
}
