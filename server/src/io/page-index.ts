// Page-level skipping with a Parquet page index. A row group's column index holds each data page's
// min, max and null count, its offset index each page's bytes and first row. The rows where the pushed
// predicate may hold are found page by page over the columns it names (pages of different columns
// start at different rows, so the row group is cut at every page start of those columns); then each
// column fetches and decodes only its pages that overlap a kept run of rows, and is sliced to that run.
import type { ColumnStats, PrunePredicate, PruneValue } from "./prune";
import { mayMatch } from "./prune";
import { LOCATION_FIRST_ROW, LOCATION_OFFSET, LOCATION_SIZE, OFFSET_PAGE_LOCATIONS } from "./parquet-footer";
import { asNumber, decodeStruct, field, type ThriftList, type ThriftStruct } from "./thrift";

/** A data page: where its bytes are in the file and the row (within its row group) it starts at. */
export interface PageLocation { offset: number; size: number; firstRow: number }

/** Rows [start, end) of a row group. */
export interface RowRange { start: number; end: number }

// Field ids from parquet.thrift.
const INDEX_NULL_PAGES = 1, INDEX_MINS = 2, INDEX_MAXES = 3, INDEX_NULL_COUNTS = 5;

const items = (struct: ThriftStruct, id: number) => (field(struct, id) as ThriftList | undefined)?.items;

export function decodeOffsetIndex(bytes: Uint8Array): PageLocation[] {
  const locations = items(decodeStruct(bytes), OFFSET_PAGE_LOCATIONS) as ThriftStruct[] | undefined;
  if (!locations || locations.length === 0) throw new Error("an offset index without page locations");
  return locations.map((l) => ({ offset: asNumber(field(l, LOCATION_OFFSET))!, size: asNumber(field(l, LOCATION_SIZE))!, firstRow: asNumber(field(l, LOCATION_FIRST_ROW))! }));
}

/** Each page's statistics from a column index; `decode` reads a min or max as the column's values order (undefined: unknown). */
export function decodeColumnIndex(bytes: Uint8Array, decode: (b: Uint8Array) => PruneValue | undefined, pages: PageLocation[], rows: number): ColumnStats[] {
  const index = decodeStruct(bytes);
  const nullPages = items(index, INDEX_NULL_PAGES) as boolean[] | undefined;
  const mins = items(index, INDEX_MINS) as Uint8Array[] | undefined;
  const maxes = items(index, INDEX_MAXES) as Uint8Array[] | undefined;
  const nullCounts = items(index, INDEX_NULL_COUNTS);
  if (!nullPages || !mins || !maxes || [nullPages, mins, maxes].some((list) => list.length !== pages.length)) {
    throw new Error(`a column index whose page count differs from its offset index's ${pages.length}`);
  }
  return pages.map((page, i) => {
    const pageRows = (pages[i + 1]?.firstRow ?? rows) - page.firstRow;
    if (nullPages[i]) return { nullCount: pageRows, rows: pageRows };
    return { min: decode(mins[i]), max: decode(maxes[i]), nullCount: asNumber(nullCounts?.[i]), rows: pageRows };
  });
}

/**
 * The runs of rows where the predicate may hold, by the page statistics of the columns it names (a
 * column without them is unknown: it may match). Adjacent kept pieces merge into one run.
 */
export function keptRows(filter: PrunePredicate, columns: Map<string, { pages: PageLocation[]; stats: ColumnStats[] }>, rows: number): RowRange[] {
  const cuts = [...new Set([0, ...[...columns.values()].flatMap((c) => c.pages.map((p) => p.firstRow))])].filter((r) => r < rows).sort((a, b) => a - b);
  const kept: RowRange[] = [];
  cuts.forEach((start, k) => {
    const end = cuts[k + 1] ?? rows;
    const statsOf = (name: string) => {
      const column = columns.get(name);
      return column && column.stats[pageAt(column.pages, start)];
    };
    if (!mayMatch(filter, statsOf)) return;
    const last = kept.at(-1);
    if (last && last.end === start) last.end = end; else kept.push({ start, end });
  });
  return kept;
}

/** The page holding a row: the last page starting at or before it. */
function pageAt(pages: PageLocation[], row: number): number {
  let low = 0, high = pages.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (pages[mid].firstRow <= row) low = mid; else high = mid - 1;
  }
  return low;
}

/** The pages of a column that hold rows [start, end), and the rows they hold. */
export function pageSpan(pages: PageLocation[], range: RowRange, rows: number): { first: number; last: number; rows: RowRange } {
  const first = pageAt(pages, range.start), last = pageAt(pages, range.end - 1);
  return { first, last, rows: { start: pages[first].firstRow, end: pages[last + 1]?.firstRow ?? rows } };
}

/** The columns a predicate names. */
export function predicateColumns(p: PrunePredicate, into = new Set<string>()): Set<string> {
  if ("args" in p) for (const arg of p.args) predicateColumns(arg, into);
  else into.add(p.column);
  return into;
}
