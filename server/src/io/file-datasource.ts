// The built-in datasource of every file format (rd.readParquet, readCsv, readJson, readText,
// readBinaryFiles): the driver lists files and groups them into read tasks; a worker reads a task's files.
import type { Schema } from "apache-arrow";
import type { Datasource, ReadContext, ReadEstimate, ReadTask } from "./datasource";
import { streamFiles } from "./files";
import { mayMatch, partitionStats } from "./prune";
import { MetadataCache } from "./metadata-cache";
import { fileMetadata, fileRowGroups, parquetReadSchema, readFileBlocks } from "./read";
import type { FileFormat, FileReadSpec, FileRef, ReadOptions, SourceBlock } from "./types";

/** How a plan describes a read of files. */
export interface FileSource {
  type: "files";
  format: FileFormat;
  paths: string[];
  fileExtensions?: string[];
  partitioning?: "hive" | null;
  options: Omit<ReadOptions, "targetBlockBytes">;
}

/** The largest of the first, growing, read tasks (in files). */
const RAMP_MAX_FILES = 16;
/** Parquet footers read in the driver to estimate the row count from the first files listed. */
const SAMPLED_FILES = 3;
/** The most tasks one file of the listing's tail is split into. */
const MAX_PARTS_PER_FILE = 8;
/** Listings (pages) of at most this many times the wanted tasks have their last files split (their footers read here first). */
const SPLIT_LISTING_TASKS = 4;

/** How read operators and errors name each format ("Read" + name). */
export const FILE_FORMAT_NAMES: Record<FileFormat, string> = {
  parquet: "Parquet", csv: "CSV", json: "JSON", text: "Text", binary: "Binary", images: "Images",
};

/** What a reader picks out of a folder when the user names no extensions (Ray's defaults). */
const DEFAULT_EXTENSIONS: Record<FileFormat, string[] | undefined> = {
  parquet: ["parquet"], csv: ["csv"], json: ["json", "jsonl"], text: undefined, binary: undefined,
  images: ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif", "webp"],
};

export class FileDatasource implements Datasource<FileReadSpec> {
  readonly name: string;
  private estimated?: ReadEstimate;

  constructor(private readonly source: FileSource) {
    this.name = FILE_FORMAT_NAMES[source.format];
  }

  /**
   * Without overrideNumBlocks, the accelerated path: tasks are handed out as listing pages arrive and
   * read their own footers. With it, the fallback (open-source Ray Data's): every file listed and every
   * footer read before the first task.
   */
  getReadTasks(context: ReadContext): AsyncIterable<ReadTask<FileReadSpec>> {
    return context.overrideNumBlocks === undefined ? this.streamTasks(context) : this.planTasks(context);
  }

  read(spec: FileReadSpec): AsyncIterable<SourceBlock> {
    return readFileBlocks(spec);
  }

  estimate(): ReadEstimate | undefined {
    return this.estimated;
  }

  /** The schema of a Parquet read, from the first listed file's footer and the metadata cache; no data is read. */
  async schema(targetBlockBytes: number): Promise<Schema | undefined> {
    const { source } = this;
    if (source.format !== "parquet") return undefined;
    const pages = streamFiles(source.paths, this.listOptions());
    const first = (await pages.next()).value?.[0];
    await pages.return(undefined);
    if (!first) return undefined;
    const cache = await MetadataCache.open(source.format, source.paths);
    const schema = await parquetReadSchema(this.spec([first], targetBlockBytes), first, cache);
    await cache.save();
    return schema;
  }

  /** The rows and in-memory bytes of a Parquet read from its footers (through the metadata cache); no data is read. */
  async footerTotals(): Promise<{ rows: number; inMemoryBytes: number } | undefined> {
    const { source } = this;
    if (source.format !== "parquet") return undefined;
    const files = await this.files();
    const cache = await MetadataCache.open(source.format, source.paths);
    const all = await mapWithConcurrency(files, 32, (f) => fileMetadata(source.format, f, source.options.filesystem, cache));
    await cache.save();
    return { rows: all.reduce((s, m) => s + (m.rows ?? 0), 0), inMemoryBytes: all.reduce((s, m) => s + (m.inMemoryBytes ?? 0), 0) };
  }

  /** Rows are estimated from a few sampled footers, scaled by bytes. */
  private async *streamTasks(context: ReadContext): AsyncGenerator<ReadTask<FileReadSpec>> {
    const { source } = this;
    let listedBytes = 0;
    const cache = await MetadataCache.open(source.format, source.paths);
    const sample: Promise<{ rows: number; bytes: number; inMemoryBytes: number } | undefined>[] = [];
    let rampFiles = 1;
    for await (const page of this.pages()) {
      const groups: FileRef[][] = [];
      let rest = context.unfinishedFiles(page);
      // The last files of a short listing are read a few row groups per task, so that the workers end
      // together rather than one of them reading a whole file (or two) while the others idle. Not under a
      // filter (most row groups may be skipped, each part would read the footer again) or a limit.
      const { filter, limit } = source.options;
      const splittable = context.splitFiles && !context.evenTasks && source.format === "parquet" && !filter && limit === undefined
        && rest.length <= SPLIT_LISTING_TASKS * context.parallelism;
      const tailFiles = rest.slice(-context.parallelism);
      const tail = splittable ? await rowGroupParts(tailFiles, context.splitFiles!.rowMultiple, (file) => fileRowGroups(file, source.options.filesystem, cache)) : undefined;
      if (tail) rest = rest.slice(0, rest.length - tailFiles.length);
      // The first tasks hold 1, 2, 4, ... files: a task's small outputs are coalesced until it ends, so
      // the first rows come after one file's read rather than a whole group's.
      for (; !context.evenTasks && rampFiles <= RAMP_MAX_FILES && rest.length > 0; rampFiles *= 2) {
        groups.push(rest.slice(0, rampFiles));
        rest = rest.slice(rampFiles);
      }
      groups.push(...groupFiles(rest, context));
      for (const group of groups) yield { input: this.spec(group, context.targetBlockBytes), metadata: { inputFiles: group } };
      for (const part of tail ?? []) yield { input: this.spec([part], context.targetBlockBytes), metadata: { inputFiles: [part] } };
      listedBytes += page.reduce((s, f) => s + f.size, 0);
      if (source.format === "parquet") {
        for (const file of page.slice(0, SAMPLED_FILES - sample.length)) {
          sample.push(fileMetadata(source.format, file, source.options.filesystem, cache).then((m) => ({ rows: m.rows!, bytes: file.size, inMemoryBytes: m.inMemoryBytes ?? file.size }), () => undefined));
        }
      }
    }
    const sampled = (await Promise.all(sample)).filter((s) => s !== undefined);
    await cache.save();
    const sampledBytes = sampled.reduce((s, m) => s + m.bytes, 0);
    if (sampledBytes > 0) {
      const scale = listedBytes / sampledBytes;
      this.estimated = {
        rows: Math.round(sampled.reduce((s, m) => s + m.rows, 0) * scale),
        inMemoryBytes: Math.round(sampled.reduce((s, m) => s + m.inMemoryBytes, 0) * scale),
      };
    }
  }

