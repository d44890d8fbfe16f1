// What the executor counts per physical operator (progress and stats read it).
export interface OperatorMetrics {
  rowsIn: number;
  rowsOut: number;
  blocksOut: number;
  /** Bytes of the blocks it put out (in memory, as Arrow). */
  bytesOut: number;
  /** A write stage: bytes of the files (or objects) it wrote, as its datasink reported them. */
  bytesWritten?: number;
  tasksLaunched: number;
  tasksFinished: number;
  tasksRunning: number;
  /** Task attempts rerun because their worker (or its node) was lost. */
  tasksRetried: number;
  rowsEstimated?: number;
  /** A read's decoded size, estimated from a few sampled files (accelerated path) or all footers (fallback). */
  inMemoryBytesEstimated?: number;
  tasksEstimated?: number;
  udfMs: number;
  /** An exchange's map side: bytes of partitions its tasks spilled to disk. */
  bytesSpilled?: number;
  /** An exchange on nodes: bytes of partitions reduce tasks fetched from another node. */
  bytesMoved?: number;
  /** An exchange: bytes of partitions that reached the driver (inline chunks of map tasks in its own workers; none on a cluster). */
  bytesViaDriver?: number;
  startedAt?: number;
  finishedAt?: number;
  backpressure?: string;
}
