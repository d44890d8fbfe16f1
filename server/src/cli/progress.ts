import { formatBytes, type ProgressSnapshot } from "../exec";

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
  return lines;
}
