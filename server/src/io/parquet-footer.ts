// Field ids of the Parquet footer's structs (parquet.thrift), and the helpers that edit a footer decoded
// by thrift.ts: rowgroup.ts cuts a file's row group out as a file of its own, parquet-compose.ts makes a
// row group from chunks of several files, parquet-write.ts joins row groups (RowGroupParts) into one file.
import { CompactType, asNumber, decodeStruct, encodeStruct, field, type ThriftField, type ThriftList, type ThriftStruct, type ThriftValue } from "./thrift";

export const FILE_SCHEMA = 2, FILE_NUM_ROWS = 3, FILE_ROW_GROUPS = 4, FILE_KEY_VALUES = 5, FILE_COLUMN_ORDERS = 7;
export const KEY = 1, VALUE = 2;
export const ELEMENT_TYPE = 1, ELEMENT_TYPE_LENGTH = 2, ELEMENT_REPETITION = 3, ELEMENT_NAME = 4, ELEMENT_NUM_CHILDREN = 5;
export const GROUP_COLUMNS = 1, GROUP_BYTE_SIZE = 2, GROUP_NUM_ROWS = 3, GROUP_SORTING_COLUMNS = 4, GROUP_FILE_OFFSET = 5, GROUP_COMPRESSED_SIZE = 6, GROUP_ORDINAL = 7;
export const CHUNK_FILE_PATH = 1, CHUNK_FILE_OFFSET = 2, CHUNK_META = 3;
export const CHUNK_OFFSET_INDEX_OFFSET = 4, CHUNK_OFFSET_INDEX_LENGTH = 5, CHUNK_COLUMN_INDEX_OFFSET = 6, CHUNK_COLUMN_INDEX_LENGTH = 7;
export const CHUNK_PAGE_INDEX_FIELDS = [CHUNK_OFFSET_INDEX_OFFSET, CHUNK_OFFSET_INDEX_LENGTH, CHUNK_COLUMN_INDEX_OFFSET, CHUNK_COLUMN_INDEX_LENGTH];
export const META_PATH = 3, META_CODEC = 4, META_NUM_VALUES = 5, META_UNCOMPRESSED_SIZE = 6, META_COMPRESSED_SIZE = 7, META_DATA_PAGE = 9, META_INDEX_PAGE = 10, META_DICTIONARY_PAGE = 11, META_STATISTICS = 12;
export const META_BLOOM_FIELDS = [14, 15], META_SIZE_STATISTICS = 16;
/** OffsetIndex and its PageLocations (the page index). */
export const OFFSET_PAGE_LOCATIONS = 1, LOCATION_OFFSET = 1, LOCATION_SIZE = 2, LOCATION_FIRST_ROW = 3;

/** The 4 bytes a Parquet file starts and ends with. */
export const MAGIC = new TextEncoder().encode("PAR1");

export function list(struct: ThriftStruct, id: number): ThriftList {
  const value = field(struct, id);
  if (!value || typeof value !== "object" || !("kind" in value) || value.kind !== "list") throw new Error(`field ${id} is not a list`);
  return value;
}

export function withItems(original: ThriftList, items: ThriftValue[]): ThriftList {
  return { ...original, items };
}

export const i64 = (value: number | bigint): ThriftField => ({ type: CompactType.I64, value: BigInt(value) });

export interface SmallFile { bytes: Uint8Array; footer: ThriftStruct; dataEnd: number }

/** Where a chunk's page indexes are: the bytes its index offsets point into, and how far its pages moved from there. */
export interface PageIndexSource { bytes: Uint8Array; shift: number }

/**
 * Row groups on their way into a file: their column chunks' bytes in order (as they would follow the
 * file's first 4 bytes), their footer entries (offsets as in that file), each chunk's page indexes in
 * the same order (none for a chunk kept as read), the footer they were written under, and the encoded
 * bytes only they hold (freed once written).
 */
export interface RowGroupParts {
  data: Uint8Array[];
  groups: ThriftStruct[];
  indexes: (PageIndexSource | undefined)[];
  footer: ThriftStruct;
  scratch: Uint8Array[];
}

