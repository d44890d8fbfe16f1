// Field ids of the Parquet footer's structs (parquet.thrift), and the helpers that edit a footer decoded
// by thrift.ts: rowgroup.ts cuts a file's row group out as a file of its own, parquet-write.ts joins
// files of one row group each into one file.
import { CompactType, field, type ThriftField, type ThriftList, type ThriftStruct, type ThriftValue } from "./thrift";

export const FILE_SCHEMA = 2, FILE_NUM_ROWS = 3, FILE_ROW_GROUPS = 4, FILE_KEY_VALUES = 5, FILE_COLUMN_ORDERS = 7;
export const KEY = 1, VALUE = 2;
export const ELEMENT_NAME = 4, ELEMENT_NUM_CHILDREN = 5;
export const GROUP_COLUMNS = 1, GROUP_BYTE_SIZE = 2, GROUP_NUM_ROWS = 3, GROUP_SORTING_COLUMNS = 4, GROUP_FILE_OFFSET = 5, GROUP_COMPRESSED_SIZE = 6, GROUP_ORDINAL = 7;
export const CHUNK_FILE_PATH = 1, CHUNK_FILE_OFFSET = 2, CHUNK_META = 3;
export const CHUNK_OFFSET_INDEX_OFFSET = 4, CHUNK_OFFSET_INDEX_LENGTH = 5, CHUNK_COLUMN_INDEX_OFFSET = 6, CHUNK_COLUMN_INDEX_LENGTH = 7;
export const CHUNK_PAGE_INDEX_FIELDS = [CHUNK_OFFSET_INDEX_OFFSET, CHUNK_OFFSET_INDEX_LENGTH, CHUNK_COLUMN_INDEX_OFFSET, CHUNK_COLUMN_INDEX_LENGTH];
export const META_NUM_VALUES = 5, META_COMPRESSED_SIZE = 7, META_DATA_PAGE = 9, META_INDEX_PAGE = 10, META_DICTIONARY_PAGE = 11, META_STATISTICS = 12;
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
