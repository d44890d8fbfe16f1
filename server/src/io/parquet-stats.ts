// A Parquet row group's column statistics (min, max, null count) read from the footer, as values the
// pruning of io/prune.ts compares: only for types whose stored order is the values' order.
import type { ColumnStats, PruneValue } from "./prune";
import { asNumber, field, type ThriftStruct } from "./thrift";

/** A top-level column's place in the footer's schema list and among the leaf columns. */
interface ColumnPlace { name: string; schemaStart: number; schemaEnd: number; leafStart: number }

// Field ids from parquet.thrift.
const ELEMENT_TYPE = 1, ELEMENT_CONVERTED_TYPE = 6, ELEMENT_LOGICAL_TYPE = 10;
const CHUNK_META = 3, META_STATISTICS = 12;
const STATS_MAX = 1, STATS_MIN = 2, STATS_NULL_COUNT = 3, STATS_MAX_VALUE = 5, STATS_MIN_VALUE = 6;
const BOOLEAN = 0, INT32 = 1, INT64 = 2, FLOAT = 4, DOUBLE = 5, BYTE_ARRAY = 6;
const CONVERTED_UTF8 = 0, CONVERTED_SIGNED_INTS = [15, 16, 17, 18];
const LOGICAL_STRING = 1, LOGICAL_INTEGER = 10;

type Decoder = (bytes: Uint8Array) => PruneValue | undefined;

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const DECODERS: Record<number, Decoder> = {
  [BOOLEAN]: (b) => (b.length >= 1 ? b[0] !== 0 : undefined),
  [INT32]: (b) => (b.length >= 4 ? view(b).getInt32(0, true) : undefined),
  [INT64]: (b) => (b.length >= 8 ? view(b).getBigInt64(0, true) : undefined),
  [FLOAT]: (b) => (b.length >= 4 ? finite(view(b).getFloat32(0, true)) : undefined),
  [DOUBLE]: (b) => (b.length >= 8 ? finite(view(b).getFloat64(0, true)) : undefined),
  // A min or max cut short mid-character (page indexes truncate them) is not a bound once decoded with replacement characters: unknown.
  [BYTE_ARRAY]: (b) => { try { return new TextDecoder("utf-8", { fatal: true }).decode(b); } catch { return undefined; } },
};

const finite = (x: number) => (Number.isNaN(x) ? undefined : x);

/** How a column's statistics decode, or undefined when its stored order is not its values' (unsigned, dates, decimals, binary). */
function decoderOf(element: ThriftStruct): { decode: Decoder; legacyOrderOk: boolean } | undefined {
  const physical = asNumber(field(element, ELEMENT_TYPE));
  const converted = asNumber(field(element, ELEMENT_CONVERTED_TYPE));
  const logical = field(element, ELEMENT_LOGICAL_TYPE) as ThriftStruct | undefined;
  const logicalKind = logical ? [...logical.keys()][0] : undefined;
  if (physical === INT32 || physical === INT64) {
    const signedInt = (converted === undefined || CONVERTED_SIGNED_INTS.includes(converted)) && (logicalKind === undefined || logicalKind === LOGICAL_INTEGER);
    return signedInt ? { decode: DECODERS[physical], legacyOrderOk: true } : undefined;
  }
  if (physical === BYTE_ARRAY) {
    // Only min_value/max_value order strings as bytes; the legacy fields used signed bytes.
    return converted === CONVERTED_UTF8 || logicalKind === LOGICAL_STRING ? { decode: DECODERS[BYTE_ARRAY], legacyOrderOk: false } : undefined;
  }
  return physical !== undefined && physical in DECODERS && logicalKind === undefined ? { decode: DECODERS[physical], legacyOrderOk: true } : undefined;
}

/** How a column's page-index min and max decode (they order as min_value/max_value do), or undefined when they do not order its values. */
export function pageStatsDecoder(element: ThriftStruct): Decoder | undefined {
  return decoderOf(element)?.decode;
}

/** Statistics by column name for the top-level primitive columns of one row group. */
export function chunkStats(schema: ThriftStruct[], columns: ColumnPlace[], chunks: ThriftStruct[], rows: number): Map<string, ColumnStats> {
  const out = new Map<string, ColumnStats>();
  for (const column of columns) {
    if (column.schemaEnd - column.schemaStart !== 1) continue; // nested
    const decoder = decoderOf(schema[column.schemaStart]);
    const meta = field(chunks[column.leafStart], CHUNK_META) as ThriftStruct | undefined;
    const stats = meta && (field(meta, META_STATISTICS) as ThriftStruct | undefined);
    if (!stats) continue;
    const bytes = (id: number) => field(stats, id) as Uint8Array | undefined;
    const value = (current: number, legacy: number) => {
      const raw = bytes(current) ?? (decoder?.legacyOrderOk ? bytes(legacy) : undefined);
      return raw && decoder ? decoder.decode(raw) : undefined;
    };
    out.set(column.name, { min: value(STATS_MIN_VALUE, STATS_MIN), max: value(STATS_MAX_VALUE, STATS_MAX), nullCount: asNumber(field(stats, STATS_NULL_COUNT)), rows });
  }
  return out;
}
