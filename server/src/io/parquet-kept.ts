// Column chunks kept as read, so that a column a job hands back unchanged is written to Parquet as its
// encoded bytes instead of being encoded again (for a read fused with a Parquet write: ReadOptions.keepEncoded).
// A decoded column is remembered by its Arrow buffers; at write time a column whose buffers are the same
// views, over the same rows, is that column. Its bytes are fingerprinted when read and again when
// written: a UDF may write into a zero-copy typed array or an Arrow buffer, and such a column must be
// encoded from its values, not copied from the file. The fingerprint is xxHash64 (xxhash-wasm: 4.6 GB/s
// here against 1.6 GB/s for node:crypto's sha256, whose cost was 8% of a Parquet-to-Parquet job).
import { DataType, type Data, type Table } from "apache-arrow";
import xxhash, { type XXHashAPI } from "xxhash-wasm";
import {
  CHUNK_FILE_OFFSET, CHUNK_FILE_PATH, CHUNK_META, CHUNK_PAGE_INDEX_FIELDS, ELEMENT_NUM_CHILDREN, META_BLOOM_FIELDS, META_CODEC,
  META_COMPRESSED_SIZE, META_DATA_PAGE, META_DICTIONARY_PAGE, META_INDEX_PAGE, i64,
} from "./parquet-footer";
import { asNumber, field, type ThriftStruct } from "./thrift";

/** One column chunk as read: its pages' bytes, and its footer entry with offsets from the chunk's first byte. */
export interface KeptChunk {
  bytes: Uint8Array;
  /** ColumnChunk whose page offsets count from `bytes`' first byte (no page index, no bloom filter). */
  chunk: ThriftStruct;
  /** The column's SchemaElement in the file it was read from. */
  element: ThriftStruct;
  codec: number;
  /** The reads `bytes` is a view of (with the row group's other chunks), freed once the chunk is written. */
  reads: Uint8Array[];
}

/** Where a chunk's pages are in its file, and its footer entries, as ParquetLayout gives them. */
export interface ChunkInFile { start: number; hasDictionary: boolean; chunk: ThriftStruct; element: ThriftStruct }

interface Kept { data: Data; fingerprint: bigint; kept: KeptChunk }

/** By the buffer a decoded row group's columns view (one IPC stream: one ArrayBuffer for all of them). */
const keptByBuffer = new WeakMap<ArrayBufferLike, Kept[]>();
let hasher: XXHashAPI | undefined;

/** Loads the fingerprint's hasher: once per thread, before the first chunk is remembered. */
export async function loadKeptChunkHasher(): Promise<void> {
  hasher ??= await xxhash();
}

/** A chunk's footer entry with its offsets counted from the chunk's first byte; undefined for chunks stored elsewhere. */
export function keptChunk(inFile: ChunkInFile, bytes: Uint8Array, reads: Uint8Array[]): KeptChunk | undefined {
  const { start, hasDictionary, chunk, element } = inFile;
  if (chunk.has(CHUNK_FILE_PATH) || field(element, ELEMENT_NUM_CHILDREN) !== undefined) return undefined;
  const meta = new Map(field(chunk, CHUNK_META) as ThriftStruct);
  if (asNumber(field(meta, META_COMPRESSED_SIZE)) !== bytes.length) return undefined;
  meta.set(META_DATA_PAGE, i64(asNumber(field(meta, META_DATA_PAGE))! - start));
  if (hasDictionary) meta.set(META_DICTIONARY_PAGE, i64(0));
  else meta.delete(META_DICTIONARY_PAGE);
  for (const id of [META_INDEX_PAGE, ...META_BLOOM_FIELDS]) meta.delete(id);
  const moved = new Map(chunk).set(CHUNK_META, { type: chunk.get(CHUNK_META)!.type, value: meta }).set(CHUNK_FILE_OFFSET, i64(0));
  for (const id of CHUNK_PAGE_INDEX_FIELDS) moved.delete(id);
  return { bytes, chunk: moved, element, codec: asNumber(field(meta, META_CODEC)) ?? -1, reads };
}

