// A running job's progress, as the engine reports it: what `rdpipe run` draws, what the server sends in
// its `progress` events and what the panel shows. The executor builds these snapshots itself.

/** A class UDF's actor pool (pending = constructing, restarting = reconstructing after a loss or a failed constructor). */
export interface ActorCounts { running: number; pending: number; restarting: number }

/**
 * A cluster's nodes: joined and taking work, draining (preempted, or being released), lost (since the
 * cluster started: socket closed, or silent past the heartbeat timeout), asked for and not joined yet,
 * and released (let go after being idle, since the cluster started).
 */
export interface NodeCounts { alive: number; draining: number; lost: number; pending: number; released: number }

/**
 * One node of a job's cluster: `id` is the server's node id (as `GET /cluster` lists it) when the job runs
 * on a server's shared nodes; `cpus` is the CPU slots this job has there; `tasksRunning`, its tasks running there now.
 */
export interface NodeProgress { id: number; pid: number; state: "alive" | "draining" | "lost"; cpus: number; tasksRunning: number }

export interface OperatorProgress {
  name: string;
  /** Positions in the snapshot's `operators` of the operators this one reads from (none for a read): the plan's graph. */
  inputs: number[];
  /** Set on steps the driver runs itself (limit, union, zip, sort, aggregate...): they have no tasks, only rows and time. */
  runsInDriver: boolean;
  /** Set on the stage that writes the output: its rows out are rows written. */
  writes: boolean;
  /** Rows this operator took in (a read: rows read from its source), and the estimate of all it will take in. */
  rowsRead: number;
  rowsReadEstimated?: number;
  /** Rows out (kept by a filter, written by a write), and the estimate when one is known. Estimates are never below what is done and exact once done. */
  rowsDone: number;
  rowsEstimated?: number;
  /** The stage that writes the output: bytes of the files (or objects) it has written, as its datasink reported them. */
  bytesWritten?: number;
  /** Since its first input (or its start, for a read), until it finished. */
  elapsedMs: number;
  /** For reads: the decoded size of the input, estimated from sampled footers. */
  inMemoryBytesEstimated?: number;
  blocksDone: number;
  tasksDone: number;
  tasksEstimated?: number;
  tasksRunning: number;
  /** Task attempts rerun after their worker (or node) was lost. */
  tasksRetried: number;
  queuedBlocks: number;
  queuedBytes: number;
  backpressure?: string;
  rowsPerSecond: number;
  /** For a class UDF's stage: its actor pool. */
  actors?: ActorCounts;
  /** For a stage feeding an exchange (sort, groupBy, shuffle…): bytes of partitions its tasks spilled to disk. */
  bytesSpilled?: number;
  /** For an exchange's reduce side on nodes: bytes of partitions its tasks fetched from another node. */
  bytesMoved?: number;
}

/** A checkpointed job's progress: what earlier attempts left, and what this one commits. */
export interface CheckpointProgress {
  path: string;
  /** IDs and output files committed before this attempt started. */
  idsAtStart: number;
  filesAtStart: number;
  /** Input files earlier attempts consumed whole, not read again. */
  inputFilesSkipped: number;
  /** Input rows dropped as they were read because an earlier attempt committed them. */
  rowsAlreadyDone: number;
  /** Output files and rows this attempt committed. */
  filesCommitted: number;
  rowsCommitted: number;
  /** Time to open the checkpoint: clean up, load committed IDs. */
  loadMs: number;
  /** Set when the job succeeded and its checkpoint was deleted (deleteCheckpointOnSuccess). */
  deleted?: boolean;
}

export interface ProgressSnapshot {
  elapsedMs: number;
  operators: OperatorProgress[];
  /** Rows UDFs failed on under onError: "skip", this run. */
  erroredRows: number;
  checkpoint?: CheckpointProgress;
  /**
   * Bytes blocks hold now: queued between operators and for the consumer, and what running tasks' workers
   * report holding (their blocks' ArrayBuffers and decoder memory, each at most the task's reservation).
   */
  memoryUsedBytes: number;
  /** The most memory blocks held at once so far. */
  peakMemoryBytes: number;
  memoryBudgetBytes: number;
  cpuSlots: number;
  workersBusy: number;
  /** When the job runs on a cluster: its nodes, counted and one by one. */
  nodes?: NodeCounts;
  nodeList?: NodeProgress[];
  /** Set on the last snapshot of a job that succeeded: every operator is complete. */
  finished: boolean;
}
