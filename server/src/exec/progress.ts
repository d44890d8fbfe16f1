// Progress snapshots: what the CLI, the server and the panel show while a job runs.
import type { CheckpointProgress, OperatorProgress, ProgressSnapshot } from "../contract";
import { ActorPoolOperator, type PhysicalOperator, TaskOperator } from "./physical";
import type { ActorCounts, NodeCounts } from "../cluster";

export type { CheckpointProgress, OperatorProgress, ProgressSnapshot };

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
