// Progress snapshots: what the CLI, the server and the panel show while a job runs.
import type { ActorCounts, NodeCounts } from "../cluster";
import { ActorPoolOperator, type PhysicalOperator, TaskOperator } from "./physical";

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
  /** For a class UDF's stage: its actor pool (pending = constructing, restarting = reconstructing after a loss or a failed constructor). */
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

/** What a snapshot reads of the executor besides its operators. */
export interface ExecutorState {
  startedAt: number;
  memoryUsedBytes: number;
  memoryBudgetBytes: number;
  cpuSlots: number;
  workersBusy: number;
  nodes?: NodeCounts;
  erroredRows: number;
  checkpoint?: CheckpointProgress;
  actors(op: ActorPoolOperator): ActorCounts | undefined;
}

export function progressSnapshot(operators: PhysicalOperator[], state: ExecutorState, finished: boolean): ProgressSnapshot {
  const now = Date.now();
  let upstreamEstimate: number | undefined;
  const progress = operators.map((op): OperatorProgress => {
    if (op instanceof TaskOperator) op.estimateFrom(upstreamEstimate);
    upstreamEstimate = op.metrics.rowsEstimated;
    const m = op.metrics;
    const elapsed = ((m.finishedAt ?? now) - (m.startedAt ?? now)) / 1000;
    return {
      name: op.name, inputs: op.inputs.map((input) => operators.indexOf(input)), rowsDone: m.rowsOut, rowsEstimated: m.rowsEstimated, inMemoryBytesEstimated: m.inMemoryBytesEstimated, blocksDone: m.blocksOut,
      tasksDone: m.tasksFinished, tasksEstimated: m.tasksEstimated, tasksRunning: m.tasksRunning, tasksRetried: m.tasksRetried,
      queuedBlocks: op.inputQueue.length + op.outputQueue.length, queuedBytes: op.queuedBytes(),
      backpressure: m.backpressure, rowsPerSecond: elapsed > 0 ? m.rowsOut / elapsed : 0,
      actors: op instanceof ActorPoolOperator ? state.actors(op) : undefined,
    };
  });
  return {
    elapsedMs: now - state.startedAt, operators: progress, memoryUsedBytes: state.memoryUsedBytes, memoryBudgetBytes: state.memoryBudgetBytes,
    cpuSlots: state.cpuSlots, workersBusy: state.workersBusy, nodes: state.nodes, finished,
    erroredRows: state.erroredRows, checkpoint: state.checkpoint && { ...state.checkpoint },
  };
}
