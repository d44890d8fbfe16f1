// One row group of a Parquet file, rebuilt as a small self-contained Parquet file: the footer is
// rewritten to hold that row group and the chosen columns only, with offsets moved to match.
// This lets parquet-wasm's synchronous reader decode a row group without the whole file in memory
// (its async reader turns a decode error into an uncatchable panic that also never settles).
import { Schema, Table, tableFromIPC, tableToIPC } from "apache-arrow";
import type { PageLocation } from "./page-index";
import type { ChunkInFile } from "./parquet-kept";
import { chunkStats, pageStatsDecoder } from "./parquet-stats";
import type { ColumnStats, PruneValue } from "./prune";
import {
  CHUNK_COLUMN_INDEX_LENGTH, CHUNK_COLUMN_INDEX_OFFSET, CHUNK_FILE_OFFSET, CHUNK_FILE_PATH, CHUNK_META,
  CHUNK_OFFSET_INDEX_LENGTH, CHUNK_OFFSET_INDEX_OFFSET, CHUNK_PAGE_INDEX_FIELDS, ELEMENT_NAME, ELEMENT_NUM_CHILDREN,
  FILE_COLUMN_ORDERS, FILE_KEY_VALUES, FILE_NUM_ROWS, FILE_ROW_GROUPS, FILE_SCHEMA, GROUP_BYTE_SIZE, GROUP_COLUMNS,
  GROUP_COMPRESSED_SIZE, GROUP_FILE_OFFSET, GROUP_NUM_ROWS, GROUP_ORDINAL, GROUP_SORTING_COLUMNS, KEY, MAGIC, META_BLOOM_FIELDS,
  META_COMPRESSED_SIZE, META_DATA_PAGE, META_DICTIONARY_PAGE, META_INDEX_PAGE, META_NUM_VALUES, META_SIZE_STATISTICS,
  META_STATISTICS, VALUE, chunkPages, list, withItems,
} from "./parquet-footer";
import { CompactType, asNumber, decodeStruct, encodeStruct, field, type ThriftStruct } from "./thrift";

/** Arrow writers store the Arrow schema here; readers use it to restore types, and reject it if its field count differs. */
const ARROW_SCHEMA_KEY = "ARROW:schema";
const IPC_END_OF_STREAM = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

export interface ByteRange {
  start: number;
  length: number;
}

/** Where a column's page index is in the file, and how its min and max values decode (absent: they do not order its values). */
export interface ColumnPageIndex { offsetIndex: ByteRange; columnIndex?: ByteRange; decode?: (bytes: Uint8Array) => PruneValue | undefined }

/** A run of one column's data pages, the rows they hold. */
export interface PageRun { first: PageLocation; last: PageLocation; rows: number }

export interface RowGroupFilePlan {
  /** The top-level columns the file holds, in order. */
  columns: string[];
  /** The column chunks to read from the original file, in order. */
  ranges: ByteRange[];
  /** The small file's size in bytes. */
  size: number;
  /** Writes the small file into `target` (of `size` bytes, by default new), given the bytes of `ranges`. */
  assemble(chunks: Uint8Array[], target?: Uint8Array): Uint8Array;
}

interface TopLevelColumn {
  name: string;
  schemaStart: number;
  schemaEnd: number;
  leafStart: number;
  leafEnd: number;
}


/** A Parquet footer: row counts and sizes, and the rewriting of one row group into a file of its own. */
export class ParquetLayout {
  private readonly footer: ThriftStruct;
  private readonly columns: TopLevelColumn[] = [];
  readonly numRows: number;
  /** Rows and uncompressed bytes of each row group. */
  readonly rowGroups: { rows: number; bytes: number }[];

