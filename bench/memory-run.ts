// The memory bench's child process: a pipeline producing >= 2 GB of blocks under a small memory budget,
// consumed slowly by iterBatches in this (driver) process. Prints one line `RESULT {json}`.
// Usage: node -r tsx/cjs bench/memory-run.ts <rows> <budgetBytes> <consumerMicrosecondsPerRow>
// Diagnostics (env): RDPIPE_BENCH_MEMORY_CPU (CPU slots), RDPIPE_BENCH_MEMORY_BATCH (mapBatches batchSize),
// RDPIPE_BENCH_MEMORY_TASKS (range overrideNumBlocks).
import fs from "node:fs";
import type { Table } from "apache-arrow";
import * as rd from "../server/src/api";

const rows = Number(process.argv[2] ?? 12_000_000);
const budget = Number(process.argv[3] ?? 256 * 2 ** 20);
const usPerRow = Number(process.argv[4] ?? 2.5);

function procStatus(field: "VmHWM" | "VmRSS"): number {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field + ":"));
  return line ? Number(line.split(/\s+/)[1]) * 1024 : NaN;
}

/** Bytes of Arrow buffers (values, offsets, validity) in a table: what the pipeline produced. */
function tableBytes(table: Table): number {
  let total = 0;
  const visit = (data: { values?: ArrayBufferView; valueOffsets?: ArrayBufferView; nullBitmap?: ArrayBufferView; children: unknown[] }) => {
    total += (data.values?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.nullBitmap?.byteLength ?? 0);
    for (const child of data.children) visit(child as typeof data);
  };
  for (const batch of table.batches) for (const child of batch.data.children) visit(child);
  return total;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(300);
  const idleRss = process.memoryUsage().rss;
  const idleHwm = procStatus("VmHWM");

  let sampledPeak = idleRss;
  // What the driver's own isolate held when RSS peaked (the rest is worker threads, wasm and the allocator).
  let atPeak = process.memoryUsage();
  const sample = () => {
    const usage = process.memoryUsage();
    if (usage.rss > sampledPeak) { sampledPeak = usage.rss; atPeak = usage; }
  };
  const sampler = setInterval(sample, 100);

  const batchSize = process.env.RDPIPE_BENCH_MEMORY_BATCH ? Number(process.env.RDPIPE_BENCH_MEMORY_BATCH) : undefined;
  const cpu = process.env.RDPIPE_BENCH_MEMORY_CPU ? Number(process.env.RDPIPE_BENCH_MEMORY_CPU) : undefined;
  rd.DataContext.getCurrent().resourceLimits = { memoryBytes: budget, ...(cpu ? { cpu } : {}) };
  // ~160-char string + two float64 columns per row; self-contained (shipped to workers as source text).
  const tasks = process.env.RDPIPE_BENCH_MEMORY_TASKS ? Number(process.env.RDPIPE_BENCH_MEMORY_TASKS) : undefined;
  const ds = rd.range(rows, tasks ? { overrideNumBlocks: tasks } : {}).mapBatches((b: rd.Batch) => {
    const cols = b as rd.Columns;
    const id = cols.id as BigInt64Array;
    const n = id.length;
    const pad = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(5).slice(0, 150);
    const s = new Array<string>(n);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(id[i]);
      s[i] = pad + String(v).padStart(10, "0");
      x[i] = v * 0.5;
      y[i] = Math.sqrt(v);
    }
    return { id, s, x, y };
  }, batchSize ? { batchSize } : {});

  const started = performance.now();
  let seenRows = 0;
  let batches = 0;
  let bytes = 0;
  let sumX = 0;
  let stringBytes = 0;
  let maxBatchBytes = 0;
  for await (const batch of ds.iterBatches({ batchFormat: "arrow" })) {
    const table = batch as Table;
    const b = tableBytes(table);
    bytes += b;
    maxBatchBytes = Math.max(maxBatchBytes, b);
    batches++;
    seenRows += table.numRows;
    for (const x of table.getChild("x")!.data) {
      const values = x.values as Float64Array;
      for (let i = 0; i < x.length; i++) sumX += values[i];
    }
    for (const s of table.getChild("s")!.data) stringBytes += s.valueOffsets[s.length] - s.valueOffsets[0];
    // A deliberately slow consumer (slower than the producers): without backpressure, blocks pile up.
    if (usPerRow > 0) await sleep(table.numRows * usPerRow / 1000);
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  sample();
  const expectedSumX = 0.5 * (rows * (rows - 1)) / 2;
  const result = {
    rows, seenRows, batches, bytes, stringBytes, maxBatchBytes, sumX, expectedSumX, seconds, budget, usPerRow,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6, idleRss, idleHwm, sampledPeakRss: sampledPeak, driverHeapAtPeak: atPeak.heapUsed, vmHwm: procStatus("VmHWM"),
    enginePeakBlockBytes: ds.lastRun()?.peakMemoryBytes ?? null,
    stats: ds.lastRun()?.statsText ?? "",
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`memory-run failed: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(2);
});