/** A small file's row groups as parts. */
export function fileParts(file: SmallFile): RowGroupParts {
  const groups = list(file.footer, FILE_ROW_GROUPS).items as ThriftStruct[];
  const chunks = groups.reduce((n, g) => n + list(g, GROUP_COLUMNS).items.length, 0);
  return {
    data: [file.bytes.subarray(MAGIC.length, file.dataEnd)], groups, footer: file.footer, scratch: [file.bytes],
    indexes: Array.from({ length: chunks }, () => ({ bytes: file.bytes, shift: 0 })),
  };
}

export function smallFile(bytes: Uint8Array): SmallFile {
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
export function move(struct: ThriftStruct, id: number, shift: number): void {
  const at = asNumber(field(struct, id));
  if (at !== undefined) struct.set(id, i64(at + shift));
}

/** An offset index whose pages' offsets are moved by `shift`. */
export function movedOffsetIndex(bytes: Uint8Array, shift: number): Uint8Array {
  const index = decodeStruct(bytes);
  const locations = list(index, OFFSET_PAGE_LOCATIONS);
  const moved = (locations.items as ThriftStruct[]).map((location) => {
    const copy = new Map(location);
    move(copy, LOCATION_OFFSET, shift);
    return copy;
  });
  return encodeStruct(new Map(index).set(OFFSET_PAGE_LOCATIONS, { type: CompactType.List, value: withItems(locations, moved) }));
}

/**
 * The page indexes of chunks moved by `shift` from `bytes` (the file they were written in), placed at
 * `position` as arrow-rs lays them out (every column index, then every offset index, its page offsets
 * moved) and appended to `out`; the chunks point at their new places. Returns the position after them.
 */
export function placePageIndexes(moved: { chunk: ThriftStruct; bytes: Uint8Array; shift: number }[], position: number, out: Uint8Array[]): number {
  for (const { chunk, bytes } of moved) {
    const start = asNumber(field(chunk, CHUNK_COLUMN_INDEX_OFFSET));
    if (start === undefined) continue;
    const index = bytes.subarray(start, start + asNumber(field(chunk, CHUNK_COLUMN_INDEX_LENGTH))!);
    chunk.set(CHUNK_COLUMN_INDEX_OFFSET, i64(position));
    out.push(index);
    position += index.length;
  }
  for (const { chunk, bytes, shift } of moved) {
    const start = asNumber(field(chunk, CHUNK_OFFSET_INDEX_OFFSET));
    if (start === undefined) continue;
    const index = movedOffsetIndex(bytes.subarray(start, start + asNumber(field(chunk, CHUNK_OFFSET_INDEX_LENGTH))!), shift);
    chunk.set(CHUNK_OFFSET_INDEX_OFFSET, i64(position));
    chunk.set(CHUNK_OFFSET_INDEX_LENGTH, { type: CompactType.I32, value: index.length });
    out.push(index);
    position += index.length;
  }
  return position;
}

/** A column chunk's footer entry with its pages moved by `shift` bytes. */
export function movedChunk(original: ThriftStruct, shift: number): ThriftStruct {
  const chunk = new Map(original);
  const meta = new Map(field(chunk, CHUNK_META) as ThriftStruct);
  for (const id of [META_DATA_PAGE, META_INDEX_PAGE, META_DICTIONARY_PAGE]) move(meta, id, shift);
  chunk.set(CHUNK_META, { type: CompactType.Struct, value: meta });
  // Deprecated, and 0 in arrow-rs' files; an offset otherwise.
  if (asNumber(field(chunk, CHUNK_FILE_OFFSET))) move(chunk, CHUNK_FILE_OFFSET, shift);
  return chunk;
}

/** A column chunk's first data page and where its pages start (its dictionary page, where it has one). */
export function chunkPages(meta: ThriftStruct): { dataPage: number; hasDictionary: boolean; start: number } {
  const dataPage = asNumber(field(meta, META_DATA_PAGE))!;
  const dictionaryPage = asNumber(field(meta, META_DICTIONARY_PAGE));
  const hasDictionary = dictionaryPage !== undefined && dictionaryPage > 0 && dictionaryPage < dataPage;
  return { dataPage, hasDictionary, start: hasDictionary ? dictionaryPage : dataPage };
}
