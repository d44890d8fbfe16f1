// The all-to-all operators as exchanges: each one's partitioner, map-side combine and reducer.
import type { BatchFormat } from "../block";
import type { SourceDef } from "../io";
import type { AggregateFn } from "./aggregate";
import type { AggregateSpec, ExchangeSpec } from "./exchange";
import type { JoinSpec } from "./join";
import type { UdfRef } from "./udf";

/** Hash buckets a map task cuts rows into; the driver joins adjacent ones into partitions of a target size. */
export const HASH_BUCKETS = 64;

export function sortExchange(keys: string[], descending: boolean[]): ExchangeSpec {
  return { partitioners: [{ kind: "range", keys, descending }], reducer: { kind: "sort", keys, descending } };
}

/** Two-phase: map tasks fold their rows into partial aggregates per group, reduce tasks merge a partition's. */
export function aggregateExchange(keys: string[], aggs: AggregateFn[], operator: string, position: number | undefined): ExchangeSpec {
  const specs = aggs.map((agg, index): AggregateSpec => (agg.spec?.kind === "builtin" ? agg.spec : { ...agg.spec, kind: "custom", name: agg.name, index, position }));
  // A global aggregate is one group: one bucket.
  return {
    partitioners: [{ kind: "hash", keys, buckets: keys.length === 0 ? 1 : HASH_BUCKETS }],
    combine: { kind: "aggregate", keys, aggs: specs, operator, columns: columnsRead(keys, specs) },
    reducer: { kind: "aggregate", keys, aggs: specs, operator },
  };
}

export function shuffleExchange(seed: number, numPartitions?: number): ExchangeSpec {
  return { partitioners: [{ kind: "random", seed, buckets: numPartitions ?? HASH_BUCKETS, exact: numPartitions !== undefined }], reducer: { kind: "shuffle", seed } };
}

/** repartition(n): in order by default, shuffled, or by hash of key columns (equal keys in one block). */
export function repartitionExchange(numPartitions: number, options: { shuffle?: boolean; keys?: string[]; seed: number }): ExchangeSpec {
  if (options.keys) return { partitioners: [{ kind: "hash", keys: options.keys, buckets: numPartitions, exact: true }], reducer: { kind: "concat" } };
  if (options.shuffle) return shuffleExchange(options.seed, numPartitions);
  return { partitioners: [{ kind: "position", numPartitions }], reducer: { kind: "concat" } };
}

/** udfReads: set when the read was narrowed to the columns the UDF's source reads (then a read of another one fails). */
export function mapGroupsExchange(keys: string[], udf: UdfRef, batchFormat: BatchFormat, constructorArgs: unknown[], operator: string, udfReads?: string[]): ExchangeSpec {
  return {
    partitioners: [{ kind: "hash", keys, buckets: keys.length === 0 ? 1 : HASH_BUCKETS }],
    reducer: { kind: "mapGroups", keys, udf, batchFormat, constructorArgs, operator, ...(udfReads && { udfReads }) },
  };
}

/** The key columns and those the built-in aggregations read; undefined when a custom one may read any. */
function columnsRead(keys: string[], specs: AggregateSpec[]): string[] | undefined {
  if (specs.some((spec) => spec.kind !== "builtin")) return undefined;
  const ons = specs.flatMap((spec) => (spec.kind === "builtin" && spec.on !== undefined ? [spec.on] : []));
  return [...new Set([...keys, ...ons])];
}

/**
 * A hash join on the exchange: both sides hashed on their own key columns into the same buckets, so
 * reduce partition i joins the rows of bucket i of each side. With numPartitions, one partition per
 * bucket; else adjacent buckets are joined up to the exchange's partition size (alike on both sides).
 */
export function joinExchange(spec: JoinSpec, numPartitions?: number): ExchangeSpec {
  const buckets = numPartitions ?? HASH_BUCKETS, exact = numPartitions !== undefined;
  return {
    partitioners: [{ kind: "hash", keys: spec.on, buckets, exact }, { kind: "hash", keys: spec.rightOn, buckets, exact }],
    reducer: { kind: "join", spec },
  };
}

/** A file read that decodes only the columns an exchange's map side needs (an aggregation's), when it reads them all now. */
export function projectedSource(source: SourceDef, columns: string[] | undefined): SourceDef {
  if (!columns || source.type !== "files" || source.options.columns) return source;
  return { ...source, options: { ...source.options, columns } };
}
