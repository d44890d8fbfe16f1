import type { OperatorProgress, ProgressSnapshot } from "../contract";
import { formatBytes, formatCount as n } from "../exec";

const BAR_WIDTH = 20;

function bar(fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
  return `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}`;
}


/** The fraction of its input an operator has read (of the estimate, or of its tasks); 1 once the job succeeded. */
function readFraction(op: OperatorProgress, finished: boolean): number {
  if (finished) return 1;
  if (op.rowsReadEstimated) return op.rowsRead / op.rowsReadEstimated;
  return op.tasksEstimated ? op.tasksDone / op.tasksEstimated : 0;
}

/** "200,440/250,000 rows read, 40,000 written (1.2 MiB)": rows in (of the estimate while running) and rows out (a write's with its bytes), as separate figures. */
function rowFigures(op: OperatorProgress, live: boolean): string {
  const read = live && op.rowsReadEstimated !== undefined ? `${n(op.rowsRead)}/${n(op.rowsReadEstimated)} rows read` : `${n(op.rowsRead)} rows read`;
  const written = op.bytesWritten !== undefined ? ` (${formatBytes(op.bytesWritten)})` : "";
  return `${read}, ${n(op.rowsDone)} ${op.writes ? `written${written}` : "out"}`;
}

/**
 * One line per operator plus one for the job: rows read of estimated and rows out, then for stages that
 * run tasks rows/s, tasks, actors, queues and backpressure (a step the driver runs shows rows and time).
 * Once the job has finished, only counts remain (no busy workers, queues, backpressure or estimates).
 */
export function renderProgress(snapshot: ProgressSnapshot, width?: number): string[] {
  const live = !snapshot.finished;
  const lines = snapshot.operators.map((op) => {
    const head = `${op.name}  ${bar(readFraction(op, snapshot.finished))} ${rowFigures(op, live)}`;
    let line: string;
    if (op.runsInDriver) line = `${head}  ${(op.elapsedMs / 1000).toFixed(1)}s`;
    else {
      const tasks = live && op.tasksEstimated !== undefined ? `tasks ${op.tasksDone}/${op.tasksEstimated}` : `tasks ${op.tasksDone}`;
      const queued = op.queuedBlocks > 0 && live ? `  queued ${op.queuedBlocks} blocks (${formatBytes(op.queuedBytes)})` : "";
      const pressure = op.backpressure && live ? `  [${op.backpressure}]` : "";
      // The pool's and the cluster's last counts stay on the final lines: they say where the job ran.
      const actors = op.actors ? `  actors ${op.actors.running} running, ${op.actors.pending} pending, ${op.actors.restarting} restarting` : "";
      const spilled = (op.bytesSpilled ? `  spilled ${formatBytes(op.bytesSpilled)}` : "") + (op.bytesMoved ? `  moved ${formatBytes(op.bytesMoved)} between nodes` : "");
      line = `${head}  ${n(op.rowsPerSecond)} rows/s  ${tasks}${live ? ` (${op.tasksRunning} running)` : ""}${actors}${spilled}${queued}${pressure}`;
    }
    return clip(line, width);
  });
  lines.push(`${snapshot.finished ? "done" : "running"} ${(snapshot.elapsedMs / 1000).toFixed(1)}s  ` +
    (live ? `workers ${snapshot.workersBusy}/${snapshot.cpuSlots} busy  ` : `${snapshot.cpuSlots} workers  `) +
    (snapshot.nodes ? `nodes ${snapshot.nodes.alive} alive, ${snapshot.nodes.draining} draining, ${snapshot.nodes.pending} pending${snapshot.nodes.lost ? `, ${snapshot.nodes.lost} lost` : ""}${snapshot.nodes.released ? `, ${snapshot.nodes.released} released` : ""}  ` : "") +
    (live ? `memory ${formatBytes(snapshot.memoryUsedBytes)}/${formatBytes(snapshot.memoryBudgetBytes)}` : `peak memory ${formatBytes(snapshot.peakMemoryBytes)}/${formatBytes(snapshot.memoryBudgetBytes)}`));
  if (snapshot.nodeList?.length) lines.push(clip(nodesLine(snapshot.nodeList, live), width));
  const checkpoint = checkpointLine(snapshot);
  if (checkpoint) lines.push(clip(checkpoint, width));
  return lines;
}

const clip = (line: string, width?: number) => (width && line.length > width ? `${line.slice(0, width - 1)}…` : line);

/** Each node of the job: "node 1 (pid 4242) alive, 2 CPU slots, 1 task running  node 2 (pid 4243) lost, 2 CPU slots". */
function nodesLine(nodes: NonNullable<ProgressSnapshot["nodeList"]>, live: boolean): string {
  return nodes.map((node) => `node ${node.id} (pid ${node.pid}) ${node.state}, ${node.cpus} CPU slot${node.cpus === 1 ? "" : "s"}` +
    (live && node.state !== "lost" ? `, ${node.tasksRunning} task${node.tasksRunning === 1 ? "" : "s"} running` : "")).join("  ");
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
