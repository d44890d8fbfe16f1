// Ray Data's further aggregations: AbsMax, Quantile, Unique, CountDistinct, AsList, ApproximateQuantile
// and ApproximateTopK. Their partials are plain data (arrays, Maps, sketches), merged in reduce tasks.
import { Binary, Bool, DataType, Date_, Field, Float, Int, Int64, List, Null, Struct, Timestamp, Type, Utf8 } from "apache-arrow";
import { compareScalars } from "../exec";
import type { AggregateFn, AggregateSpec } from "../plan";
import { type ColumnAggregateOptions, Count, Max, Mean, Min, type Reducer, Std, Sum, columnAggregate, runningValue } from "./aggregate";
import {
  type QuantileSketch, type TopKSketch, quantileSketch, quantileSketchAdd, quantileSketchMerge, quantileSketchQuery,
  topKSketch, topKSketchAdd, topKSketchMerge, topKSketchQuery,
} from "./sketch";

const abs = (v: unknown) => (typeof v === "bigint" ? (v < 0n ? -v : v) : Math.abs(v as number));

/** The value of largest magnitude, as its absolute value (integers as int64). */
export function AbsMax(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  const max = runningValue((a, b) => (compareScalars(b, a) > 0 ? b : a));
  return columnAggregate("abs_max", on, opts, true, { ...max, step: (s, value) => max.step(s, abs(value)) });
}

