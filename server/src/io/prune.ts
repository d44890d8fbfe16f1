// What a read may skip: a predicate over column statistics (a Parquet row group's min/max/null count,
// a hive folder's partition value). The optimizer (plan/) derives it from a filter expression; a read
// skips a row group or a file only when no row in it can satisfy the predicate.
export type PruneValue = number | string | boolean | bigint;

export type PrunePredicate =
  | { kind: "compare"; column: string; op: "eq" | "ne" | "lt" | "le" | "gt" | "ge"; value: PruneValue | null }
  | { kind: "in"; column: string; values: (PruneValue | null)[] }
  | { kind: "isNull" | "isNotNull"; column: string }
  | { kind: "startsWith"; column: string; prefix: string }
  | { kind: "and" | "or"; args: PrunePredicate[] };

/** What is known of a column within a row group or folder; a missing field is unknown. */
export interface ColumnStats { min?: PruneValue; max?: PruneValue; nullCount?: number; rows?: number }

/** Hive's folder name for a null partition value. */
export const HIVE_NULL = "__HIVE_DEFAULT_PARTITION__";

/** Orders two values of one kind; undefined when they cannot be compared (then nothing is skipped). */
function order(a: PruneValue, b: PruneValue): number | undefined {
  if (typeof a === "string" && typeof b === "string") return Buffer.compare(Buffer.from(a), Buffer.from(b));
  if (typeof a === "boolean" || typeof b === "boolean") return typeof a === typeof b ? Number(a) - Number(b) : undefined;
  // A string against a number: numeric when the string is a number (partition values are text).
  const x = typeof a === "string" ? (a.trim() === "" ? NaN : Number(a)) : Number(a);
  const y = typeof b === "string" ? (b.trim() === "" ? NaN : Number(b)) : Number(b);
  return Number.isNaN(x) || Number.isNaN(y) ? undefined : x - y;
}

/** Whether some row with these statistics may satisfy the predicate (false only when none can). */
export function mayMatch(predicate: PrunePredicate, statsOf: (column: string) => ColumnStats | undefined): boolean {
  switch (predicate.kind) {
    case "and": return predicate.args.every((p) => mayMatch(p, statsOf));
    case "or": return predicate.args.some((p) => mayMatch(p, statsOf));
    case "isNull": { const s = statsOf(predicate.column); return s?.nullCount === undefined || s.nullCount > 0; }
    case "isNotNull": { const s = statsOf(predicate.column); return s?.nullCount === undefined || s.rows === undefined || s.nullCount < s.rows; }
    case "in": return predicate.values.some((value) => mayMatch({ kind: "compare", column: predicate.column, op: "eq", value }, statsOf));
    case "startsWith": {
      const s = statsOf(predicate.column);
      if (!s || allNull(s)) return !s;
      const { prefix } = predicate;
      if (typeof s.max === "string" && order(s.max, prefix)! < 0) return false;
      return !(typeof s.min === "string" && order(s.min, prefix)! > 0 && !s.min.startsWith(prefix));
    }
    case "compare": {
      const s = statsOf(predicate.column);
      if (!s) return true;
      if (predicate.value === null || allNull(s)) return false; // a comparison with null is null: no row passes
      if (s.min === undefined || s.max === undefined) return true;
      const low = order(s.min, predicate.value), high = order(s.max, predicate.value);
      if (low === undefined || high === undefined) return true;
      switch (predicate.op) {
        case "eq": return low <= 0 && high >= 0;
        case "ne": return !(low === 0 && high === 0);
        case "lt": return low < 0;
        case "le": return low <= 0;
        case "gt": return high > 0;
        case "ge": return high >= 0;
      }
    }
  }
}

const allNull = (s: ColumnStats) => s.nullCount !== undefined && s.rows !== undefined && s.nullCount >= s.rows && s.rows > 0;

/** The statistics of a hive folder's partition values: each column holds one value in every row. */
export function partitionStats(partition: Record<string, string>): (column: string) => ColumnStats | undefined {
  return (column) => {
    if (!(column in partition)) return undefined;
    const value = partition[column];
    return value === HIVE_NULL ? { nullCount: 1, rows: 1 } : { min: value, max: value, nullCount: 0, rows: 1 };
  };
}

/** The predicate as text, for explain(). */
export function pruneText(p: PrunePredicate): string {
  const v = (x: PruneValue | null) => (typeof x === "string" ? JSON.stringify(x) : String(x));
  switch (p.kind) {
    case "and": case "or": return `(${p.args.map(pruneText).join(` ${p.kind} `)})`;
    case "isNull": case "isNotNull": return `${p.column} ${p.kind === "isNull" ? "is null" : "is not null"}`;
    case "in": return `${p.column} in [${p.values.map(v).join(", ")}]`;
    case "startsWith": return `${p.column} starts with ${JSON.stringify(p.prefix)}`;
    case "compare": return `${p.column} ${{ eq: "=", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=" }[p.op]} ${v(p.value)}`;
  }
}
