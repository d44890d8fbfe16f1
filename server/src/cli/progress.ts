import type { ProgressSnapshot } from "../contract";
import { formatBytes } from "../exec";

const BAR_WIDTH = 20;

function bar(fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
  return `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}`;
}

const n = (x: number) => Math.round(x).toLocaleString("en-US");

/** One line per operator plus one for the job: rows done / estimated, rows/s, tasks, actors, queues, backpressure. */
export function renderProgress(snapshot: ProgressSnapshot, width?: number): string[] {
  const lines = snapshot.operators.map((op) => {
    const estimate = op.rowsEstimated;
    const fraction = snapshot.finished ? 1 : estimate ? op.rowsDone / estimate : op.tasksEstimated ? op.tasksDone / op.tasksEstimated : 0;
    const rows = estimate !== undefined ? `${n(op.rowsDone)}/${n(estimate)} rows` : `${n(op.rowsDone)} rows`;
    const tasks = op.tasksEstimated !== undefined ? `tasks ${op.tasksDone}/${op.tasksEstimated}` : `tasks ${op.tasksDone}`;
    const queued = op.queuedBlocks > 0 ? `  queued ${op.queuedBlocks} blocks (${formatBytes(op.queuedBytes)})` : "";
    const pressure = op.backpressure && !snapshot.finished ? `  [${op.backpressure}]` : "";
    const actors = op.actors ? `  actors ${op.actors.running} running, ${op.actors.pending} pending, ${op.actors.restarting} restarting` : "";
    const line = `${op.name}  ${bar(fraction)} ${rows}  ${n(op.rowsPerSecond)} rows/s  ${tasks} (${op.tasksRunning} running)${actors}${queued}${pressure}`;
    return width && line.length > width ? `${line.slice(0, width - 1)}…` : line;
  });
  lines.push(`${snapshot.finished ? "done" : "running"} ${(snapshot.elapsedMs / 1000).toFixed(1)}s  ` +
    `workers ${snapshot.workersBusy}/${snapshot.cpuSlots} busy  ` +
    (snapshot.nodes ? `nodes ${snapshot.nodes.alive} alive, ${snapshot.nodes.draining} draining, ${snapshot.nodes.pending} pending  ` : "") + `memory ${formatBytes(snapshot.memoryUsedBytes)}/${formatBytes(snapshot.memoryBudgetBytes)}`);
  const checkpoint = checkpointLine(snapshot);
  if (checkpoint) lines.push(width && checkpoint.length > width ? `${checkpoint.slice(0, width - 1)}…` : checkpoint);
  return lines;
}

/**
 * A checkpointed job in one line: what earlier attempts left (IDs committed, input files skipped, rows
 * dropped as already done), what this run committed, errored rows, and at the end whether the checkpoint
 * was deleted or kept. Undefined for a job without a checkpoint.
 */
export function checkpointLine(snapshot: ProgressSnapshot): string | undefined {
  const c = snapshot.checkpoint;
  if (!c) return undefined;
  const before = c.idsAtStart > 0 || c.filesAtStart > 0
    ? `resumed with ${n(c.idsAtStart)} IDs committed (${n(c.filesAtStart)} files): ${n(c.inputFilesSkipped)} input files skipped, ${n(c.rowsAlreadyDone)} rows already done`
    : "nothing committed before this run";
  const errored = snapshot.erroredRows > 0 ? `, ${n(snapshot.erroredRows)} errored rows` : "";
  const parts = [`checkpoint: ${before}; this run committed ${n(c.filesCommitted)} files, ${n(c.rowsCommitted)} rows${errored}`];
  if (snapshot.finished && c.deleted !== undefined) {
    parts.push(c.deleted ? "checkpoint deleted"
      : `checkpoint kept at ${c.path}${snapshot.erroredRows > 0 ? ` (${n(snapshot.erroredRows)} errored rows: fix the UDF and run again to process exactly them)` : ""}`);
  }
  return parts.join("; ");
}
