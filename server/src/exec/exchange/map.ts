// The map side of an exchange, in a worker: a task's output blocks cut into partitions (or sorted runs)
// by its partitioner, written as chunks, reported as a MapOutput.
import { type Block, blockBytes, concatBlocks, placeRows, schemaToIPC, sliceBlock } from "../../block";
import type { AggregateFn, ExchangeMapSpec, MapOutput } from "../../plan";
import { GroupAggregator, groupRows, mulberry32, sortBlocks } from "../all-to-all";
import { hashBuckets, keyTuples, keyVectors } from "./keys";
import { ChunkSink } from "./spill";

/** A sorted run's chunk size: small enough that a reduce task's range cuts little waste from a run. */
const CHUNK_BYTES = 1 << 18;
/** Keys sampled per sorted run for the range boundaries. */
const SAMPLES_PER_RUN = 64;
/** Rows a map task groups to judge whether partial aggregates pay: they do with at least PROBE_RATIO rows per group. */
const PROBE_ROWS = 20_000;
const PROBE_RATIO = 4;
/** Groups a map task folds before it sends their partial aggregates on (its memory stays bounded). */
const MAX_PARTIAL_GROUPS = 100_000;

export class MapWriter {
  private readonly sink: ChunkSink;
  private rows = 0;
  private runs = 0;
  private readonly sample: unknown[][] = [];
  /**
   * Hash and random partitioning: blocks waiting to be cut into buckets, all together once they make a
   * block's worth: one gather in bucket order, then one chunk per bucket of a single record batch (a
   * reduce task decodes and reads each record batch of each chunk, so fewer are cheaper).
   */
  private pending: Block[] = [];
  private pendingBytes = 0;
  private readonly aggregator?: GroupAggregator;
  private readonly random?: () => number;
  private schema?: Uint8Array;
  /** Set once partial aggregation turned out not to pay. */
  private sendRows = false;

  constructor(private readonly spec: ExchangeMapSpec, taskId: number, private readonly targetBlockBytes: number, aggregations?: AggregateFn[]) {
    this.sink = new ChunkSink(spec.operator, spec.spillDir, `${spec.side}-${String(spec.taskIndex).padStart(6, "0")}-${taskId}.arrows`, spec.inlineBytes);
    if (spec.combine) this.aggregator = new GroupAggregator(spec.combine.keys, aggregations!);
    if (spec.partitioner.kind === "random") this.random = mulberry32(spec.partitioner.seed + Math.imul(spec.taskIndex + 1, 0x9e3779b1));
  }

  add(block: Block): void {
    this.rows += block.numRows;
    if (!this.aggregator) { this.partition(block); return; }
    // Partials that would barely reduce the rows cost more to send than the rows: the reduce tasks aggregate those.
    this.sendRows ||= this.rows === block.numRows && this.fewRowsPerGroup(block);
    if (this.sendRows) { this.partition(this.aggregatedColumns(block)); return; }
    this.aggregator.add(block);
    if (this.aggregator.size >= MAX_PARTIAL_GROUPS) this.partition(this.aggregator.takePartials());
  }

  /** Whether the first rows of the task's first block have fewer than PROBE_RATIO rows per group. */
  private fewRowsPerGroup(block: Block): boolean {
    const probe = new GroupAggregator(this.spec.combine!.keys, []);
    const rows = Math.min(block.numRows, PROBE_ROWS);
    probe.add(sliceBlock(block, 0, rows));
    return rows >= PROBE_ROWS / 10 && probe.size * PROBE_RATIO > rows;
  }

  private aggregatedColumns(block: Block): Block {
    const columns = this.spec.combine!.columns;
    return columns ? block.select(columns) : block;
  }

  finish(): MapOutput {
    if (this.aggregator && this.aggregator.size > 0) this.partition(this.aggregator.takePartials());
    this.cutPending();
    this.sink.close();
    const { side } = this.spec;
    return { side, taskIndex: this.spec.taskIndex, rows: this.rows, spilledBytes: this.sink.spilledBytes, chunks: this.sink.chunks, sample: this.spec.partitioner.kind === "range" ? this.sample : undefined, schema: this.schema };
  }

  abort(): void {
    this.sink.abort();
  }

  private partition(block: Block): void {
    if (block.numRows === 0) return;
    this.schema ??= schemaToIPC(block.schema);
    const p = this.spec.partitioner;
    switch (p.kind) {
      case "position": this.sink.add(block, 0); return;
      case "range": this.addRun(block, p.keys, p.descending); return;
      case "hash": keyVectors(block, p.keys, this.spec.operator, false); this.hold(block); return; // a missing key fails at the first block
      case "random": this.hold(block);
    }
  }

  /**
   * A sorted run: the block sorted, cut into chunks that know their first and last rows' positions; a
   * sample of positions. A position is the key tuple, then the task, run and row in the run: a total
   * order that a stable sort keeps, so rows with equal keys may be cut into several partitions (skew).
   */
  private addRun(block: Block, keys: string[], descending: boolean[]): void {
    keyVectors(block, keys, this.spec.operator, true);
    const sorted = sortBlocks([block], keys, descending)[0];
    const keysAt = keyTuples(sorted, keys, this.spec.operator, true);
    const run = this.runs++;
    const position = (row: number) => [...keysAt(row), this.spec.taskIndex, run, row];
    const n = sorted.numRows;
    const step = Math.max(1, Math.floor(n / SAMPLES_PER_RUN));
    for (let row = Math.floor(step / 2); row < n; row += step) this.sample.push(position(row));
    const chunkRows = Math.max(1, Math.floor((n * CHUNK_BYTES) / Math.max(1, blockBytes(sorted))));
    for (let start = 0; start < n; start += chunkRows) {
      const end = Math.min(n, start + chunkRows);
      this.sink.add(sliceBlock(sorted, start, end), run, { first: position(start), last: position(end - 1) });
    }
  }

  private hold(block: Block): void {
    this.pending.push(block);
    this.pendingBytes += blockBytes(block);
    if (this.pendingBytes >= this.targetBlockBytes) this.cutPending();
  }

  private cutPending(): void {
    const p = this.spec.partitioner;
    if (this.pending.length === 0 || (p.kind !== "hash" && p.kind !== "random")) return;
    const block = this.pending.length === 1 ? this.pending[0] : concatBlocks(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let bucketOf: Uint32Array;
    if (p.kind === "hash") bucketOf = hashBuckets(keyVectors(block, p.keys, this.spec.operator, false), block.numRows, p.buckets);
    else {
      bucketOf = new Uint32Array(block.numRows);
      for (let i = 0; i < bucketOf.length; i++) bucketOf[i] = Math.floor(this.random!() * p.buckets);
    }
    const { sorted, starts, positions } = groupRows(bucketOf, p.buckets);
    const grouped = placeRows(block, sorted, positions);
    for (let bucket = 0; bucket < p.buckets; bucket++) {
      if (starts[bucket] < starts[bucket + 1]) this.sink.add(sliceBlock(grouped, starts[bucket], starts[bucket + 1]), bucket);
    }
  }
}