  /** footer: the thrift FileMetaData bytes (without length and magic). */
  constructor(footer: Uint8Array) {
    this.footer = decodeStruct(footer);
    const schema = list(this.footer, FILE_SCHEMA).items as ThriftStruct[];
    let leaf = 0;
    // The schema is a depth-first list; each element says how many children follow it.
    const skipSubtree = (index: number): number => {
      if (index >= schema.length) throw new Error("the schema in the footer is cut short");
      const children = asNumber(field(schema[index], ELEMENT_NUM_CHILDREN)) ?? 0;
      if (children === 0) leaf++;
      let next = index + 1;
      for (let c = 0; c < children; c++) next = skipSubtree(next);
      return next;
    };
    for (let index = 1; index < schema.length;) {
      const leafStart = leaf;
      const end = skipSubtree(index);
      const name = new TextDecoder().decode(field(schema[index], ELEMENT_NAME) as Uint8Array);
      this.columns.push({ name, schemaStart: index, schemaEnd: end, leafStart, leafEnd: leaf });
      index = end;
    }
    this.numRows = asNumber(field(this.footer, FILE_NUM_ROWS)) ?? 0;
    this.rowGroups = (list(this.footer, FILE_ROW_GROUPS).items as ThriftStruct[]).map((group) => ({
      rows: asNumber(field(group, GROUP_NUM_ROWS)) ?? 0,
      bytes: asNumber(field(group, GROUP_BYTE_SIZE)) ?? 0,
    }));
  }

  /** What the footer's statistics say of each top-level primitive column in one row group. */
  rowGroupStats(rowGroupIndex: number): Map<string, ColumnStats> {
    const schema = list(this.footer, FILE_SCHEMA).items as ThriftStruct[];
    const group = list(this.footer, FILE_ROW_GROUPS).items[rowGroupIndex] as ThriftStruct;
    return chunkStats(schema, this.columns, list(group, GROUP_COLUMNS).items as ThriftStruct[], this.rowGroups[rowGroupIndex].rows);
  }

  /**
   * The page index of each named top-level primitive column in one row group; undefined when one of
   * them has no offset index, or is nested (its pages need not start at its rows).
   */
  pageIndex(rowGroupIndex: number, names: string[]): Map<string, ColumnPageIndex> | undefined {
    const schema = list(this.footer, FILE_SCHEMA).items as ThriftStruct[];
    const chunks = list(list(this.footer, FILE_ROW_GROUPS).items[rowGroupIndex] as ThriftStruct, GROUP_COLUMNS).items as ThriftStruct[];
    const out = new Map<string, ColumnPageIndex>();
    for (const column of this.columns.filter((c) => names.includes(c.name))) {
      const chunk = chunks[column.leafStart];
      const range = (offsetId: number, lengthId: number) => {
        const [start, length] = [asNumber(field(chunk, offsetId)), asNumber(field(chunk, lengthId))];
        return start !== undefined && length !== undefined ? { start, length } : undefined;
      };
      const offsetIndex = range(CHUNK_OFFSET_INDEX_OFFSET, CHUNK_OFFSET_INDEX_LENGTH);
      if (column.schemaEnd - column.schemaStart !== 1 || !offsetIndex) return undefined;
      out.set(column.name, { offsetIndex, columnIndex: range(CHUNK_COLUMN_INDEX_OFFSET, CHUNK_COLUMN_INDEX_LENGTH), decode: pageStatsDecoder(schema[column.schemaStart]) });
    }
    return out;
  }

  /** The top-level columns' names, in order. */
  get columnNames(): string[] {
    return this.columns.map((c) => c.name);
  }

  /** Where a top-level primitive column's chunk in one row group starts, its footer entry and its schema element; undefined for other columns. */
  chunkInFile(rowGroupIndex: number, name: string): ChunkInFile | undefined {
    const column = this.columns.find((c) => c.name === name);
    if (!column || column.schemaEnd - column.schemaStart !== 1) return undefined;
    const chunk = list(list(this.footer, FILE_ROW_GROUPS).items[rowGroupIndex] as ThriftStruct, GROUP_COLUMNS).items[column.leafStart] as ThriftStruct;
    const { start, hasDictionary } = chunkPages(field(chunk, CHUNK_META) as ThriftStruct);
    return { start, hasDictionary, chunk, element: (list(this.footer, FILE_SCHEMA).items as ThriftStruct[])[column.schemaStart] };
  }