/** The exact q-quantile (default the median), interpolated linearly between the two nearest values as numpy and Ray do. */
export function Quantile(on: string, q = 0.5, opts: ColumnAggregateOptions = {}): AggregateFn {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Quantile(${on}): q must be in [0, 1], got ${q}`);
  return columnAggregate<number[]>("quantile", on, opts, true, {
    ...listReducer((value) => Number(value)),
    finalize: (values) => {
      values.sort((a, b) => a - b);
      const k = (values.length - 1) * q;
      const below = Math.floor(k);
      const above = Math.ceil(k);
      return below === above ? values[k] : values[below] * (above - k) + values[above] * (k - below);
    },
    empty: undefined,
    resultType: undefined,
  }, { q });
}

/** The distinct values, in ascending order, as a list. */
export function Unique(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate<Map<unknown, unknown>>("unique", on, opts, false, {
    ...distinctReducer(),
    finalize: (distinct) => [...distinct.values()].sort(compareScalars),
    empty: () => [],
    resultType: (input) => listOf(input),
  });
}

/** How many distinct values (an int64 column). */
export function CountDistinct(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate<Map<unknown, unknown>>("count_distinct", on, opts, false, {
    ...distinctReducer(),
    finalize: (distinct) => BigInt(distinct.size),
    empty: () => 0n,
  });
}

/** Every value, as a list (in no particular order across blocks). */
export function AsList(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate<unknown[]>("list", on, opts, false, listReducer((value) => value));
}

/**
 * Values at the given quantiles from a mergeable quantile sketch (see sketch.ts for its error bound),
 * as a list of float64. `quantilePrecision` is the sketch's k (default 800, as Ray's).
 */
export function ApproximateQuantile(on: string, quantiles: number[], opts: ColumnAggregateOptions & { quantilePrecision?: number } = {}): AggregateFn {
  const bad = quantiles.find((q) => !(q >= 0 && q <= 1));
  if (quantiles.length === 0 || bad !== undefined) throw new RangeError(`ApproximateQuantile(${on}): quantiles must be a non-empty list of values in [0, 1], got ${JSON.stringify(quantiles)}`);
  const k = opts.quantilePrecision ?? 800;
  quantileSketch(k);
  return columnAggregate<QuantileSketch>("approx_quantile", on, opts, true, {
    init: () => quantileSketch(k),
    step: (s, value) => { quantileSketchAdd(s, Number(value)); return s; },
    merge: quantileSketchMerge,
    finalize: (s) => quantileSketchQuery(s, quantiles),
    resultType: () => new List(new Field("item", new Float(2), true)),
  }, { quantiles });
}

/**
 * The k most frequent values, most frequent first, as a list of `{ <on>: value, count }` from a
 * Misra-Gries summary of 2^logCapacity counters (default 15, as Ray's): each count is at most the
 * true count and at least the true count minus n / (2^logCapacity + 1).
 */
export function ApproximateTopK(on: string, k: number, opts: ColumnAggregateOptions & { logCapacity?: number } = {}): AggregateFn {
  if (!(Number.isInteger(k) && k > 0)) throw new RangeError(`ApproximateTopK(${on}): k must be a positive integer, got ${k}`);
  const capacity = 2 ** (opts.logCapacity ?? 15);
  return columnAggregate<TopKSketch>("approx_topk", on, opts, false, {
    init: () => topKSketch(capacity),
    step: (s, value) => { topKSketchAdd(s, distinctKey(value), value); return s; },
    merge: topKSketchMerge,
    finalize: (s) => topKSketchQuery(s, k).map(({ value, count }) => ({ [on]: value, count: BigInt(count) })),
    empty: () => [],
    resultType: (input) => {
      const item = itemType(input);
      return item && new List(new Field("item", new Struct([new Field(on, item, true), new Field("count", new Int64(), true)]), true));
    },
  }, { k });
}

/** Rebuilds a built-in aggregation from its spec (in a worker). */
export function builtinAggregate(spec: Extract<AggregateSpec, { kind: "builtin" }>): AggregateFn {
  const on = spec.on!;
  const o = spec.options;
  switch (spec.fn) {
    case "count": return Count(spec.on, o);
    case "sum": return Sum(on, o);
    case "min": return Min(on, o);
    case "max": return Max(on, o);
    case "mean": return Mean(on, o);
    case "std": return Std(on, o);
    case "abs_max": return AbsMax(on, o);
    case "quantile": return Quantile(on, o.q as number, o);
    case "unique": return Unique(on, o);
    case "count_distinct": return CountDistinct(on, o);
    case "list": return AsList(on, o);
    case "approx_quantile": return ApproximateQuantile(on, o.quantiles as number[], o);
    case "approx_topk": return ApproximateTopK(on, o.k as number, o);
  }
}

/** Values kept in a list; an empty group's list is []. */
function listReducer<T>(convert: (value: unknown) => T): Reducer<T[]> {
  return {
    init: () => [],
    step: (values, value) => { values.push(convert(value)); return values; },
    merge: (a, b) => { for (const value of b) a.push(value); return a; },
    finalize: (values) => values,
    empty: () => [],
    resultType: (input) => listOf(input),
  };
}

/** Distinct values by content (objects, dates and bytes too), keyed as a Map. */
function distinctReducer(): Omit<Reducer<Map<unknown, unknown>>, "finalize"> {
  return {
    init: () => new Map(),
    step: (distinct, value) => distinct.set(distinctKey(value), value),
    merge: (a, b) => { for (const [key, value] of b) a.set(key, value); return a; },
  };
}

function distinctKey(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return `date:${value.getTime()}`;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
}

function listOf(input: DataType | null): DataType | undefined {
  const item = itemType(input);
  return item && new List(new Field("item", item, true));
}

/**
 * A list item's type from the input column's. Partials arrive in a reduce task structured-cloned, so
 * the type may be a plain object with the fields of its class: rebuilt here. Undefined for nested
 * types: the values then tell the type.
 */
function itemType(input: DataType | null): DataType | undefined {
  if (input === null) return new Null();
  const t = input as DataType & Record<string, unknown>;
  switch (t.typeId) {
    case Type.Int: return new Int(t.isSigned as boolean, t.bitWidth as 8 | 16 | 32 | 64);
    case Type.Float: return new Float(t.precision as 0 | 1 | 2);
    case Type.Utf8: case Type.LargeUtf8: return new Utf8();
    case Type.Bool: return new Bool();
    case Type.Binary: return new Binary();
    case Type.Timestamp: return new Timestamp(t.unit as number, t.timezone as string | undefined);
    case Type.Date: return new Date_(t.unit as number);
    case Type.Dictionary: return itemType(t.dictionary as DataType);
    case Type.Null: return new Null();
    default: return undefined;
  }
}
