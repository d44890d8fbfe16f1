// The stats text an execution ends with, and the byte sizes and counts it (and the CLI) print.
import type { PhysicalOperator } from "./physical";
import type { ProgressSnapshot } from "./progress";

/** peakReserved: the most the memory budget counted at once (queues and a reservation per running task). */
export function statsText(progress: ProgressSnapshot, operators: PhysicalOperator[], durationMs: number, peakReserved: number): string {
  const lines = progress.operators.map((p, i) => {
    const m = operators[i].metrics;
    const tasks = m.tasksLaunched > 0 ? `${m.tasksLaunched} tasks, ` : "";
    const udf = m.udfMs > 0 ? `, UDF time ${(m.udfMs / 1000).toFixed(2)}s` : "";
    // A write stage's output is its files: their bytes, not those of blocks (it puts none out).
    const output = p.writes ? `${formatCount(p.rowsDone)} rows written, ${formatBytes(m.bytesWritten ?? 0)} written` : `${formatCount(p.rowsDone)} rows out, ${formatBytes(m.bytesOut)}`;
    return `Operator ${i} ${p.name}: ${tasks}${p.blocksDone} blocks, ${output}, ${formatCount(p.rowsPerSecond)} rows/s${udf}`;
  });
  lines.push(`Dataset: ${(durationMs / 1000).toFixed(2)}s total, peak block memory ${formatBytes(progress.peakMemoryBytes)} held ` +
    `(${formatBytes(peakReserved)} reserved) of a ${formatBytes(progress.memoryBudgetBytes)} budget, ${progress.cpuSlots} CPU slots`);
  return lines.join("\n");
}

/**
 * A count rounded to a whole number with thousands separators, as toLocaleString("en-US") writes it
 * (whose first call loads ICU's locale data: ~10 ms at the end of every run).
 */
export function formatCount(count: number): string {
  if (!Number.isFinite(count)) return Math.round(count).toLocaleString("en-US"); // ∞, -∞, NaN: rare, ICU's text
  const whole = Math.round(count);
  return `${whole < 0 ? "-" : ""}${String(Math.abs(whole)).replace(/\B(?=(\d{3})+$)/g, ",")}`;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
