// A Parquet row group read by pages where its page index rules some out (see page-index.ts): each run
// of rows the pushed predicate may hold in becomes a block, each of its columns decoded from a small
// file of only that column's pages over the run, then sliced to the run.
import { RecordBatch, Schema, Struct, Table, makeData, tableFromIPC, type Data } from "apache-arrow";
import { parquetWasm } from "./parquet-wasm";
import type { Block } from "../block";
import { decodeColumnIndex, decodeOffsetIndex, keptRows, pageSpan, predicateColumns, type PageLocation, type RowRange } from "./page-index";
import type { ColumnStats, PrunePredicate } from "./prune";
import type { ByteRange, ParquetLayout } from "./rowgroup";

export type ReadRange = (start: number, length: number) => Promise<Uint8Array>;

/** A row group's kept runs of rows and each read column's pages; undefined where its page index is missing or rules nothing out. */
export interface PagedRowGroup { runs: RowRange[]; pages: Map<string, PageLocation[]> }

export async function pagedRowGroup(layout: ParquetLayout, index: number, filter: PrunePredicate, names: string[], read: ReadRange): Promise<PagedRowGroup | undefined> {
  const rows = layout.rowGroups[index].rows;
  const filtered = [...predicateColumns(filter)];
  const pageIndex = names.length > 0 ? layout.pageIndex(index, [...new Set([...names, ...filtered])]) : undefined;
  if (!pageIndex || !names.every((name) => pageIndex.has(name))) return undefined;
  const bytesOf = (range: ByteRange) => read(range.start, range.length);
  const pages = new Map(await Promise.all([...pageIndex].map(async ([name, at]) => [name, decodeOffsetIndex(await bytesOf(at.offsetIndex))] as const)));
  const stats = new Map<string, { pages: PageLocation[]; stats: ColumnStats[] }>();
  await Promise.all(filtered.map(async (name) => {
    const at = pageIndex.get(name);
    if (!at?.columnIndex || !at.decode) return;
    stats.set(name, { pages: pages.get(name)!, stats: decodeColumnIndex(await bytesOf(at.columnIndex), at.decode, pages.get(name)!, rows) });
  }));
  const runs = keptRows(filter, stats, rows);
  return runs.length === 1 && runs[0].start === 0 && runs[0].end === rows ? undefined : { runs, pages };
}

/** One run of rows of the named columns, each fetched and decoded from only its pages that hold the run. */
export async function readRun(layout: ParquetLayout, index: number, names: string[], paged: PagedRowGroup, run: RowRange, read: ReadRange, batchRows: number): Promise<Block> {
  const rows = layout.rowGroups[index].rows;
  const columns = await Promise.all(names.map(async (name) => {
    const pages = paged.pages.get(name)!;
    const span = pageSpan(pages, run, rows);
    const spanRows = span.rows.end - span.rows.start;
    const plan = layout.rowGroupFile(index, [name], { first: pages[span.first], last: pages[span.last], rows: spanRows });
    const file = plan.assemble(await Promise.all(plan.ranges.map((r) => read(r.start, r.length))));
    const table = tableFromIPC(parquetWasm().readParquet(file, { batchSize: Math.max(batchRows, spanRows) }).intoIPCStream());
    const vector = table.getChildAt(0)!.slice(run.start - span.rows.start, run.end - span.rows.start);
    return { field: table.schema.fields[0], data: vector.data, metadata: table.schema.metadata };
  }));
  const fields = columns.map((c) => c.field);
  const schema = new Schema(fields, columns[0].metadata);
  const length = run.end - run.start;
  return new Table(schema, new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children: columns.map((c) => single(c.data)) })));
}

/** A column slice as one piece of data (a run is decoded in one batch). */
function single(data: readonly Data[]): Data {
  if (data.length !== 1) throw new Error(`a run of pages decoded into ${data.length} batches, not one`);
  return data[0];
}
