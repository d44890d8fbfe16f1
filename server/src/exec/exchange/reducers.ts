// What a reduce task makes of its partition, per ReducerSpec kind. A new all-to-all operator adds its
// case here (and to plan/exchange.ts's ReducerSpec).
import { type Block, concatBlocks } from "../../block";
import { type ReducerSpec, type UdfFunction, isClass } from "../../plan";
import { GroupAggregator, joinSides, mapGroupBlocks, shuffleBlocks, sortedPieces } from "../all-to-all";
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
  async *sort([side], { keys, descending }, { targetBlockBytes }) {
    yield* sortedPieces(await side.readAll(), keys, descending, targetBlockBytes);
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
    const fn = groupFunction(context.resolve(reducer.udf), reducer.constructorArgs);
    yield* mapGroupBlocks(await side.readAll(), fn, reducer, context.run, context.targetBlockBytes);
  },
};

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
