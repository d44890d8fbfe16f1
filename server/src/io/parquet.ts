// Parquet reading. The footer is read with two small reads and decoded in JS; parquet-wasm derives
// the Arrow schema from the footer alone. Each row group is rebuilt as a small Parquet file of its
// own (see rowgroup.ts) and decoded by parquet-wasm's synchronous reader, so a file is never in
// memory whole and a corrupt page is an error we can catch rather than a wasm panic.
import { tableFromIPC, type Schema } from "apache-arrow";
import { ScratchBytes, freeBytes } from "../block";
import { columnsToRead, projectBlock } from "./columns";
import type { FileSystem } from "./fs";
import type { FileMetadata } from "./metadata-cache";
import { MAGIC } from "./parquet-footer";
import { pagedRowGroup, readRun } from "./parquet-pages";
import { mayMatch } from "./prune";
import { keptChunk, loadKeptChunkHasher, rememberKeptChunks, type KeptChunk } from "./parquet-kept";
import { ParquetLayout, type ByteRange, type RowGroupFilePlan } from "./rowgroup";
import type { FileBlock, FileRef, FormatReadOptions } from "./types";
import { IoError, errorMessage, pathError } from "./errors";
import { parquetWasm } from "./parquet-wasm";

/** Enough for most footers in one read, and all of a small file (which then costs one request); a longer footer costs a second read. */
const TAIL_GUESS_BYTES = 64 * 1024;
/**
 * parquet-wasm's default of 1024 rows per batch is several times slower. A whole row group is decoded
 * at once anyway, so it becomes one batch: a UDF then gets its columns as views of one buffer each (no
 * concatenation), and every later step handles one Arrow chunk per column instead of several.
 */
const BATCH_ROWS = 65536;
const rowGroupBatch = (rows: number) => Math.max(BATCH_ROWS, rows);
/** The rebuilt row group file lives only until parquet-wasm has copied it in: one buffer a thread reuses. */
const rowGroupFiles = new ScratchBytes(32 * 2 ** 20);

interface ParquetFooter {
  layout: ParquetLayout;
  schema: Schema;
}

function invalid(path: string, reason: string): IoError {
  return new IoError(`${path}: not a valid Parquet file (${reason})`);
}

/** Range reads of one file; ranges inside the tail read for the footer are served from it. */
class RangeReader {
  private tail?: { start: number; bytes: Uint8Array };

  constructor(private readonly fs: FileSystem, readonly path: string, readonly size: number) {}

  async readTail(length: number): Promise<Uint8Array> {
    const start = Math.max(0, this.size - length);
    this.tail = { start, bytes: await this.read(start, this.size - start) };
    return this.tail.bytes;
  }

  /** Reads [start, start+length), or less where the file ends sooner. */
  async read(start: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, start + length);
    if (this.tail && start >= this.tail.start) return this.tail.bytes.subarray(start - this.tail.start, end - this.tail.start);
    try {
      return await this.fs.readRange(this.path, start, end);
    } catch (e) {
      throw pathError(this.path, e);
    }
  }
}

async function readFooter(reader: RangeReader): Promise<ParquetFooter> {
  const { layout, footerAndTail } = await readLayout(reader);
  try {
    return { layout, schema: arrowSchemaOfFooter(footerAndTail) };
  } catch (e) {
    throw invalid(reader.path, errorMessage(e));
  }
}

/** The footer's layout (row groups, column chunks), parsed here: parquet-wasm is not needed. */
async function readLayout(reader: RangeReader): Promise<{ layout: ParquetLayout; footerAndTail: Uint8Array }> {
  const { path, size } = reader;
  if (size < 12) throw invalid(path, `${size} bytes is too short`);
  let tail = await reader.readTail(TAIL_GUESS_BYTES);
  const magic = new TextDecoder().decode(tail.subarray(tail.length - 4));
  if (magic === "PARE") throw new IoError(`${path}: encrypted Parquet files are not supported`);
  if (magic !== "PAR1") throw invalid(path, "no PAR1 magic at the end: truncated or not Parquet");
  const footerLength = new DataView(tail.buffer, tail.byteOffset + tail.length - 8, 4).getUint32(0, true);
  if (footerLength + 12 > size) throw invalid(path, `footer length ${footerLength} exceeds the file size ${size}`);
  if (footerLength + 8 > tail.length) tail = await reader.readTail(footerLength + 8);
  const footerAndTail = tail.subarray(tail.length - footerLength - 8);
  try {
    return { layout: new ParquetLayout(footerAndTail.subarray(0, footerLength)), footerAndTail };
  } catch (e) {
    throw invalid(path, errorMessage(e));
  }
}

/** parquet-wasm's schema conversion, run on a file made of the footer alone (it reads no data pages). */
function arrowSchemaOfFooter(footerAndTail: Uint8Array): Schema {
  const footerOnlyFile = new Uint8Array(MAGIC.length + footerAndTail.length);
  footerOnlyFile.set(MAGIC);
  footerOnlyFile.set(footerAndTail, MAGIC.length);
  return tableFromIPC(parquetWasm().readSchema(footerOnlyFile).intoIPCStream()).schema;
}

/** The encoded chunk of each top-level primitive column a row group file was assembled from, by column name. */
function keptChunks(layout: ParquetLayout, index: number, plan: RowGroupFilePlan, chunks: Uint8Array[], reads: Uint8Array[]): Map<string, KeptChunk> {
  const byStart = new Map(plan.ranges.map((range, i) => [range.start, chunks[i]]));
  const kept = new Map<string, KeptChunk>();
  // A name two columns share would give both the first one's chunk.
  const shared = new Set(layout.columnNames.filter((name, i) => layout.columnNames.indexOf(name) !== i));
  for (const name of plan.columns.filter((n) => !shared.has(n))) {
    const inFile = layout.chunkInFile(index, name);
    const bytes = inFile && byStart.get(inFile.start);
    const chunk = bytes && keptChunk(inFile, bytes, reads);
    if (chunk) kept.set(name, chunk);
  }
  return kept;
}

