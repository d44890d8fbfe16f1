// The built-in aggregations (Count, Sum, Min, Max, Mean, Std) and customAggregate, as Ray Data's
// ray.data.aggregate: each builds an AggregateFn that the executor's GroupAggregator folds per group.
import { DataType } from "apache-arrow";
import { type Block, BlockError, type Row, blockToRows, columnValues } from "../block";
import { compareScalars, requireColumn } from "../exec";
import type { AggregateFn, AggregateSpec } from "../plan";

type BuiltinName = Extract<AggregateSpec, { kind: "builtin" }>["fn"];

export interface ColumnAggregateOptions {
  /** Skip nulls (default). When false, one null makes the result null. All-null or no rows → null either way. */
  ignoreNulls?: boolean;
  alias?: string;
}

/**
 * Count(): the rows of each group. Count(col): the rows too, nulls of `col` included (Ray's Count), or
 * only its non-null values with `ignoreNulls: true`. An int64 column, as Ray's count.
 */
export function Count(on?: string | { alias?: string }, opts: { alias?: string; ignoreNulls?: boolean } = {}): AggregateFn {
  const column = typeof on === "string" ? on : undefined;
  const options = typeof on === "object" ? { ...on, ...opts } : opts;
  const skipNulls = column !== undefined && options.ignoreNulls === true;
  const counted = (block: Block): ((row: number) => number) => {
    if (!skipNulls) return () => 1;
    const { values } = aggregationValues(block, column, name, false);
    return (row) => (values[row] === null ? 0 : 1);
  };
  const name = options.alias ?? `count(${column ?? ""})`;
  const count: AggregateFn<number> = {
    name,
    init: () => 0,
    accumulateBlock: (n, block, rows) => {
      const one = counted(block);
      for (let i = 0; i < rows.length; i++) n += one(rows[i]);
      return n;
    },
    accumulateSlots: (counts, block, slots) => {
      const one = counted(block);
      for (let row = 0; row < slots.length; row++) counts[slots[row]] += one(row);
    },
    merge: (a, b) => a + b,
    finalize: (n) => BigInt(n),
    spec: { kind: "builtin", fn: "count", on: column, options: { ...options } },
  };
  return count;
}

/** Sum: of an integer column an int64 column, exact (bigint) over int64 input; else float64. */
export function Sum(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  // Columns hold one kind: number + number, or bigint + bigint for int64.
  return columnAggregate("sum", on, opts, true, runningValue((a, b) => (a as number) + (b as number)));
}

/** The smallest value; NaN orders above every number (DuckDB's order), so Min skips it unless all are NaN. */
export function Min(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate("min", on, opts, false, runningValue((a, b) => (compareNaNLast(b, a) < 0 ? b : a)));
}

/** The largest value; NaN orders above every number, so a NaN is the Max. */
export function Max(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate("max", on, opts, false, runningValue((a, b) => (compareNaNLast(b, a) > 0 ? b : a)));
}

function compareNaNLast(a: unknown, b: unknown): number {
  const nanA = a !== a, nanB = b !== b; // only NaN differs from itself
  return nanA || nanB ? Number(nanA) - Number(nanB) : compareScalars(a, b);
}

export function Mean(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate<{ sum: number; count: number }>("mean", on, opts, true, {
    init: () => ({ sum: 0, count: 0 }),
    step: (s, value) => { s.sum += Number(value); s.count++; return s; },
    merge: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
    finalize: (s) => s.sum / s.count,
  });
}

/** Standard deviation (Welford, partials merged with Chan et al.); ddof defaults to 1, as in Ray. */
export function Std(on: string, opts: ColumnAggregateOptions & { ddof?: number } = {}): AggregateFn {
  const ddof = opts.ddof ?? 1;
  return columnAggregate<{ count: number; mean: number; m2: number }>("std", on, opts, true, {
    init: () => ({ count: 0, mean: 0, m2: 0 }),
    step: (s, value) => {
      const x = Number(value);
      s.count++;
      const delta = x - s.mean;
      s.mean += delta / s.count;
      s.m2 += delta * (x - s.mean);
      return s;
    },
    merge: (a, b) => {
      const count = a.count + b.count;
      if (a.count === 0 || b.count === 0) return a.count === 0 ? { ...b } : { ...a };
      const delta = b.mean - a.mean;
      return { count, mean: a.mean + (delta * b.count) / count, m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count };
    },
    // Ray returns 0 for a single value whatever ddof is.
    finalize: (s) => (s.count < 2 ? 0 : Math.sqrt(s.m2 / (s.count - ddof))),
  });
}

