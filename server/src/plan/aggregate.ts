// Aggregation and sort specs a plan carries; the executor (exec/all-to-all) runs them.
import type { DataType } from "apache-arrow";
import type { Block } from "../block";
import type { AggregateSpec } from "./exchange";

export type SortKey = string | string[];

/** Ray Data's AggregateFn: per group, init → accumulateBlock (per block) → merge (partials) → finalize. */
export interface AggregateFn<A = unknown> {
  /** Output column name, as Ray names it: "count()", "sum(x)", … */
  name: string;
  init(key: unknown): A;
  /** `rows` are the indices, in `block`, of this group's rows. */
  accumulateBlock(acc: A, block: Block, rows: ArrayLike<number>): A;
  /** Optional, faster: folds each row of `block` into `accs[slots[row]]` (replacing the entries). */
  accumulateSlots?(accs: A[], block: Block, slots: Uint32Array): void;
  merge(a: A, b: A): A;
  finalize(acc: A): unknown;
  /** The result column's type, where the finalized values alone cannot tell it (a list's items when every list is empty). */
  resultType?(accs: A[]): DataType | undefined;
  /** How a worker rebuilds it (the built-ins and customAggregate set it); without one, only a pipeline file's reaches workers. */
  spec?: AggregateSpec;
}
