// A block written as one Parquet file a row group at a time. parquet-wasm's writer takes a whole table
// and holds it, its encoded pages and its growing output in wasm memory at once (~4.5× the data: 168 MiB
// for a 36 MB block), and V8 starts a full garbage collection at each step such memory grows past
// 64 MiB. So each piece of about ROW_GROUP_BYTES is encoded as a small file of one row group, and the
// small files are joined into one: their column chunks in order, then their page indexes (column indexes
// as they are, offset indexes with their page offsets moved), then the first file's footer listing
// every row group, its offsets moved. A batch that is a row group read from Parquet, with columns handed
// back unchanged, is a row group of its own: those columns' chunks are copied as read (parquet-compose.ts).
import { RecordBatch, Table } from "apache-arrow";
import { batchBytes, splitBlockBySize, type Block } from "../block";
import {
  FILE_NUM_ROWS, FILE_ROW_GROUPS, GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_NUM_ROWS, GROUP_ORDINAL, MAGIC, fileParts, i64, list,
  move, movedChunk, placePageIndexes, smallFile, withItems, type RowGroupParts,
} from "./parquet-footer";
import { composedRowGroup, keptColumns } from "./parquet-compose";
import type { KeptChunk } from "./parquet-kept";
import { CompactType, asNumber, encodeStruct, field, type ThriftStruct } from "./thrift";

/** Arrow bytes per row group written: the wasm memory a write needs stays near what reading a row group needs. */
const ROW_GROUP_BYTES = 4 * 2 ** 20;

/**
 * The bytes of one Parquet file holding the block, in order (views of encoded pieces and of chunks kept
 * as read, and new bytes), and the bytes only they hold (`release`: to free once written: the encoded
 * pieces and the reads kept chunks came from). `codec`: the Parquet compression codec `encode` writes,
 * which a column chunk kept as read must have to be copied.
 */
export function parquetFile(block: Block, encode: (piece: Block) => Uint8Array, codec: number): { chunks: Uint8Array[]; release: Uint8Array[] } {
  const release = new Set<Uint8Array>();
  const parts = rowGroupPieces(block, codec, encode).map(({ piece, kept }): RowGroupParts | Uint8Array => {
    const composed = kept && composedRowGroup(block.schema, piece.batches[0], kept, encode);
    if (!composed) return encode(piece);
    for (const chunk of kept) for (const read of chunk?.reads ?? []) release.add(read);
    return composed;
  });
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only instanceof Uint8Array) return { chunks: [only], release: [only] };
  const pieces = parts.map((part) => (part instanceof Uint8Array ? fileParts(smallFile(part)) : part));
  for (const piece of pieces) for (const bytes of piece.scratch) release.add(bytes);
  return { chunks: joinRowGroups(pieces), release: [...release] };
}

/**
 * Pieces of about ROW_GROUP_BYTES cut between the block's batches (a row group read is one batch; a
 * sliced string column costs its offsets rebased when written), a batch over twice that cut into slices.
 * A batch with columns kept as read (a row group read and handed back) is a piece of its own.
 */
function rowGroupPieces(block: Block, codec: number, encode: (piece: Block) => Uint8Array): { piece: Block; kept?: (KeptChunk | undefined)[] }[] {
  const pieces: { piece: Block; kept?: (KeptChunk | undefined)[] }[] = [];
  let group: RecordBatch[] = [];
  let groupBytes = 0;
  const ownBatch = (batch: RecordBatch) => new RecordBatch(block.schema, batch.data);
  const flush = () => {
    if (group.length > 0) pieces.push({ piece: new Table(block.schema, group.map(ownBatch)) });
    group = [];
    groupBytes = 0;
  };
  for (const batch of block.batches) {
    const kept = keptColumns(block.schema, batch, codec, encode);
    if (kept) {
      flush();
      pieces.push({ piece: new Table(block.schema, [ownBatch(batch)]), kept });
      continue;
    }
    const bytes = batchBytes(batch);
    if (groupBytes + bytes > ROW_GROUP_BYTES) flush();
    if (bytes > 2 * ROW_GROUP_BYTES) {
      pieces.push(...splitBlockBySize(new Table(block.schema, [ownBatch(batch)]), ROW_GROUP_BYTES).map((piece) => ({ piece })));
      continue;
    }
    group.push(batch);
    groupBytes += bytes;
  }
  flush();
  return pieces.length > 0 ? pieces : [{ piece: block }];
}

/** Row groups of one schema joined into the bytes of one file, under the first one's footer. */
function joinRowGroups(pieces: RowGroupParts[]): Uint8Array[] {
  const out: Uint8Array[] = [MAGIC];
  let position = MAGIC.length;
  const groups: ThriftStruct[] = [];
  const chunks: { chunk: ThriftStruct; bytes: Uint8Array; shift: number }[] = [];
  let rows = 0;
  for (const piece of pieces) {
    const shift = position - MAGIC.length;
    for (const bytes of piece.data) {
      out.push(bytes);
      position += bytes.length;
    }
    let next = 0;
    for (const original of piece.groups) {
      const group = new Map(original);
      move(group, GROUP_FILE_OFFSET, shift);
      if (group.has(GROUP_ORDINAL)) group.set(GROUP_ORDINAL, { type: CompactType.I16, value: groups.length });
      const columns = list(group, GROUP_COLUMNS);
      group.set(GROUP_COLUMNS, { type: CompactType.List, value: withItems(columns, (columns.items as ThriftStruct[]).map((c) => {
        const chunk = movedChunk(c, shift);
        const index = piece.indexes[next++];
        if (index) chunks.push({ chunk, bytes: index.bytes, shift: index.shift + shift });
        return chunk;
      })) });
      rows += asNumber(field(group, GROUP_NUM_ROWS)) ?? 0;
      groups.push(group);
    }
  }
  position = placePageIndexes(chunks, position, out);
  const first = pieces[0].footer;
  const footer = encodeStruct(new Map(first)
    .set(FILE_NUM_ROWS, i64(rows))
    .set(FILE_ROW_GROUPS, { type: CompactType.List, value: withItems(list(first, FILE_ROW_GROUPS), groups) }));
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set(MAGIC, 4);
  out.push(footer, tail);
  return out;
}
