// The exchange as plain data: how map tasks cut rows into partitions, where each partition's pieces
// went, and what a reduce task makes of the pieces of its partition. exec/exchange runs it.
import type { BatchFormat } from "../block";
import type { JoinSpec } from "./join";
import type { UdfRef } from "./udf";

/**
 * How a map task cuts its rows into partitions.
 * - hash: by a hash of the key columns into `buckets` buckets; with `exact`, bucket i is reduce partition i
 *   (a join's two sides, repartition(n, { keys })), else the driver coalesces adjacent buckets by size.
 * - range: each input block is sorted into a run of chunks that know their first and last key; the
 *   driver picks the boundaries from the runs' samples once every map task is done (sampled range partitioning).
 * - random: each row to a random bucket (a seeded generator per map task, so a retry cuts the same way).
 * - position: rows keep their order; the driver cuts the whole input by global row position.
 */
export type Partitioner =
  | { kind: "hash"; keys: string[]; buckets: number; exact?: boolean }
  | { kind: "range"; keys: string[]; descending: boolean[] }
  | { kind: "random"; seed: number; buckets: number; exact?: boolean }
  | { kind: "position"; numPartitions: number };

/** An aggregation as plain data, rebuilt in a worker: a built-in by name, or a customAggregate's functions. */
export type AggregateSpec =
  | { kind: "builtin"; fn: "count" | "sum" | "min" | "max" | "mean" | "std" | "abs_max" | "quantile" | "unique" | "count_distinct" | "list" | "approx_quantile" | "approx_topk";
    on?: string; options: Record<string, unknown> }
  /** A customAggregate (or an AggregateFn of the user's own): the aggregate op's `index`th, found by its plan position, else rebuilt from its functions' source. */
  | { kind: "custom"; name: string; index: number; position?: number; sources?: { init: string; accumulateRow: string; merge: string; finalize?: string } };

/**
 * What a map task does to its rows before cutting them: fold them into partial aggregates per group.
 * When its groups are nearly as many as its rows, it sends the rows (those columns) on instead.
 */
export interface MapCombine {
  kind: "aggregate";
  keys: string[];
  aggs: AggregateSpec[];
  operator: string;
  /** The columns the aggregation reads (all when unknown): what a map task sends on when partials do not pay. */
  columns?: string[];
}

/** The map side, carried by the tasks of the stage that feeds an exchange (its last step instead of output blocks). */
export interface ExchangeMapSpec {
  /** Names the exchange in errors and file names. */
  operator: string;
  /** Which input of the exchange this stage is (a join has two). */
  side: number;
  /** The task's number in its stage: map outputs are ordered by it (a stable sort keeps ties in this order). */
  taskIndex: number;
  partitioner: Partitioner;
  combine?: MapCombine;
  /** The job's spill folder for this exchange, `<job folder>/<exchange folder>`; map tasks create it (a node, its own beside it). */
  spillDir: string;
  /** Bytes the task may keep in memory and return inline; beyond, it spills to an Arrow IPC file in spillDir. */
  inlineBytes: number;
}

/** One piece of a map task's output: rows of one partition (or of one sorted run), inline or in a spill file. */
export interface ChunkRef {
  /** Hash/random bucket; for range and position, the run's number within the task. */
  partition: number;
  rows: number;
  bytes: number;
  /** An Arrow IPC stream (schema + batches) kept in memory... */
  ipc?: Uint8Array;
  /** ...or the same bytes at [offset, offset + bytes) of a spill file... */
  file?: string;
  offset?: number;
  /** ...on the node with this id (its memory holds the chunk under `key`, or `file` is on its disk); none: in this process. */
  node?: number;
  key?: string;
  /** Range partitioning: the chunk's first and last rows' positions (key tuple, then task, run, row in the run; its rows are sorted). */
  first?: unknown[];
  last?: unknown[];
}

/** What a map task reports when it is done: only metadata (and, in the driver's own workers, small inline chunks) reach the driver. */
export interface MapOutput {
  side: number;
  taskIndex: number;
  rows: number;
  spilledBytes: number;
  chunks: ChunkRef[];
  /** Range partitioning: row positions (as ChunkRef.first) sampled evenly from the task's runs. */
  sample?: unknown[][];
  /** The schema of the task's chunks (Arrow IPC of no rows), when it had rows. */
  schema?: Uint8Array;
}

/** A chunk, or rows [start, end) of it, a reduce task reads. */
export interface ReducePiece { chunk: ChunkRef; start?: number; end?: number }

/**
 * The rows of a chunk a reduce task reads, cut where the chunk is, so that only they move: rows
 * [start, end) (position partitioning), or those whose positions are in `range`, `first` being the
 * chunk's first row's position (range partitioning reads whole sorted chunks; the two never come together).
 */
export interface ChunkCut { operator: string; start?: number; end?: number; range?: KeyRange; first?: unknown[] }

/**
 * What a reduce task makes of its partition. `sides[s]` of the reduce spec are side s's pieces in map
 * task order; a reducer sees each side's blocks in that order (see exec/exchange's ReduceFn).
 */
export type ReducerSpec =
  | { kind: "concat" }
  | { kind: "sort"; keys: string[]; descending: boolean[] }
  | { kind: "shuffle"; seed: number }
  | { kind: "aggregate"; keys: string[]; aggs: AggregateSpec[]; operator: string }
  /** udfReads: the columns the UDF's source reads, when the read left the others out (a read of one of them fails). */
  | { kind: "mapGroups"; keys: string[]; udf: UdfRef; batchFormat: BatchFormat; constructorArgs: unknown[]; operator: string; udfReads?: string[] }
  | { kind: "join"; spec: JoinSpec };

/** A reduce task's input: partition `partition` of `numPartitions`, its pieces from every map output of each side. */
export interface ExchangeReduceSpec {
  operator: string;
  partition: number;
  numPartitions: number;
  reducer: ReducerSpec;
  sides: ReducePiece[][];
  /** Each side's schema (Arrow IPC), also for a side with no rows in this partition (an outer join's nulls need it); none when the side had no rows at all. */
  schemas: (Uint8Array | undefined)[];
  /** Range partitioning: the partition holds the rows whose positions are in (lower, upper] (an undefined bound is open); pieces are cut to it. */
  range?: KeyRange;
  /** On a cluster: the chunk server (tcp:// or tls://host:port) of each node holding pieces, by node id. */
  peers?: Record<number, string>;
  /**
   * Added by the node that runs the task: its id, and the cluster's token and TLS material (PEM), to fetch
   * from its peers; silentMs: a peer that sends nothing for this long while asked for chunks is taken as
   * lost (the node's heartbeat timeout).
   */
  fetch?: { here: number; transport: { token?: string; tls?: { cert: string; key: string; ca: string } }; silentMs: number };
}

export interface KeyRange { keys: string[]; descending: boolean[]; lower?: unknown[]; upper?: unknown[] }

/**
 * The exchange of one all-to-all operator: one partitioner per input (a join's sides hash their own key
 * columns into the same buckets), what map tasks fold rows into first, and the reducer.
 */
export interface ExchangeSpec {
  partitioners: Partitioner[];
  combine?: MapCombine;
  reducer: ReducerSpec;
}

/** What the stage feeding an exchange carries in the physical plan; the executor adds the spill folder and inline bytes. */
export type ExchangeMapStep = Omit<ExchangeMapSpec, "spillDir" | "inlineBytes" | "taskIndex">;
