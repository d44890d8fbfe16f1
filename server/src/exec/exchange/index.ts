/**
 * The distributed exchange behind sort, groupBy, mapGroups, randomShuffle, repartition, unique (and join).
 *
 * An all-to-all operator plugs in as plain data (plan/exchange.ts):
 * 1. In `toPhysicalPlan` it returns `exchangeStage(name, inputs, { partitioners, combine?, reducer }, logical)`:
 *    each input's last stage gets an `exchangeMap` step, so its tasks (workers, like any task) cut their
 *    output with that side's `Partitioner` (hash of key columns, sampled range, random, position) into
 *    chunks — inline while small, else spilled as Arrow IPC into the job's spill folder — and report
 *    only `MapOutput` metadata. Two inputs hashed on their own keys into the same `buckets` with
 *    `exact: true` give reduce partition i the rows of bucket i of both sides (a hash join).
 * 2. Once every map task is done, the driver (`ExchangeOperator` in exec/physical) routes: for each
 *    reduce partition, the pieces of every side (`ExchangeReduceSpec`); range partitions get boundaries
 *    from the samples, hash buckets are coalesced by size unless exact.
 * 3. A reduce task (a worker task whose input is `{ kind: "exchange" }`) runs the `ReduceFn` registered
 *    for its `ReducerSpec` kind in `reducers` (./reducers.ts): it gets one `PartitionSide` per input
 *    and yields output blocks; map-like ops and a write after the operator fuse into the reduce task.
 * A new operator adds its `ReducerSpec` case (plan/exchange.ts) and its `ReduceFn` to `reducers`.
 * On a cluster a map task's chunks stay on its node (cluster/chunks.ts): the driver gets only where they
 * are, and a reduce task fetches its pieces from those nodes (./transfer.ts), each cut there to the
 * partition's rows (./cut.ts), so a sorted chunk spanning several partitions is not sent whole to each. A lost node's map outputs
 * that unreduced partitions still need are recomputed (ExchangeOperator.nodeLost).
 * The spill folder (the nodes' too) is removed when the job ends: success, failure or cancel.
 */
export type { PartitionSide, ReduceContext, ReduceFn } from "./types";
export { MapWriter } from "./map";
export { cutChunk } from "./cut";
export { reduceBlocks } from "./reduce";
export { routePartitions } from "./routing";
export { ChunkSink, chunkBytes } from "./spill";
