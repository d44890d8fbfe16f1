// Read-task planning: the tasks a read stage runs, listed from its source.
import { blockToIPC } from "../block";
import type { TaskInput } from "../cluster";
import type { Schema } from "apache-arrow";
import { MetadataCache, fileMetadata, listFiles, parquetReadSchema, streamFiles, type FileFormat, type FileRef } from "../io";
import type { SourceDef } from "../plan";
import { doneKey } from "../checkpoint";
import type { OperatorMetrics } from "./metrics";

export interface ReadSettings {
  cpuSlots: number;
  targetBlockBytes: number;
  /** Read tasks were found by the background listing (or it ended, or failed). */
  onDiscovery: (error?: Error) => void;
  /** Input files a checkpoint says are consumed whole (by doneKey, and their paths): listed but not read. */
  doneFiles?: { keys: Set<string>; paths: Set<string> };
  onFilesSkipped?: (count: number) => void;
  /** A checkpoint says the job is already complete: the read produces nothing. */
  nothingToRead?: boolean;
  /** A checkpointed job's ID column. */
  idColumn?: string;
}

/** The listed files still to read, given the files a checkpoint says are done. */
function unfinishedFiles(files: FileRef[], settings: ReadSettings): FileRef[] {
  const done = settings.doneFiles;
  if (!done || done.keys.size === 0) return files;
  const changed = files.find((f) => done.paths.has(f.path) && !done.keys.has(doneKey(f)));
  if (changed) {
    // Its rows may be in the output already, and its committed IDs are not loaded: reading it again could duplicate them.
    throw new Error(`input file ${changed.path} changed (size or etag) after an earlier attempt of this checkpointed job consumed it; ` +
      "restore it, or delete the checkpoint to start over");
  }
  const left = files.filter((f) => !done.keys.has(doneKey(f)));
  if (left.length < files.length) settings.onFilesSkipped?.(files.length - left.length);
  return left;
}

type FileSource = Extract<SourceDef, { type: "files" }>;

/** The largest of the first, growing, read tasks (in files). */
const RAMP_MAX_FILES = 16;
/** Parquet footers read in the driver to estimate the row count from the first files listed. */
const SAMPLED_FILES = 3;

/**
 * Lists files page by page and hands out read tasks as pages arrive (until onTask says stop); the tasks read the footers.
 * Rows are estimated from a few sampled footers, scaled by bytes.
 */
async function discoverReadTasks(
  source: FileSource, settings: ReadSettings, metrics: OperatorMetrics, onTask: (task: TaskInput) => boolean,
): Promise<void> {
  let listedBytes = 0;
  let tasks = 0;
  const cache = await MetadataCache.open(source.format, source.paths);
  const sample: Promise<{ rows: number; bytes: number; inMemoryBytes: number } | undefined>[] = [];
  let rampFiles = 1;
  for await (const page of streamFiles(source.paths, listOptions(source))) {
    // The first tasks hold 1, 2, 4, ... files: a task's small outputs are coalesced until it ends, so
    // the first rows come after one file's read rather than a whole group's.
    const groups: FileRef[][] = [];
    let rest = unfinishedFiles(page, settings);
    for (; rampFiles <= RAMP_MAX_FILES && rest.length > 0; rampFiles *= 2) {
      groups.push(rest.slice(0, rampFiles));
      rest = rest.slice(rampFiles);
    }
    groups.push(...groupFiles(rest, undefined, settings));
    for (const group of groups) {
      tasks++;
      if (!onTask(fileReadTask(source, group, settings))) return; // nobody wants more (a limit was reached, or the job ended)
    }
    listedBytes += page.reduce((s, f) => s + f.size, 0);
    if (source.format === "parquet") {
      for (const file of page.slice(0, SAMPLED_FILES - sample.length)) {
        sample.push(fileMetadata(source.format, file, source.options.filesystem, cache).then((m) => ({ rows: m.rows!, bytes: file.size, inMemoryBytes: m.inMemoryBytes ?? file.size }), () => undefined));
      }
    }
  }
  metrics.tasksEstimated = tasks;
  const sampled = (await Promise.all(sample)).filter((s) => s !== undefined);
  await cache.save();
  const sampledBytes = sampled.reduce((s, m) => s + m.bytes, 0);
  if (sampledBytes > 0) {
    const scale = listedBytes / sampledBytes;
    metrics.rowsEstimated = Math.round(sampled.reduce((s, m) => s + m.rows, 0) * scale);
    metrics.inMemoryBytesEstimated = Math.round(sampled.reduce((s, m) => s + m.inMemoryBytes, 0) * scale);
  }
}