  private async *planTasks(context: ReadContext): AsyncGenerator<ReadTask<FileReadSpec>> {
    const { source } = this;
    const files = context.unfinishedFiles(await this.files());
    const cache = await MetadataCache.open(source.format, source.paths);
    const metadata = new Map((await mapWithConcurrency(files, 32, (f) => fileMetadata(source.format, f, source.options.filesystem, cache)))
      .map((m, i) => [files[i], m]));
    await cache.save();
    for (const group of groupFiles(files, context)) {
      const known = group.map((f) => metadata.get(f)!);
      const rows = known.every((m) => m.rows !== undefined) ? known.reduce((s, m) => s + m.rows!, 0) : undefined;
      const sizeBytes = known.reduce((s, m) => s + (m.inMemoryBytes ?? 0), 0);
      yield { input: this.spec(group, context.targetBlockBytes), metadata: { numRows: rows, sizeBytes, inputFiles: group } };
    }
  }

  /** The listing's pages, without the hive folders a pushed-down filter rules out. */
  async *pages(): AsyncGenerator<FileRef[]> {
    const { filter } = this.source.options;
    for await (const page of streamFiles(this.source.paths, this.listOptions())) {
      yield filter ? page.filter((file) => !file.partition || mayMatch(filter, partitionStats(file.partition))) : page;
    }
  }

  /** Every file the read reads, sorted. */
  async files(): Promise<FileRef[]> {
    const files: FileRef[] = [];
    for await (const page of this.pages()) files.push(...page);
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  private spec(files: FileRef[], targetBlockBytes: number): FileReadSpec {
    return { format: this.source.format, files, options: { ...this.source.options, targetBlockBytes } };
  }

  private listOptions() {
    const { source } = this;
    return {
      fileExtensions: source.fileExtensions, defaultExtensions: DEFAULT_EXTENSIONS[source.format],
      partitioning: source.partitioning, filesystem: source.options.filesystem,
    };
  }
}

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

/**
 * The files as parts of one task each: up to MAX_PARTS_PER_FILE ranges of row groups of every file, each
 * starting at a multiple of `rowMultiple` rows; undefined unless every file splits (small files keep the
 * tasks they had, grouped as any files are).
 */
async function rowGroupParts(files: FileRef[], rowMultiple: number, rowGroups: (file: FileRef) => Promise<number[]>): Promise<FileRef[] | undefined> {
  if (files.length === 0) return undefined;
  // A file whose footer cannot be read here is read whole, by a worker that names what is wrong with it.
  const groups = await Promise.all(files.map((file) => rowGroups(file).catch(() => [])));
  const parts = files.map((file, i) => splitFile(file, groups[i], rowMultiple));
  return parts.every((p) => p.length > 1) ? parts.flat() : undefined;
}

/** The file's row groups in consecutive ranges of at least 1/MAX_PARTS_PER_FILE of them, cut only where `rowMultiple` divides the rows before. */
function splitFile(file: FileRef, groupRows: number[], rowMultiple: number): FileRef[] {
  const least = Math.ceil(groupRows.length / MAX_PARTS_PER_FILE);
  const parts: FileRef[] = [];
  let first = 0;
  let rowsBefore = 0;
  for (let index = 0; index < groupRows.length; index++) {
    rowsBefore += groupRows[index];
    const end = index + 1;
    if (end < groupRows.length && end - first >= least && rowsBefore % rowMultiple === 0) {
      parts.push({ ...file, rowGroups: [first, end] });
      first = end;
    }
  }
  if (first > 0) parts.push({ ...file, rowGroups: [first, groupRows.length] });
  return parts;
}

/** One task per file, small files grouped, and at least as many tasks as CPU slots allow parallelism for. */
function groupFiles(files: FileRef[], context: ReadContext): FileRef[][] {
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const numTasks = context.overrideNumBlocks !== undefined
    ? Math.min(files.length, Math.max(1, context.overrideNumBlocks))
    : Math.min(files.length, Math.max(context.parallelism, Math.ceil(totalBytes / (64 * 1024 * 1024))));
  const groups: FileRef[][] = [];
  const perTask = files.length / numTasks;
  for (let t = 0; t < numTasks; t++) groups.push(files.slice(Math.round(t * perTask), Math.round((t + 1) * perTask)));
  return groups.filter((g) => g.length > 0);
}