/** A Parquet file's row groups, from its footer alone. */
export async function parquetRowGroups(file: FileRef, fs: FileSystem): Promise<{ rows: number; bytes: number }[]> {
  return (await readLayout(new RangeReader(fs, file.path, file.size))).layout.rowGroups;
}

export async function parquetFileMetadata(file: FileRef, fs: FileSystem): Promise<FileMetadata> {
  const { layout, schema } = await readFooter(new RangeReader(fs, file.path, file.size));
  return { rows: layout.numRows, inMemoryBytes: layout.rowGroups.reduce((sum, g) => sum + g.bytes, 0), schema, rowGroups: layout.rowGroups };
}

/**
 * The bytes of each range (chunks), and the reads they are views of; ranges that follow each other in the
 * file (the column chunks of a row group read whole) are read in one request.
 */
async function readRanges(reader: RangeReader, ranges: ByteRange[]): Promise<{ chunks: Uint8Array[]; read: Uint8Array[] }> {
  const spans: { start: number; end: number; members: ByteRange[] }[] = [];
  for (const range of ranges) {
    const last = spans[spans.length - 1];
    if (last && last.end === range.start) { last.end += range.length; last.members.push(range); }
    else spans.push({ start: range.start, end: range.start + range.length, members: [range] });
  }
  const read = await Promise.all(spans.map((span) => reader.read(span.start, span.end - span.start)));
  return { chunks: spans.flatMap((span, i) => span.members.map((r) => read[i].subarray(r.start - span.start, r.start - span.start + r.length))), read };
}

export async function* readParquetBlocks(file: FileRef, fs: FileSystem, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  const { path } = file;
  const { filter } = options;
  const reader = new RangeReader(fs, path, file.size);
  if (options.keepEncoded) await loadKeptChunkHasher();
  const { layout, schema } = await readFooter(reader);
  const columns = columnsToRead(schema.fields.map((f) => f.name), options.columns, path, options.optionalColumns);
  const [first, last] = file.rowGroups ?? [0, layout.rowGroups.length];
  const end = Math.min(last, layout.rowGroups.length);
  // Without a predicate every row group is read whole: the next one's bytes can be read while this one is decoded and used.
  const readWhole = (index: number) => {
    const read = (async () => {
      const plan = layout.rowGroupFile(index, columns);
      return { plan, ranges: await readRanges(reader, plan.ranges) };
    })();
    return { index, read };
  };
  let ahead: ReturnType<typeof readWhole> | undefined;
  let rowOffset = 0;
  for (let index = 0; index < end; index++) {
    const rows = layout.rowGroups[index].rows;
    if (index < first) { rowOffset += rows; continue; }
    if (filter) {
      const stats = layout.rowGroupStats(index);
      if (!mayMatch(filter, (column) => stats.get(column))) { rowOffset += rows; continue; }
    }
    const where = `${path}: row group ${index} (rows ${rowOffset}-${rowOffset + rows - 1})`;
    if (filter) {
      // With a page index: only the pages that may hold matching rows (the filter still runs on the rows read).
      const names = columns ?? schema.fields.map((f) => f.name);
      const read = (start: number, length: number) => reader.read(start, length);
      let runs: FileBlock[] | undefined;
      try {
        const paged = await pagedRowGroup(layout, index, filter, names, read);
        if (paged) {
          runs = [];
          for (const run of paged.runs) runs.push({ block: await readRun(layout, index, names, paged, run, read, BATCH_ROWS), rowOffset: rowOffset + run.start });
        }
      } catch (e) {
        throw new IoError(`${where}: reading by its page index: ${errorMessage(e)}`);
      }
      if (runs) {
        yield* runs;
        rowOffset += rows;
        continue;
      }
    }
    let plan: RowGroupFilePlan;
    let ranges: Awaited<ReturnType<typeof readRanges>>;
    try {
      const current = ahead?.index === index ? ahead : readWhole(index);
      ahead = options.readAhead && !filter && index + 1 < end ? readWhole(index + 1) : undefined;
      ahead?.read.catch(() => undefined); // its error is thrown when its turn comes
      ({ plan, ranges } = await current.read);
    } catch (e) {
      throw new IoError(`${where}: ${errorMessage(e)}`);
    }
    const { chunks, read } = ranges;
    const kept = options.keepEncoded ? keptChunks(layout, index, plan, chunks, read) : undefined;
    const decoded = rowGroupFiles.with(plan.size, (target) => {
      try {
        plan.assemble(chunks, target);
      } catch (e) {
        throw new IoError(`${where}: ${errorMessage(e)}`);
      } finally {
        if (!kept) freeBytes(read); // copied into the row group's file (a view of the footer's read is not freed)
      }
    }, (rowGroupFile) => {
      try {
        return parquetWasm().readParquet(rowGroupFile, { batchSize: rowGroupBatch(rows) }).intoIPCStream();
      } catch (e) {
        throw new IoError(`${where}: cannot decode: ${errorMessage(e)}`);
      }
    });
    const table = tableFromIPC(decoded);
    if (kept) rememberKeptChunks(table, kept);
    yield { block: projectBlock(table, columns), rowOffset };
    rowOffset += rows;
  }
}
