// A block written as one Parquet file a row group at a time. parquet-wasm's writer takes a whole table
// and holds it, its encoded pages and its growing output in wasm memory at once (~4.5× the data: 168 MiB
// for a 36 MB block), and V8 starts a full garbage collection at each step such memory grows past
// 64 MiB. So each piece of about ROW_GROUP_BYTES is encoded as a small file of one row group, and the
// small files are joined into one: their column chunks in order, then their page indexes (column indexes
// as they are, offset indexes with their page offsets moved), then the first file's footer listing
// every row group, its offsets moved.
import { RecordBatch, Table } from "apache-arrow";
import { batchBytes, splitBlockBySize, type Block } from "../block";
import {
  CHUNK_COLUMN_INDEX_LENGTH, CHUNK_COLUMN_INDEX_OFFSET, CHUNK_FILE_OFFSET, CHUNK_META, CHUNK_OFFSET_INDEX_LENGTH, CHUNK_OFFSET_INDEX_OFFSET,
  FILE_NUM_ROWS, FILE_ROW_GROUPS, GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_NUM_ROWS, GROUP_ORDINAL, LOCATION_OFFSET, MAGIC,
  META_DATA_PAGE, META_DICTIONARY_PAGE, META_INDEX_PAGE, OFFSET_PAGE_LOCATIONS, i64, list, withItems,
} from "./parquet-footer";
import { CompactType, asNumber, decodeStruct, encodeStruct, field, type ThriftStruct } from "./thrift";

/** Arrow bytes per row group written: the wasm memory a write needs stays near what reading a row group needs. */
const ROW_GROUP_BYTES = 4 * 2 ** 20;

/**
 * The bytes of one Parquet file holding the block, in order (views of `files` and new bytes), and the
 * small files encoded for it (`files`: only the caller holds them, to free once written).
 */
export function parquetFile(block: Block, encode: (piece: Block) => Uint8Array): { chunks: Uint8Array[]; files: Uint8Array[] } {
  const files = rowGroupPieces(block).map(encode);
  return { chunks: files.length === 1 ? files : joinParquetFiles(files), files };
}

/**
 * Pieces of about ROW_GROUP_BYTES cut between the block's batches (a row group read is one batch; a
 * sliced string column costs its offsets rebased when written), a batch over twice that cut into slices.
 */
function rowGroupPieces(block: Block): Block[] {
  const pieces: Block[] = [];
  let group: RecordBatch[] = [];
  let groupBytes = 0;
  const flush = () => {
    if (group.length > 0) pieces.push(new Table(block.schema, group.map((batch) => new RecordBatch(block.schema, batch.data))));
    group = [];
    groupBytes = 0;
  };
  for (const batch of block.batches) {
    const bytes = batchBytes(batch);
    if (groupBytes + bytes > ROW_GROUP_BYTES) flush();
    if (bytes > 2 * ROW_GROUP_BYTES) {
      pieces.push(...splitBlockBySize(new Table(block.schema, [new RecordBatch(block.schema, batch.data)]), ROW_GROUP_BYTES));
      continue;
    }
    group.push(batch);
    groupBytes += bytes;
  }
  flush();
  return pieces.length > 0 ? pieces : [block];
}

interface SmallFile { bytes: Uint8Array; footer: ThriftStruct; dataEnd: number }

function smallFile(bytes: Uint8Array): SmallFile {
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 4).getUint32(0, true);
  const footerStart = bytes.length - 8 - footerLength;
  const footer = decodeStruct(bytes.subarray(footerStart, bytes.length - 8));
  // The column chunks come first; the page indexes, where written, follow them.
  let dataEnd = footerStart;
  for (const group of list(footer, FILE_ROW_GROUPS).items as ThriftStruct[]) {
    for (const chunk of list(group, GROUP_COLUMNS).items as ThriftStruct[]) {
      for (const id of [CHUNK_COLUMN_INDEX_OFFSET, CHUNK_OFFSET_INDEX_OFFSET]) dataEnd = Math.min(dataEnd, asNumber(field(chunk, id)) ?? dataEnd);
    }
  }
  return { bytes, footer, dataEnd };
}

