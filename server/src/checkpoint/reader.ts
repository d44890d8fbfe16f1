// Reading a checkpoint for display (CLI, server, editor): what it holds, page by page.
import { fileMetadata, fileSystemFor, listFiles, readFileBlocks, type FileRef, type FileSystem, type FileSystemDescription } from "../io";
import { blockToRows, type Row } from "../block";
import { allIds, hasId, idCount, type SharedIds } from "./idset";
import {
  attemptOf, committedOutputName, dirs, listEntries, markers, loadCommittedIds, readDoneRecords, readErroredRows, readManifest, readNames,
  type DamagedRecord, type DoneFile, type ErroredRow, type FileEntry, type Manifest,
} from "./store";

type OutputFormat = "parquet" | "csv" | "json";

/**
 * One committed output file. A block written under partitionCols is a file in each of its partition
 * folders, under one commit record: each is listed, with its own rows as `ids`.
 */
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
  /** Commit records that are cut off or unreadable: they commit nothing, and a resume writes their rows again. */
  damagedRecords: { record: string; output: string; error: string }[];
}

/** Reads a checkpoint for display; loads every record, so it is as costly as a resume's loading. */
export class CheckpointReader {
  private constructor(
    readonly path: string, private readonly fs: FileSystem, readonly manifest: Manifest | undefined,
    private readonly records: FileEntry[], private readonly attempts: string[],
    /** Where the committed files are: the output folder, or an overwrite's staging folder until it is swapped in. */
    readonly outputFolder: string | undefined,
  ) {}

