// The job's progress as the panel shows it: each operator's card (rows read of estimated rows read, rows
// out, and while it runs its tasks, queues, rates and backpressure), the resources, and once the job has
// finished a one-line outcome instead of live figures.
import { FINISHED_STATES, type JobSummary, type OperatorProgress, type ProgressSnapshot } from "../../server/src/contract";
import { bytes, count, el, seconds } from "./dom";
import { readableOperatorName } from "./title";

export const isFinished = (job: JobSummary) => FINISHED_STATES.includes(job.state);

/** The share of its input an operator has read: complete once the job succeeded, frozen where it stopped otherwise. */
function readFraction(op: OperatorProgress, job: JobSummary): number | undefined {
  if (job.state === "succeeded") return 1;
  if (op.rowsReadEstimated) return Math.min(1, op.rowsRead / op.rowsReadEstimated);
  if (op.tasksEstimated) return Math.min(1, op.tasksDone / op.tasksEstimated);
  return undefined;
}

/** "200,440 rows read · 40,000 written" once done; "1,200 / 4,000 read · 300 out" while running. */
function rowFigures(op: OperatorProgress, live: boolean): string {
  const read = live && op.rowsReadEstimated !== undefined ? `${count(op.rowsRead)} / ${count(op.rowsReadEstimated)} rows read` : `${count(op.rowsRead)} rows read`;
  return `${read} · ${count(op.rowsDone)} ${op.writes ? "written" : "out"}`;
}

/** Tasks a finished job left unfinished: stopped once a limit or preview had its rows, or by the job's end. */
function stopped(op: OperatorProgress, job: JobSummary): string {
  if (op.tasksRunning === 0) return "";
  return `, ${count(op.tasksRunning)} stopped${job.state === "succeeded" ? " (no more rows needed)" : ""}`;
}

export function operatorCard(op: OperatorProgress, index: number, job: JobSummary): HTMLElement {
  const live = !isFinished(job);
  const fraction = readFraction(op, job);
  const fill = el("div", { class: "bar-fill" });
  // A CSSOM property, which the CSP allows (a style attribute it would block).
  fill.style.width = `${((fraction ?? 0) * 100).toFixed(1)}%`;
  const facts: [string, string][] = [["Rows", rowFigures(op, live)]];
  if (!op.runsInDriver) {
    const retried = op.tasksRetried ? `, ${count(op.tasksRetried)} retried` : "";
    const done = live && op.tasksEstimated !== undefined ? `${count(op.tasksDone)} / ${count(op.tasksEstimated)}` : count(op.tasksDone);
    facts.push(["Tasks", `${done} done${live ? `, ${count(op.tasksRunning)} running` : stopped(op, job)}${retried}`]);
    if (op.bytesWritten !== undefined) facts.push(["Bytes written", bytes(op.bytesWritten)]);
    if (op.bytesSpilled) facts.push(["Spilled", bytes(op.bytesSpilled)]);
    if (op.bytesMoved) facts.push(["Moved between nodes", bytes(op.bytesMoved)]);
    if (live) {
      facts.push(["Queued", `${count(op.queuedBlocks)} blocks, ${bytes(op.queuedBytes)}`], ["Rows/s", count(Math.round(op.rowsPerSecond))]);
      if (op.actors) facts.push(["Actors", `${op.actors.running} running, ${op.actors.pending} pending, ${op.actors.restarting} restarting`]);
      if (op.backpressure) facts.push(["Backpressure", op.backpressure]);
    }
  }
  facts.push(["Time", seconds(op.elapsedMs)]);
  const percent = fraction === undefined ? "" : String(Math.round(fraction * 100));
  return el("div", {
    class: `operator${op.runsInDriver ? " in-driver" : ""}`, "data-operator": op.name, "data-rows-done": String(op.rowsDone), "data-rows-read": String(op.rowsRead),
    "data-percent": percent, "data-index": String(index), "data-inputs": op.inputs.join(","),
  },
  el("div", { class: "operator-name", title: op.name }, readableOperatorName(op.name), op.runsInDriver ? el("span", { class: "operator-where", title: "Runs in the driver, without tasks" }, "driver") : false),
  el("div", { class: `bar${live || job.state === "succeeded" ? "" : " bar-stopped"}`, role: "progressbar", "aria-valuenow": percent }, fill),
  el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-fact": name }, value)])));
}

/** Resources: live (memory in use, workers busy) while the job runs; its time and peak memory once finished (nodes: ./nodes-view). */
export function resources(progress: ProgressSnapshot | undefined, job: JobSummary): HTMLElement | false {
  if (!progress) return false;
  const live = !isFinished(job);
  const items: [string, string][] = [["Elapsed", seconds(job.result?.durationMs ?? progress.elapsedMs)]];
  if (live) items.push(["Memory", `${bytes(progress.memoryUsedBytes)} / ${bytes(progress.memoryBudgetBytes)}`]);
  else items.push(["Peak memory", `${bytes(job.result?.peakMemoryBytes ?? progress.peakMemoryBytes)} / ${bytes(progress.memoryBudgetBytes)}`]);
  items.push(["CPU slots", count(progress.cpuSlots)]);
  if (live) items.push(["Workers busy", count(progress.workersBusy)]);
  if (progress.erroredRows > 0) items.push(["Errored rows", count(progress.erroredRows)]);
  return el("section", { class: "resources" },
    el("dl", {}, ...items.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-resource": name }, value)])));
}

/** A path's last two parts ("orders/part-3.json"), the whole path on hover. */
function shortPath(file: string): HTMLElement {
  const parts = file.split("/").filter(Boolean);
  return el("span", { class: "outcome-file", title: file }, parts.length > 2 ? `…/${parts.slice(-2).join("/")}` : file);
}

/** A finished job in one line: "Succeeded · 200,000 rows written · 2 rows skipped", "Cancelled · outputs removed", "Failed on row 5 of orders/…". */
export function outcome(job: JobSummary, progress: ProgressSnapshot | undefined): HTMLElement | false {
  if (!isFinished(job)) return false;
  const line = (kind: string, ...parts: (string | HTMLElement)[]) =>
    el("p", { class: `outcome outcome-${kind}`, role: "status", "data-outcome": job.state }, ...parts);
  const writes = progress?.operators.some((op) => op.writes) ?? false;
  switch (job.state) {
    case "succeeded": {
      const skipped = progress?.erroredRows ?? (job.checkpoint.available ? job.checkpoint.counters?.erroredRows : undefined) ?? 0;
      const rows = job.result ? ` · ${count(job.result.rowsOut)} rows ${job.result.written ? "written" : "out"}` : "";
      return line(skipped > 0 ? "warning" : "succeeded", `Succeeded${rows}`, skipped > 0 ? ` · ${count(skipped)} row${skipped === 1 ? "" : "s"} skipped` : "");
    }
    case "cancelled": {
      const kept = job.checkpoint.available && !job.checkpoint.deleted;
      return line("cancelled", `Cancelled${!writes ? "" : kept ? " · uncommitted outputs removed, committed rows kept for a resume" : " · outputs removed"}`);
    }
    case "interrupted": return line("failed", "Interrupted · the server stopped before the job finished");
    default: {
      const error = job.error;
      if (error?.file && error.row !== undefined) return line("failed", `Failed on row ${error.row} of `, shortPath(error.file));
      if (error?.file) return line("failed", "Failed reading ", shortPath(error.file));
      return line("failed", `Failed${error?.operator ? ` in ${error.operator}` : ""}`);
    }
  }
}