/**
 * The schema of a bare Parquet read, from the first listed file's footer and the metadata cache — what
 * `schema()` and the editor ask for, without reading data. Undefined for other sources.
 */
export async function sourceSchema(source: SourceDef, targetBlockBytes: number): Promise<Schema | undefined> {
  if (source.type !== "files" || source.format !== "parquet") return undefined;
  const pages = streamFiles(source.paths, listOptions(source));
  const first = (await pages.next()).value?.[0];
  await pages.return(undefined);
  if (!first) return undefined;
  const cache = await MetadataCache.open(source.format, source.paths);
  const spec = fileReadTask(source, [first], { cpuSlots: 1, targetBlockBytes, onDiscovery: () => undefined });
  const schema = spec.kind === "files" ? await parquetReadSchema(spec.spec, first, cache) : undefined;
  await cache.save();
  return schema;
}

function listOptions(source: FileSource) {
  return {
    fileExtensions: source.fileExtensions, defaultExtensions: DEFAULT_EXTENSIONS[source.format],
    partitioning: source.partitioning, filesystem: source.options.filesystem,
  };
}

function fileReadTask(source: FileSource, files: FileRef[], settings: ReadSettings): TaskInput {
  return { kind: "files", spec: { format: source.format, files, options: { ...source.options, targetBlockBytes: settings.targetBlockBytes } } };
}

/** The fallback metadata path (open-source Ray Data's): every file listed and every footer read before the first task. */
async function planReadTasks(
  source: SourceDef, overrideNumBlocks: number | undefined, settings: ReadSettings, metrics: OperatorMetrics,
): Promise<TaskInput[]> {
  switch (source.type) {
    case "range": {
      const n = source.n;
      metrics.rowsEstimated = n;
      const tasks = overrideNumBlocks ?? Math.max(1, Math.min(Math.ceil(n / 1000), Math.max(settings.cpuSlots * 2, Math.ceil(n / 1_000_000))));
      const perTask = Math.ceil(n / tasks) || 1;
      const out: TaskInput[] = [];
      for (let start = 0; start < n; start += perTask) {
        out.push({ kind: "range", start, end: Math.min(n, start + perTask), blockRows: Math.min(perTask, 262_144) });
      }
      return out;
    }
    case "blocks": {
      metrics.rowsEstimated = source.blocks.reduce((s, b) => s + b.numRows, 0);
      let rowOffset = 0;
      return source.blocks.map((block) => {
        const origins = [{ rowOffset }];
        rowOffset += block.numRows;
        return { kind: "blocks", blocks: [blockToIPC(block)], origins };
      });
    }
    case "files": {
      const files = unfinishedFiles(await listFiles(source.paths, listOptions(source)), settings);
      const cache = await MetadataCache.open(source.format, source.paths);
      const metadata = await mapWithConcurrency(files, 32, (f) => fileMetadata(source.format, f, source.options.filesystem, cache));
      metrics.inMemoryBytesEstimated = metadata.reduce((sum, m) => sum + (m.inMemoryBytes ?? 0), 0);
      await cache.save();
      const rows = metadata.map((m) => m.rows);
      if (rows.every((r) => r !== undefined)) metrics.rowsEstimated = rows.reduce((s, r) => s! + r!, 0);
      return groupFiles(files, overrideNumBlocks, settings).map((group) => fileReadTask(source, group, settings));
    }
  }
}

/** What a reader picks out of a folder when the user names no extensions (Ray's defaults). */
const DEFAULT_EXTENSIONS: Record<FileFormat, string[] | undefined> = {
  parquet: ["parquet"], csv: ["csv"], json: ["json", "jsonl"], text: undefined, binary: undefined,
};

/** Like Promise.all over items, with at most `limit` calls in flight (file handles are finite). */
async function mapWithConcurrency<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** One task per file, small files grouped, and at least as many tasks as CPU slots allow parallelism for. */
function groupFiles(files: FileRef[], overrideNumBlocks: number | undefined, settings: { cpuSlots: number }): FileRef[][] {
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const numTasks = overrideNumBlocks !== undefined
    ? Math.min(files.length, Math.max(1, overrideNumBlocks))
    : Math.min(files.length, Math.max(settings.cpuSlots * 2, Math.ceil(totalBytes / (64 * 1024 * 1024))));
  const groups: FileRef[][] = [];
  const perTask = files.length / numTasks;
  for (let t = 0; t < numTasks; t++) groups.push(files.slice(Math.round(t * perTask), Math.round((t + 1) * perTask)));
  return groups.filter((g) => g.length > 0);
}

export { discoverReadTasks, planReadTasks };