  /** `pages`: a file of one (primitive) column holding only that run of its pages (and its dictionary page). */
  rowGroupFile(rowGroupIndex: number, columnNames?: string[], pages?: PageRun): RowGroupFilePlan {
    const chosen = columnNames ? this.columns.filter((c) => columnNames.includes(c.name)) : this.columns;
    if (pages && (chosen.length !== 1 || chosen[0].leafEnd - chosen[0].leafStart !== 1)) throw new Error("a run of pages is of one primitive column");
    const leaves = chosen.flatMap((c) => Array.from({ length: c.leafEnd - c.leafStart }, (_, i) => c.leafStart + i));
    const schema = list(this.footer, FILE_SCHEMA);
    const root = new Map(schema.items[0] as ThriftStruct);
    root.set(ELEMENT_NUM_CHILDREN, { type: CompactType.I32, value: chosen.length });

    const rowGroup = new Map(list(this.footer, FILE_ROW_GROUPS).items[rowGroupIndex] as ThriftStruct);
    const chunks = list(rowGroup, GROUP_COLUMNS);
    const ranges: ByteRange[] = [];
    let position = MAGIC.length;
    const movedChunks = leaves.map((leaf) => {
      const chunk = new Map(chunks.items[leaf] as ThriftStruct);
      if (chunk.has(CHUNK_FILE_PATH)) throw new Error("column chunks in other files are not supported");
      const meta = new Map(field(chunk, CHUNK_META) as ThriftStruct);
      const { dataPage, hasDictionary, start } = chunkPages(meta);
      let length = asNumber(field(meta, META_COMPRESSED_SIZE))!;
      if (pages) {
        // The dictionary page (it ends where the first data page starts), then the run of data pages.
        const dictionary = hasDictionary ? [{ start, length: dataPage - start }] : [];
        const chunkRanges = [...dictionary, { start: pages.first.offset, length: pages.last.offset + pages.last.size - pages.first.offset }];
        ranges.push(...chunkRanges);
        length = chunkRanges.reduce((sum, r) => sum + r.length, 0);
        meta.set(META_DATA_PAGE, { type: CompactType.I64, value: BigInt(position + (dictionary[0]?.length ?? 0)) });
        meta.set(META_COMPRESSED_SIZE, { type: CompactType.I64, value: BigInt(length) });
        meta.set(META_NUM_VALUES, { type: CompactType.I64, value: BigInt(pages.rows) });
        for (const id of [META_STATISTICS, META_SIZE_STATISTICS]) meta.delete(id);
      } else {
        ranges.push({ start, length });
        meta.set(META_DATA_PAGE, { type: CompactType.I64, value: BigInt(dataPage - start + position) });
      }
      if (hasDictionary) meta.set(META_DICTIONARY_PAGE, { type: CompactType.I64, value: BigInt(position) });
      else meta.delete(META_DICTIONARY_PAGE);
      for (const id of [META_INDEX_PAGE, ...META_BLOOM_FIELDS]) meta.delete(id);
      chunk.set(CHUNK_META, { type: CompactType.Struct, value: meta });
      chunk.set(CHUNK_FILE_OFFSET, { type: CompactType.I64, value: BigInt(position) });
      for (const id of CHUNK_PAGE_INDEX_FIELDS) chunk.delete(id);
      position += length;
      return chunk;
    });
    rowGroup.set(GROUP_COLUMNS, { type: CompactType.List, value: withItems(chunks, movedChunks) });
    for (const id of [GROUP_SORTING_COLUMNS, GROUP_FILE_OFFSET, GROUP_COMPRESSED_SIZE, GROUP_ORDINAL]) rowGroup.delete(id);

    const file = new Map(this.footer);
    file.set(FILE_SCHEMA, { type: CompactType.List, value: withItems(schema, [root, ...chosen.flatMap((c) => schema.items.slice(c.schemaStart, c.schemaEnd))]) });
    if (pages) rowGroup.set(GROUP_NUM_ROWS, { type: CompactType.I64, value: BigInt(pages.rows) });
    file.set(FILE_NUM_ROWS, { type: CompactType.I64, value: field(rowGroup, GROUP_NUM_ROWS)! });
    file.set(FILE_ROW_GROUPS, { type: CompactType.List, value: withItems(list(this.footer, FILE_ROW_GROUPS), [rowGroup]) });
    if (columnNames && file.has(FILE_KEY_VALUES)) {
      const keyValues = list(this.footer, FILE_KEY_VALUES);
      const names = chosen.map((c) => c.name);
      const projected = keyValues.items.flatMap((item) => {
        const entry = item as ThriftStruct;
        if (new TextDecoder().decode(field(entry, KEY) as Uint8Array) !== ARROW_SCHEMA_KEY) return [entry];
        const value = projectedArrowSchema(field(entry, VALUE) as Uint8Array | undefined, names);
        return value ? [new Map(entry).set(VALUE, { type: CompactType.Binary, value })] : [];
      });
      file.set(FILE_KEY_VALUES, { type: CompactType.List, value: withItems(keyValues, projected) });
    }
    if (file.has(FILE_COLUMN_ORDERS)) {
      const orders = list(this.footer, FILE_COLUMN_ORDERS);
      file.set(FILE_COLUMN_ORDERS, { type: CompactType.List, value: withItems(orders, leaves.map((leaf) => orders.items[leaf])) });
    }
    const footer = encodeStruct(file);

    const size = position + footer.length + 8;
    return {
      columns: chosen.map((c) => c.name),
      ranges,
      size,
      assemble(chunkBytes: Uint8Array[], out = new Uint8Array(size)): Uint8Array {
        if (out.length !== size) throw new Error(`a row group file of ${size} bytes cannot be written into ${out.length}`);
        out.set(MAGIC, 0);
        let offset = MAGIC.length;
        chunkBytes.forEach((bytes, i) => {
          if (bytes.length !== ranges[i].length) {
            throw new Error(`column chunk at byte ${ranges[i].start} needs ${ranges[i].length} bytes but the file has ${bytes.length}`);
          }
          out.set(bytes, offset);
          offset += bytes.length;
        });
        out.set(footer, offset);
        new DataView(out.buffer, out.byteOffset).setUint32(offset + footer.length, footer.length, true);
        out.set(MAGIC, offset + footer.length + 4);
        return out;
      },
    };
  }
}


/**
 * The stored Arrow schema (base64 of an IPC schema message) cut down to the chosen fields, or null
 * to drop it when Arrow JS cannot read it (types then come from the Parquet schema alone).
 */
function projectedArrowSchema(stored: Uint8Array | undefined, names: string[]): Uint8Array | null {
  if (!stored) return null;
  try {
    const message = Buffer.from(new TextDecoder().decode(stored), "base64");
    const stream = new Uint8Array(message.length + IPC_END_OF_STREAM.length);
    stream.set(message);
    stream.set(IPC_END_OF_STREAM, message.length);
    const schema = tableFromIPC(stream).schema;
    const projected = new Schema(schema.fields.filter((f) => names.includes(f.name)), schema.metadata);
    const encoded = tableToIPC(new Table(projected), "stream");
    const schemaMessage = encoded.subarray(0, encoded.length - IPC_END_OF_STREAM.length);
    return new TextEncoder().encode(Buffer.from(schemaMessage).toString("base64"));
  } catch {
    return null;
  }
}