/** A user aggregation over row objects. */
export function customAggregate<A>(spec: {
  name: string;
  init: (key: unknown) => A;
  accumulateRow: (acc: A, row: Row) => A;
  merge: (a: A, b: A) => A;
  finalize?: (acc: A) => unknown;
}): AggregateFn<A> {
  const source = (fn: (...args: never[]) => unknown) => fn.toString();
  return {
    name: spec.name,
    spec: {
      kind: "custom", name: spec.name, index: 0,
      sources: { init: source(spec.init), accumulateRow: source(spec.accumulateRow), merge: source(spec.merge), finalize: spec.finalize && source(spec.finalize) },
    },
    init: spec.init,
    accumulateBlock(acc, block, rows) {
      let blockRows = rowsCache.get(block);
      if (blockRows === undefined) rowsCache.set(block, (blockRows = blockToRows(block)));
      for (let i = 0; i < rows.length; i++) acc = spec.accumulateRow(acc, blockRows[rows[i]]);
      return acc;
    },
    merge: spec.merge,
    finalize: spec.finalize ?? ((acc) => acc),
  };
}

/** How a built-in folds the non-null values of one column. */
export interface Reducer<S> {
  init(): S;
  step(state: S, value: unknown): S;
  merge(a: S, b: S): S;
  /** `type` is the input column's. */
  finalize(state: S, type: DataType): unknown;
  /** The result when the column had no non-null value (default null; a list aggregation's is []). */
  empty?(): unknown;
  /** The result column's type from the input column's (null when no block was seen), where values alone cannot tell it (lists). */
  resultType?(input: DataType | null): DataType | undefined;
}

/**
 * A reducer whose state is the running result itself, null until the first value. The result keeps
 * the column's kind: integers become int64 (as Arrow sums them), timestamps and dates stay dates.
 */
export function runningValue(combine: (a: unknown, b: unknown) => unknown): Reducer<unknown> {
  const fold = (a: unknown, b: unknown) => (a === null ? b : b === null ? a : combine(a, b));
  const finalize = (value: unknown, type: DataType) => {
    if (typeof value !== "number") return value;
    if (DataType.isInt(type)) return BigInt(value);
    return DataType.isTimestamp(type) || DataType.isDate(type) ? new Date(value) : value;
  };
  return { init: () => null, step: fold, merge: fold, finalize };
}

interface ColumnAcc<S> { state: S; nonNull: number; sawNull: boolean; type: DataType | null }

/** The one shape of the built-in column aggregations: name, column lookup, null policy. */
export function columnAggregate<S>(
  fn: BuiltinName, on: string, opts: ColumnAggregateOptions, numericOnly: boolean, reducer: Reducer<S>, specOptions: Record<string, unknown> = {},
): AggregateFn {
  const name = opts.alias ?? `${fn}(${on})`;
  const ignoreNulls = opts.ignoreNulls ?? true;
  const fold = (acc: ColumnAcc<S>, value: unknown) => {
    if (value === null) acc.sawNull = true;
    else { acc.state = reducer.step(acc.state, value); acc.nonNull++; }
  };
  const aggregate: AggregateFn<ColumnAcc<S>> = {
    name,
    spec: { kind: "builtin", fn, on, options: { ...opts, ...specOptions } },
    init: () => ({ state: reducer.init(), nonNull: 0, sawNull: false, type: null }),
    accumulateBlock(acc, block, rows) {
      const { type, values } = aggregationValues(block, on, name, numericOnly);
      acc.type ??= type;
      for (let i = 0; i < rows.length; i++) fold(acc, values[rows[i]]);
      return acc;
    },
    accumulateSlots(accs, block, slots) {
      const { type, values } = aggregationValues(block, on, name, numericOnly);
      for (let row = 0; row < slots.length; row++) {
        const acc = accs[slots[row]];
        acc.type ??= type;
        fold(acc, values[row]);
      }
    },
    merge: (a, b) => ({
      state: reducer.merge(a.state, b.state), nonNull: a.nonNull + b.nonNull, sawNull: a.sawNull || b.sawNull, type: a.type ?? b.type,
    }),
    finalize: (acc) => {
      if (acc.sawNull && !ignoreNulls) return null;
      if (acc.nonNull === 0) return reducer.empty ? reducer.empty() : null;
      return reducer.finalize(acc.state, acc.type!);
    },
  };
  const { resultType } = reducer;
  if (resultType) aggregate.resultType = (accs) => resultType(accs.find((acc) => acc.type !== null)?.type ?? null);
  return aggregate;
}

// Aggregations see a block once per group, so its rows and columns are extracted once and kept with it.
const rowsCache = new WeakMap<Block, Row[]>();
const valuesCache = new WeakMap<Block, Map<string, { type: DataType; values: unknown[] }>>();

/** A column's values with nulls as null; int64 as bigint, so sums stay exact. */
function aggregationValues(block: Block, column: string, aggName: string, numericOnly: boolean): { type: DataType; values: unknown[] } {
  let perBlock = valuesCache.get(block);
  if (perBlock === undefined) valuesCache.set(block, (perBlock = new Map()));
  let cached = perBlock.get(column);
  if (cached === undefined) {
    const vector = requireColumn(block, column, aggName);
    const isInt64 = DataType.isInt(vector.type) && vector.type.bitWidth === 64;
    perBlock.set(column, (cached = { type: vector.type, values: isInt64 ? Array.from(vector) : columnValues(vector) }));
  }
  if (numericOnly && !DataType.isInt(cached.type) && !DataType.isFloat(cached.type)) {
    throw new BlockError(`${aggName} needs a numeric column; '${column}' is ${cached.type}`);
  }
  return cached;
}
