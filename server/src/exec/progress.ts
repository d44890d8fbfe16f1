// Progress snapshots: what the CLI, the server and the panel show while a job runs.
import type { CheckpointProgress, OperatorProgress, ProgressSnapshot } from "../contract";
import { ActorPoolOperator, type PhysicalOperator, TaskOperator, UnionOperator } from "./physical";
import type { ActorCounts } from "../cluster";

export type { CheckpointProgress, OperatorProgress, ProgressSnapshot };

/** What a snapshot reads of the executor besides its operators: the job-wide figures, as sent. */
export interface ExecutorState extends Omit<ProgressSnapshot, "elapsedMs" | "operators" | "finished"> {
  startedAt: number;
  actors(op: ActorPoolOperator): ActorCounts | undefined;
}

interface Estimates { read?: number; out?: number }

/** An operator that ended because its input ran out (not one a limit, a failure or a cancel stopped). */
const ranOut = (op: PhysicalOperator) => op.metrics.finishedAt !== undefined && !op.stopped;

/**
 * Rows read and rows out each operator will reach: a read's planner estimate, carried downstream through
 * stages that keep one row per row; an operator whose input is all in reads exactly what its inputs put
 * out. Never below what is done (the estimate grows), and exact once the operator (or, `succeeded`, the
 * job) is done.
 */
function estimates(operators: PhysicalOperator[], succeeded: boolean): Estimates[] {
  const result: Estimates[] = [];
  operators.forEach((op, i) => {
    const m = op.metrics;
    if (succeeded || ranOut(op)) {
      result[i] = { read: m.rowsIn, out: m.rowsOut };
      return;
    }
    const inputs = op.inputs.map((input) => {
      const j = operators.indexOf(input);
      return ranOut(input) ? input.metrics.rowsOut : result[j]?.out;
    });
    let read = op.inputs.length === 0 ? m.rowsEstimated
      : inputs.every((x) => x !== undefined) ? inputs.reduce((a, b) => a! + b!, 0) : undefined;
    if (read !== undefined) read = Math.max(read, m.rowsIn);
    const keepsRows = op instanceof TaskOperator ? op.preservesRows : op instanceof UnionOperator;
    const out = keepsRows && read !== undefined ? Math.max(read, m.rowsOut) : undefined;
    result[i] = { read, out };
  });
  return result;
}

/** `finished` is set on the last snapshot of a job that succeeded. */
export function progressSnapshot(operators: PhysicalOperator[], state: ExecutorState, finished: boolean): ProgressSnapshot {
  const now = Date.now();
  const estimated = estimates(operators, finished);
  const progress = operators.map((op, i): OperatorProgress => {
    const m = op.metrics;
    const elapsedMs = (m.finishedAt ?? now) - (m.startedAt ?? now);
    return {
      name: op.name, inputs: op.inputs.map((input) => operators.indexOf(input)), runsInDriver: !(op instanceof TaskOperator),
      writes: op instanceof TaskOperator && op.sink !== undefined,
      rowsRead: m.rowsIn, rowsReadEstimated: estimated[i].read, rowsDone: m.rowsOut, rowsEstimated: estimated[i].out,
      bytesWritten: m.bytesWritten,
      inMemoryBytesEstimated: m.inMemoryBytesEstimated, blocksDone: m.blocksOut, elapsedMs,
      tasksDone: m.tasksFinished, tasksEstimated: m.tasksEstimated, tasksRunning: m.tasksRunning, tasksRetried: m.tasksRetried,
      queuedBlocks: op.inputQueue.length + op.outputQueue.length, queuedBytes: op.queuedBytes(),
      backpressure: m.backpressure, rowsPerSecond: elapsedMs > 0 ? m.rowsOut / (elapsedMs / 1000) : 0,
      actors: op instanceof ActorPoolOperator ? state.actors(op) : undefined,
      bytesSpilled: m.bytesSpilled, bytesMoved: m.bytesMoved,
    };
  });
  return {
    elapsedMs: now - state.startedAt, operators: progress, memoryUsedBytes: state.memoryUsedBytes, peakMemoryBytes: state.peakMemoryBytes,
    memoryBudgetBytes: state.memoryBudgetBytes, cpuSlots: state.cpuSlots, workersBusy: state.workersBusy, nodes: state.nodes, nodeList: state.nodeList, finished,
    erroredRows: state.erroredRows, checkpoint: state.checkpoint && { ...state.checkpoint },
  };
}
