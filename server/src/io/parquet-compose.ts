// A row group written from column chunks kept as they were read (parquet-kept.ts) and the other
// columns encoded by parquet-wasm, under the footer parquet-wasm writes for the whole schema, so that it
// joins the block's other row groups like any encoded piece (parquet-write.ts).
import { RecordBatch, Schema, Struct, Table, makeData, type Data } from "apache-arrow";
import {
  CHUNK_META, ELEMENT_NUM_CHILDREN, ELEMENT_REPETITION, ELEMENT_TYPE, ELEMENT_TYPE_LENGTH, FILE_ROW_GROUPS, FILE_SCHEMA,
  GROUP_BYTE_SIZE, GROUP_COLUMNS, GROUP_COMPRESSED_SIZE, GROUP_FILE_OFFSET, GROUP_NUM_ROWS, GROUP_ORDINAL, MAGIC,
  META_COMPRESSED_SIZE, META_PATH, META_UNCOMPRESSED_SIZE, chunkPages, i64, list, movedChunk, smallFile, withItems,
  type PageIndexSource, type RowGroupParts, type SmallFile,
} from "./parquet-footer";
import { keptChunkOf, type KeptChunk } from "./parquet-kept";
import { CompactType, asNumber, field, type ThriftStruct } from "./thrift";

type Encode = (piece: Table) => Uint8Array;

/** The footer parquet-wasm writes for a schema (no row groups), by schema: the batches of one block share theirs. */
const schemaFooters = new WeakMap<Schema, ThriftStruct>();

function schemaFooter(schema: Schema, encode: Encode): ThriftStruct {
  let footer = schemaFooters.get(schema);
  if (!footer) schemaFooters.set(schema, footer = smallFile(encode(new Table(schema))).footer);
  return footer;
}

/**
 * For each column of the batch, the chunk it can be written as (unchanged since read, in `codec`, of the
 * physical type and repetition this schema is written with); undefined when no column can.
 */
export function keptColumns(schema: Schema, batch: RecordBatch, codec: number, encode: Encode): (KeptChunk | undefined)[] | undefined {
  const found = batch.data.children.map((data: Data) => {
    const kept = keptChunkOf(data);
    return kept?.codec === codec ? kept : undefined;
  });
  if (!found.some(Boolean)) return undefined;
  const elements = list(schemaFooter(schema, encode), FILE_SCHEMA).items as ThriftStruct[];
  // Flat schemas only: one element per column after the root.
  if (elements.length !== schema.fields.length + 1 || elements.some((e, i) => i > 0 && field(e, ELEMENT_NUM_CHILDREN) !== undefined)) return undefined;
  const same = (a: ThriftStruct, b: ThriftStruct) =>
    [ELEMENT_TYPE, ELEMENT_TYPE_LENGTH, ELEMENT_REPETITION].every((id) => asNumber(field(a, id)) === asNumber(field(b, id)));
  const kept = found.map((k, i) => (k && same(k.element, elements[i + 1]) ? k : undefined));
  return kept.some(Boolean) ? kept : undefined;
}

/**
 * One row group of `batch`: the kept columns' chunks as they were read, the others encoded; undefined
 * when the encoded columns did not come out as one row group. Its bytes stay in pieces (the kept chunks
 * are views of what was read): copying them into one buffer cost a fresh page per 4 KiB written.
 */
export function composedRowGroup(schema: Schema, batch: RecordBatch, kept: (KeptChunk | undefined)[], encode: Encode): RowGroupParts | undefined {
  const fresh = schema.fields.flatMap((_, i) => (kept[i] ? [] : [i]));
  let encoded: { file: SmallFile; chunks: ThriftStruct[] } | undefined;
  if (fresh.length > 0) {
    const subset = new Schema(fresh.map((i) => schema.fields[i]), schema.metadata);
    const children = fresh.map((i) => batch.data.children[i]);
    const data = makeData({ type: new Struct(subset.fields), length: batch.numRows, nullCount: 0, children });
    const file = smallFile(encode(new Table(subset, [new RecordBatch(subset, data)])));
    const groups = list(file.footer, FILE_ROW_GROUPS).items as ThriftStruct[];
    if (groups.length !== 1) return undefined;
    encoded = { file, chunks: list(groups[0], GROUP_COLUMNS).items as ThriftStruct[] };
  }
  const parts: Uint8Array[] = [];
  let position = MAGIC.length;
  const columns: ThriftStruct[] = [];
  const indexes: (PageIndexSource | undefined)[] = [];
  let next = 0;
  for (const [i, f] of schema.fields.entries()) {
    const keptChunk = kept[i];
    if (keptChunk) {
      const chunk = movedChunk(keptChunk.chunk, position);
      const meta = field(chunk, CHUNK_META) as ThriftStruct;
      meta.set(META_PATH, { type: CompactType.List, value: withItems(list(meta, META_PATH), [new TextEncoder().encode(f.name)]) });
      columns.push(chunk);
      indexes.push(undefined);
      parts.push(keptChunk.bytes);
      position += keptChunk.bytes.length;
      continue;
    }
    const original = encoded!.chunks[next++];
    const meta = field(original, CHUNK_META) as ThriftStruct;
    const { start } = chunkPages(meta);
    const length = asNumber(field(meta, META_COMPRESSED_SIZE))!;
    const shift = position - start;
    columns.push(movedChunk(original, shift));
    indexes.push({ bytes: encoded!.file.bytes, shift });
    parts.push(encoded!.file.bytes.subarray(start, start + length));
    position += length;
  }
  const sum = (id: number) => columns.reduce((n, c) => n + (asNumber(field(field(c, CHUNK_META) as ThriftStruct, id)) ?? 0), 0);
  const group: ThriftStruct = new Map([
    [GROUP_COLUMNS, { type: CompactType.List, value: { kind: "list", type: CompactType.List, elementType: CompactType.Struct, items: columns } }],
    [GROUP_BYTE_SIZE, i64(sum(META_UNCOMPRESSED_SIZE))],
    [GROUP_NUM_ROWS, i64(batch.numRows)],
    [GROUP_FILE_OFFSET, i64(MAGIC.length)],
    [GROUP_COMPRESSED_SIZE, i64(sum(META_COMPRESSED_SIZE))],
    [GROUP_ORDINAL, { type: CompactType.I16, value: 0 }],
  ]);
  return { data: parts, groups: [group], indexes, footer: schemaFooter(schema, encode), scratch: encoded ? [encoded.file.bytes] : [] };
}