  static async open(path: string, filesystem?: FileSystemDescription): Promise<CheckpointReader> {
    const fs = fileSystemFor(path, filesystem);
    if ((await fs.stat(path)) === null) throw new Error(`no checkpoint at ${path}`);
    const manifest = await readManifest(fs, path);
    const records = (await listEntries(fs, path, dirs.committed)).filter((e) => committedOutputName(e) !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1));
    const attempts = (await listEntries(fs, path, dirs.attempts)).map(attemptOf).sort();
    if (!manifest && records.length === 0 && attempts.length === 0) throw new Error(`${path} is not a checkpoint (no manifest.json, attempts or committed records)`);
    const staged = manifest?.overwrite && (await fs.stat(fs.join(path, markers.outputSwapped))) === null;
    return new CheckpointReader(path, fs, manifest, records, attempts, staged ? manifest!.overwrite!.staging : manifest?.output.path);
  }

  private idsCache?: Promise<{ perFile: number[]; ids: SharedIds; damaged: DamagedRecord[] }>;

  /** The IDs of every record, each record's ID count (0 for a damaged one), and the damaged records. */
  private loadIds(): Promise<{ perFile: number[]; ids: SharedIds; damaged: DamagedRecord[] }> {
    this.idsCache ??= loadCommittedIds(this.fs, this.records).then(({ ids, perRecord, damaged }) => ({ perFile: perRecord, ids, damaged }));
    return this.idsCache;
  }

  private filesCache?: Promise<FileRef[][]>;

  /**
   * Each record's output files: in the output folder and in its partition folders (the partition values
   * with them), under their filenameProvider names once the job renamed them.
   */
  private outputFiles(): Promise<FileRef[][]> {
    this.filesCache ??= (async () => {
      const outputDir = this.outputFolder;
      if (!outputDir) return this.records.map(() => []);
      const root = outputDir.replace(/\/+$/, "");
      const outputFs = fileSystemFor(outputDir, this.fs.description);
      const listed = (await outputFs.stat(outputDir)) === null ? [] : await listFiles(outputDir, { partitioning: "hive", filesystem: outputFs.description });
      const byName = new Map<string, FileRef[]>();
      const byPath = new Map(listed.map((file) => [file.path.slice(root.length + 1), file]));
      for (const file of listed) {
        const name = file.path.slice(file.path.lastIndexOf("/") + 1);
        byName.set(name, [...(byName.get(name) ?? []), file]);
      }
      const renamed = new Map<string, FileRef[]>();
      if ((await this.fs.stat(this.fs.join(this.path, markers.outputRenamed))) !== null) {
        for (const [from, to] of await readNames(this.fs, this.path, new Set(this.records.map((r) => committedOutputName(r)!)))) {
          const file = byPath.get(to);
          const name = from.slice(from.lastIndexOf("/") + 1);
          if (file) renamed.set(name, [...(renamed.get(name) ?? []), file]);
        }
      }
      return this.records.map((record) => {
        const name = committedOutputName(record)!;
        return byName.get(name) ?? renamed.get(name) ?? [];
      });
    })();
    return this.filesCache;
  }

  /** A file's rows: from its footer (Parquet), else by reading it. */
  private async rowsIn(file: FileRef): Promise<number> {
    const format = this.manifest!.output.format as OutputFormat;
    const filesystem = fileSystemFor(file.path, this.fs.description).description;
    const { rows } = await fileMetadata(format, file, filesystem);
    if (rows !== undefined) return rows;
    let count = 0;
    for await (const { block } of readFileBlocks({ format, files: [file], options: { targetBlockBytes: 64 << 20, filesystem } })) count += block.numRows;
    return count;
  }

  async summary(): Promise<CheckpointSummary> {
    const { perFile, ids, damaged } = await this.loadIds();
    const outputDir = this.outputFolder;
    const files = await this.outputFiles();
    const outputOf = (record: FileEntry, index: number) => {
      const name = committedOutputName(record)!;
      return files[index]?.[0]?.path ?? (outputDir ? fileSystemFor(outputDir).join(outputDir, name) : name);
    };
    const damagedPaths = new Set(damaged.map((d) => d.record.path));
    const committedFiles: CommittedFile[] = [];
    for (const [i, record] of this.records.entries()) {
      if (damagedPaths.has(record.path)) continue;
      if (files[i].length <= 1) committedFiles.push({ output: outputOf(record, i), record: record.path, ids: perFile[i] });
      else for (const file of files[i]) committedFiles.push({ output: file.path, record: record.path, ids: await this.rowsIn(file) });
    }
    const recordIndex = new Map(this.records.map((r, i) => [r.path, i]));
    return {
      path: this.path, manifest: this.manifest, attempts: this.attempts,
      committedFiles,
      committedIds: idCount(ids),
      doneFiles: (await this.doneFiles()).length,
      erroredRows: (await this.erroredRows()).length,
      damagedRecords: damaged.map((d) => ({ record: d.record.path, output: outputOf(d.record, recordIndex.get(d.record.path)!), error: d.error }))
        .sort((a, b) => (a.record < b.record ? -1 : 1)),
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

  /** Rows of the committed output files (with their partition columns), a page at a time, each with the output file it is in. */
  async rows(offset: number, limit: number): Promise<{ total: number; rows: { file: string; row: Row }[] }> {
    const { perFile } = await this.loadIds();
    const total = perFile.reduce((s, n) => s + n, 0);
    const out: { file: string; row: Row }[] = [];
    const outputDir = this.outputFolder;
    if (!outputDir) return { total, rows: out };
    const filesystem = fileSystemFor(outputDir, this.fs.description).description;
    const files = await this.outputFiles();
    let skip = offset;
    for (let i = 0; i < this.records.length && out.length < limit; i++) {
      // A damaged record counts 0 IDs, so its files are passed over.
      if (skip >= perFile[i]) { skip -= perFile[i]; continue; }
      for (const file of files[i]) {
        const spec = { format: this.manifest!.output.format as OutputFormat, files: [file], options: { targetBlockBytes: 64 << 20, filesystem } };
        for await (const { block } of readFileBlocks(spec)) {
          for (const row of blockToRows(block)) {
            if (skip > 0) { skip--; continue; }
            if (out.length >= limit) break;
            out.push({ file: file.path, row });
          }
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
