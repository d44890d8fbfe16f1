// What a reduce task makes of its partition, per ReducerSpec kind. A new all-to-all operator adds its
// case here (and to plan/exchange.ts's ReducerSpec).
import { type Block, concatBlocks, sliceBlock } from "../../block";
import { type OriginBlock, applyTransforms } from "../../cluster";
import { type ReducerSpec, type UdfFunction, isClass } from "../../plan";
import { GroupAggregator, joinSides, shuffleBlocks, sortBlocks } from "../all-to-all";
import { compareKeys, keyColumns, keyTuple } from "./keys";
import type { PartitionSide, ReduceFn } from "./types";

type Reducers = { [K in ReducerSpec["kind"]]: ReduceFn<Extract<ReducerSpec, { kind: K }>> };

async function allRows(side: PartitionSide): Promise<Block | undefined> {
  const blocks = await side.readAll();
  return blocks.length === 0 ? undefined : concatBlocks(blocks);
}

export const reducers: Reducers = {
  async *concat(sides) {
    for (const side of sides) yield* side.blocks();
  },
  async *sort([side], { keys, descending }) {
    const all = await allRows(side);
    if (all) yield* sortBlocks([all], keys, descending);
  },
  async *shuffle([side], { seed }, { spec }) {
    const all = await allRows(side);
    if (all) yield* shuffleBlocks([all], seed + spec.partition);
  },
  async *aggregate([side], { keys, aggs }, { aggregations }) {
    const aggregator = new GroupAggregator(keys, aggregations(aggs));
    for await (const block of side.blocks()) aggregator.addRowsOrPartials(block);
    // A global aggregate has one row even over no rows; grouped, an empty partition has none.
    if (aggregator.size > 0 || keys.length === 0) yield aggregator.result();
  },
  async *join([left, right], { spec }, { targetBlockBytes }) {
    yield* joinSides(left, right, spec, targetBlockBytes);
  },
  async *mapGroups([side], reducer, context) {
    const all = await allRows(side);
    if (!all) return;
    const fn = groupFunction(context.resolve(reducer.udf), reducer.constructorArgs);
    const transform = { kind: "batches" as const, operator: reducer.operator, udf: reducer.udf, batchFormat: reducer.batchFormat, onError: "fail" as const };
    const groups = groupsOf(sortBlocks([all], reducer.keys, reducer.keys.map(() => false))[0], reducer.keys, reducer.operator);
    for await (const { block } of applyTransforms(groups, [transform], () => fn, context.run, context.targetBlockBytes)) yield block;
  },
};

/** A sorted block's runs of equal keys, one block each. */
async function* groupsOf(sorted: Block, keys: string[], operator: string): AsyncIterable<OriginBlock> {
  const columns = keyColumns(sorted, keys, operator, false);
  const ascending = keys.map(() => false);
  let start = 0;
  for (let row = 1; row <= sorted.numRows; row++) {
    if (row < sorted.numRows && compareKeys(keyTuple(columns, row), keyTuple(columns, start), ascending) === 0) continue;
    yield { block: sliceBlock(sorted, start, row), origin: { rowOffset: 0, exact: false } };
    start = row;
  }
}

/** One instance per class UDF in this worker, built on first use (as an actor's is). */
const instances = new Map<UdfFunction, UdfFunction>();

function groupFunction(fn: UdfFunction, constructorArgs: unknown[]): UdfFunction {
  if (!isClass(fn)) return fn;
  const built = instances.get(fn);
  if (built) return built;
  const instance = new (fn as new (...args: unknown[]) => { call: UdfFunction })(...constructorArgs);
  const call = instance.call.bind(instance) as UdfFunction;
  instances.set(fn, call);
  return call;
}
