// What a reducer sees of its partition and of the task it runs in.
import type { Schema } from "apache-arrow";
import type { Block } from "../../block";
import type { TaskRun } from "../../cluster";
import type { AggregateFn, AggregateSpec, ExchangeReduceSpec, ReducerSpec, UdfFunction, UdfRef } from "../../plan";

/** One side's part of a reduce task's partition: its pieces from every map output, read on demand, in map task order. */
export interface PartitionSide {
  readonly rows: number;
  readonly bytes: number;
  /** The side's schema, also when this partition has none of its rows; undefined when the side had no rows at all. */
  readonly schema?: Schema;
  /** The pieces one block at a time (a spilled chunk is read when its turn comes). */
  blocks(): AsyncIterable<Block>;
  /** Every piece at once. */
  readAll(): Promise<Block[]>;
}

/** What a reduce function may use of the worker it runs in. */
export interface ReduceContext {
  spec: ExchangeReduceSpec;
  /** A UDF of the pipeline file (by plan position) or sent as source. */
  resolve(ref: UdfRef): UdfFunction;
  aggregations(specs: AggregateSpec[]): AggregateFn[];
  /** Times UDF calls and reports errored rows, as in a map task. */
  run: TaskRun;
  targetBlockBytes: number;
  /** Told the bytes of each piece fetched from another node (progress shows them as moved). */
  moved?: (bytes: number) => void;
}

/** A reducer: the blocks of one output partition from the partition's sides (one side; two for a join). */
export type ReduceFn<R extends ReducerSpec = ReducerSpec> = (sides: PartitionSide[], reducer: R, context: ReduceContext) => AsyncIterable<Block>;
