// Parquet reading. The footer is read with two small reads and decoded in JS; parquet-wasm derives
// the Arrow schema from the footer alone. Each row group is rebuilt as a small Parquet file of its
// own (see rowgroup.ts) and decoded by parquet-wasm's synchronous reader, so a file is never in
// memory whole and a corrupt page is an error we can catch rather than a wasm panic.
import { promises as fs } from "node:fs";
import { tableFromIPC, type Schema } from "apache-arrow";
import { readParquet, readSchema } from "parquet-wasm";
import { assertColumnsExist, projectBlock } from "./columns";
import { ParquetLayout } from "./rowgroup";
import { IoError, errorMessage, type FileBlock, type FileRef, type FormatReadOptions } from "./types";

const MAGIC = new TextEncoder().encode("PAR1");
/** Enough for most footers in one read; a longer footer costs a second read. */
const TAIL_GUESS_BYTES = 64 * 1024;
/** parquet-wasm's default of 1024 rows per batch is several times slower. */
const BATCH_ROWS = 65536;

interface ParquetFooter {
  layout: ParquetLayout;
  schema: Schema;
}

function invalid(path: string, reason: string): IoError {
  return new IoError(`${path}: not a valid Parquet file (${reason})`);
}

/** Reads [start, start+length), or less where the file ends sooner. */
async function readRange(handle: fs.FileHandle, start: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, start + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? bytes : bytes.subarray(0, filled);
}

async function readFooter(path: string, handle: fs.FileHandle): Promise<ParquetFooter> {
  const size = (await handle.stat()).size;
  if (size < 12) throw invalid(path, `${size} bytes is too short`);
  let tail = await readRange(handle, Math.max(0, size - TAIL_GUESS_BYTES), Math.min(size, TAIL_GUESS_BYTES));
  const magic = new TextDecoder().decode(tail.subarray(tail.length - 4));
  if (magic === "PARE") throw new IoError(`${path}: encrypted Parquet files are not supported`);
  if (magic !== "PAR1") throw invalid(path, "no PAR1 magic at the end: truncated or not Parquet");
  const footerLength = new DataView(tail.buffer, tail.byteOffset + tail.length - 8, 4).getUint32(0, true);
  if (footerLength + 12 > size) throw invalid(path, `footer length ${footerLength} exceeds the file size ${size}`);
  if (footerLength + 8 > tail.length) tail = await readRange(handle, size - footerLength - 8, footerLength + 8);
  const footerAndTail = tail.subarray(tail.length - footerLength - 8);
  try {
    return { layout: new ParquetLayout(footerAndTail.subarray(0, footerLength)), schema: arrowSchemaOfFooter(footerAndTail) };
  } catch (e) {
    throw invalid(path, errorMessage(e));
  }
}

/** parquet-wasm's schema conversion, run on a file made of the footer alone (it reads no data pages). */
function arrowSchemaOfFooter(footerAndTail: Uint8Array): Schema {
  const footerOnlyFile = new Uint8Array(MAGIC.length + footerAndTail.length);
  footerOnlyFile.set(MAGIC);
  footerOnlyFile.set(footerAndTail, MAGIC.length);
  return tableFromIPC(readSchema(footerOnlyFile).intoIPCStream()).schema;
}

async function openFile(path: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(path, "r");
  } catch (e) {
    throw new IoError(`${path}: ${errorMessage(e)}`);
  }
}

export async function parquetFileMetadata(file: FileRef): Promise<{ rows: number; inMemoryBytes: number; schema: Schema }> {
  const handle = await openFile(file.path);
  try {
    const { layout, schema } = await readFooter(file.path, handle);
    return { rows: layout.numRows, inMemoryBytes: layout.rowGroups.reduce((sum, g) => sum + g.bytes, 0), schema };
  } finally {
    await handle.close();
  }
}

export async function* readParquetBlocks(file: FileRef, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  const { path } = file;
  const { columns } = options;
  const handle = await openFile(path);
  try {
    const { layout, schema } = await readFooter(path, handle);
    assertColumnsExist(schema.fields.map((f) => f.name), columns, path);
    let rowOffset = 0;
    for (let index = 0; index < layout.rowGroups.length; index++) {
      const rows = layout.rowGroups[index].rows;
      const where = `${path}: row group ${index} (rows ${rowOffset}-${rowOffset + rows - 1})`;
      let rowGroupFile: Uint8Array;
      try {
        const plan = layout.rowGroupFile(index, columns);
        rowGroupFile = plan.assemble(await Promise.all(plan.ranges.map((r) => readRange(handle, r.start, r.length))));
      } catch (e) {
        throw new IoError(`${where}: ${errorMessage(e)}`);
      }
      let decoded: Uint8Array;
      try {
        decoded = readParquet(rowGroupFile, { batchSize: BATCH_ROWS }).intoIPCStream();
      } catch (e) {
        throw new IoError(`${where}: cannot decode: ${errorMessage(e)}`);
      }
      yield { block: projectBlock(tableFromIPC(decoded), columns), rowOffset };
      rowOffset += rows;
    }
  } finally {
    await handle.close();
  }
}