/** Adds `shift` to an offset field where the struct has it. */
function move(struct: ThriftStruct, id: number, shift: number): void {
  const at = asNumber(field(struct, id));
  if (at !== undefined) struct.set(id, i64(at + shift));
}

/** An offset index whose pages' offsets are moved by `shift`. */
function movedOffsetIndex(bytes: Uint8Array, shift: number): Uint8Array {
  const index = decodeStruct(bytes);
  const locations = list(index, OFFSET_PAGE_LOCATIONS);
  const moved = (locations.items as ThriftStruct[]).map((location) => {
    const copy = new Map(location);
    move(copy, LOCATION_OFFSET, shift);
    return copy;
  });
  return encodeStruct(new Map(index).set(OFFSET_PAGE_LOCATIONS, { type: CompactType.List, value: withItems(locations, moved) }));
}

interface MovedChunk { chunk: ThriftStruct; file: SmallFile; shift: number }

/** Small files of one schema joined into the bytes of one file. */
function joinParquetFiles(encoded: Uint8Array[]): Uint8Array[] {
  const files = encoded.map(smallFile);
  const out: Uint8Array[] = [MAGIC];
  let position = MAGIC.length;
  const groups: ThriftStruct[] = [];
  const chunks: MovedChunk[] = [];
  let rows = 0;
  for (const file of files) {
    const shift = position - MAGIC.length;
    out.push(file.bytes.subarray(MAGIC.length, file.dataEnd));
    position += file.dataEnd - MAGIC.length;
    for (const original of list(file.footer, FILE_ROW_GROUPS).items as ThriftStruct[]) {
      const group = new Map(original);
      move(group, GROUP_FILE_OFFSET, shift);
      if (group.has(GROUP_ORDINAL)) group.set(GROUP_ORDINAL, { type: CompactType.I16, value: groups.length });
      const columns = list(group, GROUP_COLUMNS);
      group.set(GROUP_COLUMNS, { type: CompactType.List, value: withItems(columns, (columns.items as ThriftStruct[]).map((c) => {
        const chunk = new Map(c);
        const meta = new Map(field(chunk, CHUNK_META) as ThriftStruct);
        for (const id of [META_DATA_PAGE, META_INDEX_PAGE, META_DICTIONARY_PAGE]) move(meta, id, shift);
        chunk.set(CHUNK_META, { type: CompactType.Struct, value: meta });
        // Deprecated, and 0 in arrow-rs' files; an offset otherwise.
        if (asNumber(field(chunk, CHUNK_FILE_OFFSET))) move(chunk, CHUNK_FILE_OFFSET, shift);
        chunks.push({ chunk, file, shift });
        return chunk;
      })) });
      rows += asNumber(field(group, GROUP_NUM_ROWS)) ?? 0;
      groups.push(group);
    }
  }
  // Page indexes as arrow-rs lays them out: every column index, then every offset index.
  for (const { chunk, file } of chunks) {
    const start = asNumber(field(chunk, CHUNK_COLUMN_INDEX_OFFSET));
    if (start === undefined) continue;
    const bytes = file.bytes.subarray(start, start + asNumber(field(chunk, CHUNK_COLUMN_INDEX_LENGTH))!);
    chunk.set(CHUNK_COLUMN_INDEX_OFFSET, i64(position));
    out.push(bytes);
    position += bytes.length;
  }
  for (const { chunk, file, shift } of chunks) {
    const start = asNumber(field(chunk, CHUNK_OFFSET_INDEX_OFFSET));
    if (start === undefined) continue;
    const bytes = movedOffsetIndex(file.bytes.subarray(start, start + asNumber(field(chunk, CHUNK_OFFSET_INDEX_LENGTH))!), shift);
    chunk.set(CHUNK_OFFSET_INDEX_OFFSET, i64(position));
    chunk.set(CHUNK_OFFSET_INDEX_LENGTH, { type: CompactType.I32, value: bytes.length });
    out.push(bytes);
    position += bytes.length;
  }
  const first = files[0].footer;
  const footer = encodeStruct(new Map(first)
    .set(FILE_NUM_ROWS, i64(rows))
    .set(FILE_ROW_GROUPS, { type: CompactType.List, value: withItems(list(first, FILE_ROW_GROUPS), groups) }));
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set(MAGIC, 4);
  out.push(footer, tail);
  return out;
}
