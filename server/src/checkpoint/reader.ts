// Reading a checkpoint for display (CLI, server, editor): what it holds, page by page.
import { fileSystemFor, readFileBlocks, type FileSystem, type FileSystemDescription } from "../io";
import { blockToRows, type Row } from "../block";
import { allIds, hasId, idCount, type SharedIds } from "./idset";
import {
  attemptOf, committedOutputName, dirs, listEntries, markers, loadCommittedIds, readDoneRecords, readErroredRows, readManifest,
  type DamagedRecord, type DoneFile, type ErroredRow, type FileEntry, type Manifest,
} from "./store";


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

  async summary(): Promise<CheckpointSummary> {
    const { perFile, ids, damaged } = await this.loadIds();
    const outputDir = this.outputFolder;
    const outputOf = (record: FileEntry) => {
      const name = committedOutputName(record)!;
      return outputDir ? fileSystemFor(outputDir).join(outputDir, name) : name;
    };
    const damagedPaths = new Set(damaged.map((d) => d.record.path));
    return {
      path: this.path, manifest: this.manifest, attempts: this.attempts,
      committedFiles: this.records.flatMap((r, i) => (damagedPaths.has(r.path) ? [] : [{ output: outputOf(r), record: r.path, ids: perFile[i] }])),
      committedIds: idCount(ids),
      doneFiles: (await this.doneFiles()).length,
      erroredRows: (await this.erroredRows()).length,
      damagedRecords: damaged.map((d) => ({ record: d.record.path, output: outputOf(d.record), error: d.error }))
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

  /** Rows of the committed output files, a page at a time, each with the output file it is in. */
  async rows(offset: number, limit: number): Promise<{ total: number; rows: { file: string; row: Row }[] }> {
    const { perFile } = await this.loadIds();
    const total = perFile.reduce((s, n) => s + n, 0);
    const out: { file: string; row: Row }[] = [];
    const outputDir = this.outputFolder;
    if (!outputDir) return { total, rows: out };
    const outputFs = fileSystemFor(outputDir, this.fs.description);
    const outputSystem = outputFs.description;
    let skip = offset;
    for (let i = 0; i < this.records.length && out.length < limit; i++) {
      // A damaged record counts 0 IDs, so its file is passed over.
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