/** Remembers the chunk each named column of `table` (one record batch: a decoded row group) was decoded from. */
export function rememberKeptChunks(table: Table, chunks: Map<string, KeptChunk>): void {
  if (table.batches.length !== 1) return;
  const names = table.schema.fields.map((f) => f.name);
  for (const [index, name] of names.entries()) {
    const kept = names.indexOf(name) === names.lastIndexOf(name) ? chunks.get(name) : undefined;
    const data = table.batches[0].data.children[index];
    if (!kept || !data.values || !keyable(data)) continue;
    const buffer = data.values.buffer as ArrayBufferLike;
    const list = keptByBuffer.get(buffer) ?? [];
    list.push({ data, fingerprint: fingerprint(data), kept });
    keptByBuffer.set(buffer, list);
  }
}

/**
 * The chunk a column was read from, if `data` views the same buffers over the same rows, none of its
 * bytes changed since, and the chunk was not freed (written already, and handed back again by a UDF).
 */
export function keptChunkOf(data: Data): KeptChunk | undefined {
  if (!data.values || !keyable(data)) return undefined;
  const candidates = keptByBuffer.get(data.values.buffer as ArrayBufferLike);
  const found = candidates?.find((c) => sameRows(c.data, data));
  return found && found.kept.bytes.byteLength > 0 && fingerprint(data) === found.fingerprint ? found.kept : undefined;
}

/**
 * Flat columns of one buffer set; nested, dictionary and null columns are always encoded, and intervals
 * too: the reader gives Parquet's INTERVAL as days and milliseconds only, which a copied chunk would not.
 */
function keyable(data: Data): boolean {
  return data.children.length === 0 && !data.dictionary && !DataType.isNull(data.type) && !DataType.isInterval(data.type);
}

const sameView = (a: ArrayBufferView | undefined, b: ArrayBufferView | undefined) =>
  a !== undefined && b !== undefined && a.buffer === b.buffer && a.byteOffset === b.byteOffset;

function sameRows(original: Data, data: Data): boolean {
  if (data.length !== original.length || data.nullCount !== original.nullCount || String(data.type) !== String(original.type)) return false;
  if (!sameView(data.values, original.values)) return false;
  if (data.offset !== original.offset || (original.valueOffsets && !sameView(data.valueOffsets, original.valueOffsets))) return false;
  return original.nullCount === 0 || sameView(data.nullBitmap, original.nullBitmap);
}

/** A hash of the bytes that hold the column's rows: values (or offsets and the bytes they span) and validity. */
function fingerprint(data: Data): bigint {
  if (!hasher) throw new Error("loadKeptChunkHasher() was not awaited before a kept chunk was remembered");
  const hash = hasher.create64();
  const bytes = (view: ArrayBufferView, start: number, end: number) => hash.update(new Uint8Array(view.buffer, view.byteOffset + start, end - start));
  const bitBytes = (view: ArrayBufferView) => bytes(view, data.offset >> 3, (data.offset + data.length + 7) >> 3);
  if (data.valueOffsets) {
    const offsets = data.valueOffsets as Int32Array;
    bytes(offsets, 0, (data.length + 1) * offsets.BYTES_PER_ELEMENT);
    bytes(data.values, Number(offsets[0]), Number(offsets[data.length]));
  } else if (DataType.isBool(data.type)) {
    bitBytes(data.values);
  } else {
    const values = data.values as unknown as { BYTES_PER_ELEMENT: number } & ArrayBufferView;
    bytes(values, 0, data.length * data.stride * values.BYTES_PER_ELEMENT);
  }
  if (data.nullCount > 0 && data.nullBitmap) bitBytes(data.nullBitmap);
  return hash.digest();
}
