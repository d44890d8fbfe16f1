// A running job's progress, as the engine reports it: what `rdpipe run` draws, what the server sends in
// its `progress` events and what the panel shows. The executor builds these snapshots itself.

/** A class UDF's actor pool (pending = constructing, restarting = reconstructing after a loss or a failed constructor). */
export interface ActorCounts { running: number; pending: number; restarting: number }

/** A cluster's nodes. */
export interface NodeCounts { alive: number; draining: number; pending: number }

export interface OperatorProgress {
  name: string;
  /** Positions in the snapshot's `operators` of the operators this one reads from (none for a read): the plan's graph. */
  inputs: number[];
  rowsDone: number;
  rowsEstimated?: number;
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
  memoryUsedBytes: number;
  memoryBudgetBytes: number;
  cpuSlots: number;
  workersBusy: number;
  /** When the job runs on a cluster: its nodes. */
  nodes?: NodeCounts;
  finished: boolean;
}
