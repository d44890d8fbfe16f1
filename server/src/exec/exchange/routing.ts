// The driver's part of an exchange: once every map task is done, which pieces each reduce task reads.
// Only metadata (and the small chunks kept inline) is here; the rows stay in the spill files.
import type { ChunkRef, ExchangeReduceSpec, ExchangeSpec, MapOutput, ReducePiece } from "../../plan";
import { compareKeys } from "./keys";

type Route = Pick<ExchangeReduceSpec, "sides" | "range" | "schemas">;

/**
 * The reduce partitions, in output order. `outputs[side]` are that side's map outputs; partitions aim at
 * `targetBytes` each (hash buckets are coalesced, range boundaries come from the samples).
 */
export function routePartitions(spec: ExchangeSpec, outputs: MapOutput[][], targetBytes: number): Route[] {
  const ordered = outputs.map((side) => [...side].sort((a, b) => a.taskIndex - b.taskIndex));
  const schemas = ordered.map((side) => side.find((o) => o.schema)?.schema);
  return routesOf(spec, ordered, targetBytes).map((route) => ({ ...route, schemas }));
}

function routesOf(spec: ExchangeSpec, ordered: MapOutput[][], targetBytes: number): Omit<Route, "schemas">[] {
  const partitioner = spec.partitioners[0];
  switch (partitioner.kind) {
    case "hash": case "random": return routeBuckets(ordered, partitioner.buckets, partitioner.exact ?? false, targetBytes);
    case "range": return routeRanges(ordered, partitioner.keys, partitioner.descending, targetBytes);
    case "position": return routePositions(ordered[0], partitioner.numPartitions);
  }
}

function chunksOf(outputs: MapOutput[]): ChunkRef[] {
  return outputs.flatMap((o) => o.chunks);
}

/** Buckets as partitions: one each when exact (both sides of a join), else adjacent buckets joined up to the target size. */
function routeBuckets(sides: MapOutput[][], buckets: number, exact: boolean, targetBytes: number): Omit<Route, "schemas">[] {
  const bytes = new Array<number>(buckets).fill(0);
  for (const side of sides) for (const chunk of chunksOf(side)) bytes[chunk.partition] += chunk.bytes;
  const groups: number[][] = [];
  let current: number[] = [], currentBytes = 0;
  for (let bucket = 0; bucket < buckets; bucket++) {
    if (exact || (current.length > 0 && currentBytes + bytes[bucket] > targetBytes)) {
      if (current.length > 0) groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(bucket);
    currentBytes += bytes[bucket];
  }
  groups.push(current);
  const routes = groups.map((group) => {
    const members = new Set(group);
    return { sides: sides.map((side) => chunksOf(side).filter((c) => members.has(c.partition)).map((chunk) => ({ chunk }))) };
  });
  // Empty partitions make no tasks, but there is always one (a global aggregate of no rows has a row).
  const nonEmpty = routes.filter((r) => r.sides.some((pieces) => pieces.length > 0));
  return nonEmpty.length > 0 ? nonEmpty : [routes[0]];
}

/** Boundaries at even quantiles of the sampled row positions; partition i holds the rows in (boundary i-1, boundary i]. */
function routeRanges(sides: MapOutput[][], keys: string[], keyDescending: boolean[], targetBytes: number): Omit<Route, "schemas">[] {
  // Positions: the keys, then task, run and row ascending (see MapWriter.addRun).
  const descending = [...keyDescending, false, false, false];
  const chunks = sides.map(chunksOf);
  const totalBytes = chunks.flat().reduce((sum, c) => sum + c.bytes, 0);
  const samples = sides.flat().flatMap((o) => o.sample ?? []).sort((a, b) => compareKeys(a, b, descending));
  const wanted = Math.max(1, Math.min(samples.length, Math.ceil(totalBytes / targetBytes)));
  const bounds: unknown[][] = [];
  for (let i = 1; i < wanted; i++) {
    const bound = samples[Math.floor((i * samples.length) / wanted)];
    if (bounds.length === 0 || compareKeys(bounds[bounds.length - 1], bound, descending) < 0) bounds.push(bound);
  }
  const routes: Omit<Route, "schemas">[] = [];
  for (let i = 0; i <= bounds.length; i++) {
    const lower = i > 0 ? bounds[i - 1] : undefined;
    const upper = i < bounds.length ? bounds[i] : undefined;
    const overlaps = (c: ChunkRef) => (!lower || compareKeys(c.last!, lower, descending) > 0) && (!upper || compareKeys(c.first!, upper, descending) <= 0);
    routes.push({ sides: chunks.map((side) => side.filter(overlaps).map((chunk) => ({ chunk }))), range: { keys, descending, lower, upper } });
  }
  return routes.filter((r) => r.sides.some((pieces) => pieces.length > 0));
}

/** n partitions of the rows in order, the first `rows % n` one row longer (as repartition always cut). */
function routePositions(outputs: MapOutput[], n: number): Omit<Route, "schemas">[] {
  const chunks = chunksOf(outputs);
  const total = chunks.reduce((sum, c) => sum + c.rows, 0);
  const base = Math.floor(total / n), extra = total % n;
  const routes: Omit<Route, "schemas">[] = [];
  let chunkIndex = 0, offset = 0; // the next row: chunk and row within it
  for (let i = 0; i < n; i++) {
    let wanted = base + (i < extra ? 1 : 0);
    const pieces: ReducePiece[] = [];
    while (wanted > 0) {
      const chunk = chunks[chunkIndex];
      const take = Math.min(wanted, chunk.rows - offset);
      pieces.push(take === chunk.rows ? { chunk } : { chunk, start: offset, end: offset + take });
      wanted -= take;
      offset += take;
      if (offset === chunk.rows) { chunkIndex++; offset = 0; }
    }
    routes.push({ sides: [pieces] });
  }
  return routes;
}
