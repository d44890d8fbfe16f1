// rdpipe benchmarks: engine overhead vs a hand-written loop, CPU scaling, memory under a budget,
// accelerated vs fallback metadata fetching on S3, the execution server under load, and job-level checkpointing.
// Every ratio is against a baseline measured in the same run. Run all: `npm run bench`; one:
// `node --expose-gc -r tsx/cjs bench/index.ts overhead|scaling|memory|s3|s3-preview|server|checkpoint|pushdown|async-actors|actor-scale-up|nodes-first-output|node-loss|shuffle`.
// Exit code: 0 when every run produced the right results (targets missed print MISS); 1 otherwise.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import type { Table } from "apache-arrow";
import * as rd from "../server/src/api";
import { loadPipeline } from "../server/src/loader";
import { burn } from "./burn";
import { benchOverhead, childrenCpu } from "./overhead";
import { runServerBench } from "./server";
import { benchS3 } from "./s3";
import { benchS3Preview } from "./s3-preview";
import { benchCheckpoint } from "./checkpoint";
import { benchPushdown } from "./pushdown";
import { benchShuffle } from "./shuffle";
import { benchActorScaleUp, benchAsyncActors, benchFirstOutputOnNodes, benchNodeLoss } from "./actors";

const BENCH_DIR = __dirname;
const ROOT = path.dirname(BENCH_DIR);
const DATA = path.join(BENCH_DIR, "data");
const MiB = 2 ** 20;

// ------------------------------------------------------------------------------------------ helpers

class WrongResult extends Error {}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtS = (s: number) => `${s.toFixed(2)}s`;
const fmtMiB = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

function log(line = ""): void { process.stdout.write(line + "\n"); }

const summaryLines: string[] = [];
function summary(line: string): void { summaryLines.push(line); log(line); }

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  gc();
  const started = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - started) / 1000, value };
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new WrongResult(message);
}


function setLimits(limits: rd.ResourceLimits): void {
  rd.DataContext.getCurrent().resourceLimits = { ...limits };
}

// ------------------------------------------------------------------------------------------ 2. scaling

async function benchScaling(): Promise<void> {
  log("== 2. scaling: CPU-bound row UDF over rd.range(N), cpu=1 vs cpu=2 ==");
  // Calibrate N so one worker takes ~12 s.
  for (let i = 0; i < 2000; i++) burn(i);
  const probeRows = 4000;
  const t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < probeRows; i++) sink += burn(i);
  const perRowMs = (performance.now() - t0) / probeRows;
  const rows = Number(process.env.RDPIPE_BENCH_SCALING_ROWS ?? Math.max(10_000, Math.round(12_000 / perRowMs / 10_000) * 10_000));
  log(`  calibration: ${(perRowMs * 1000).toFixed(1)} us/row in the driver (checksum ${sink.toFixed(3)}) -> N = ${fmtInt(rows)}`);

  const pipeline = path.join(BENCH_DIR, "scaling.rdpipe.ts");
  const runOnce = async (n: number, cpu: number): Promise<{ seconds: number; sum: number }> => {
    process.env.RDPIPE_BENCH_SCALING_ROWS = String(n);
    setLimits({ cpu });
    const ds = await loadPipeline(pipeline);
    const { seconds, value } = await timed(async () => {
      let seen = 0;
      let sum = 0;
      for await (const batch of ds.iterBatches({ batchFormat: "arrow" })) {
        const table = batch as Table;
        const ids = table.getChild("id")!.toArray() as ArrayLike<number | bigint>;
        const vs = table.getChild("v")!.toArray() as Float64Array;
        for (let i = 0; i < table.numRows; i++) {
          sum += vs[i];
          const id = Number(ids[i]);
          if (id < 50) check(vs[i] === burn(id), `row ${id}: v = ${vs[i]}, expected ${burn(id)}`);
        }
        seen += table.numRows;
      }
      check(seen === n, `scaling pipeline produced ${seen} rows, expected ${n}`);
      return sum;
    });
    return { seconds, sum: value };
  };

  log("  warm-up: N/20 rows at cpu=2");
  await runOnce(Math.max(1000, Math.round(rows / 20)), 2);
  const reps = Number(process.env.RDPIPE_BENCH_REPS ?? 2);
  const t1: number[] = [];
  const t2: number[] = [];
  let firstSum: number | undefined;
  for (let r = 0; r < reps; r++) {
    for (const cpu of [1, 2]) {
      const { seconds, sum } = await runOnce(rows, cpu);
      firstSum ??= sum;
      check(sum === firstSum, `sum(v) differs between runs: ${sum} vs ${firstSum}`);
      (cpu === 1 ? t1 : t2).push(seconds);
    }
    log(`  rep ${r + 1}: cpu=1 ${fmtS(t1[r])}, cpu=2 ${fmtS(t2[r])}`);
  }
  const speedup = Math.min(...t1) / Math.min(...t2);
  log(`  (best of ${reps}; median speed-up ${(median(t1) / median(t2)).toFixed(2)}x)`);
  summary(`scaling: cpu=1 ${fmtInt(rows / Math.min(...t1))} rows/s, cpu=2 ${fmtInt(rows / Math.min(...t2))} rows/s, speed-up ${speedup.toFixed(2)}x (target >= 1.8x) ${verdict(speedup >= 1.8)}`);
}

// ------------------------------------------------------------------------------------------ 3. memory

interface MemoryResult {
  rows: number; seenRows: number; batches: number; bytes: number; stringBytes: number; maxBatchBytes: number;
  sumX: number; expectedSumX: number; seconds: number; budget: number; usPerRow: number;
  cpuSeconds: number; idleRss: number; idleHwm: number; sampledPeakRss: number; driverHeapAtPeak: number; vmHwm: number; enginePeakBlockBytes: number | null; stats: string;
}

function runMemoryChild(rows: number, budget: number, usPerRow: number): Promise<MemoryResult & { polledPeakRss: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "-r", "tsx/cjs", path.join(BENCH_DIR, "memory-run.ts"), String(rows), String(budget), String(usPerRow)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let polledPeak = 0;
    const poll = setInterval(() => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
        const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
        polledPeak = Math.max(polledPeak, rss);
      } catch { /* exited */ }
    }, 100);
    const killer = setTimeout(() => child.kill("SIGKILL"), 8 * 60 * 1000);
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      clearTimeout(killer);
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (code !== 0 || !line) {
        reject(new Error(`memory child exited with ${signal ?? code}\n${stderr.trim()}\n${stdout.trim()}`));
        return;
      }
      resolve({ ...(JSON.parse(line.slice(7)) as MemoryResult), polledPeakRss: polledPeak });
    });
  });
}

async function benchMemory(): Promise<void> {
  log("== 3. memory: rd.range(N) -> mapBatches(+160-char string, 2 float columns) -> iterBatches in the driver, 256 MiB budget ==");
  const rows = Number(process.env.RDPIPE_BENCH_MEMORY_ROWS ?? 12_000_000);
  const budget = 256 * MiB;
  const target = budget + 300 * MiB;
  // The slow consumer sleeps 2.5 us per row (at most 400k rows/s, about half of what 2 workers produce),
  // so only backpressure keeps blocks from piling up. The fast one (info) sleeps 0.5 us per row.
  const slowUs = Number(process.env.RDPIPE_BENCH_MEMORY_US_PER_ROW ?? 2.5);
  const configs = [
    { label: "slow consumer", usPerRow: slowUs, scored: true },
    ...(process.env.RDPIPE_BENCH_MEMORY_FAST === "0" ? [] : [{ label: "fast consumer, info", usPerRow: 0.5, scored: false }]),
  ];
  for (const { label, usPerRow, scored } of configs) {
    log(`  -- ${label}: consumer sleeps ${usPerRow} us per row (at most ${fmtInt(1e6 / usPerRow)} rows/s)`);
    const r = await runMemoryChild(rows, budget, usPerRow);
    check(r.seenRows === rows, `memory pipeline delivered ${r.seenRows} rows, expected ${rows}`);
    check(r.sumX === r.expectedSumX, `memory pipeline sum(x) ${r.sumX} != ${r.expectedSumX}`);
    check(r.stringBytes === rows * 160, `memory pipeline string bytes ${r.stringBytes} != ${rows * 160}`);
    check(r.bytes >= 2e9, `the memory pipeline produced only ${r.bytes} bytes (< 2 GB)`);
    const peak = Math.max(r.vmHwm, r.sampledPeakRss, r.polledPeakRss);
    log(`  produced ${fmtInt(r.seenRows)} rows, ${(r.bytes / 1e9).toFixed(2)} GB (${(r.bytes / 2 ** 30).toFixed(2)} GiB) of Arrow buffers in ${r.batches} batches (largest ${fmtMiB(r.maxBatchBytes)}), in ${fmtS(r.seconds)} (${r.cpuSeconds.toFixed(1)} CPU-s)`);
    log(`  child RSS: idle after loading the engine ${fmtMiB(r.idleRss)}; peak VmHWM ${fmtMiB(r.vmHwm)}, sampled in-process ${fmtMiB(r.sampledPeakRss)}, polled by parent ${fmtMiB(r.polledPeakRss)}`);
    log(`  at the sampled RSS peak the driver isolate held ${fmtMiB(r.driverHeapAtPeak)} of JS heap (the rest: Arrow buffers, worker threads, wasm, allocator slack)`);
    if (r.enginePeakBlockBytes !== null) log(`  engine's own accounting: peak block memory ${fmtMiB(r.enginePeakBlockBytes)} of the ${fmtMiB(budget)} budget`);
    for (const line of r.stats.split("\n")) log(`    ${line}`);
    const line = `${(r.bytes / 1e9).toFixed(2)} GB through a ${fmtMiB(budget)} budget: peak RSS ${fmtMiB(peak)}, target <= ${fmtMiB(target)} (budget + 300 MiB), ratio ${(peak / target).toFixed(2)}`;
    summary(scored
      ? `memory (${label}): ${line} ${verdict(peak <= target)}; idle baseline ${fmtMiB(r.idleRss)}`
      : `memory (${label}): ${line}`);
  }
}

// ------------------------------------------------------------------------------------------ 4. server

async function benchServer(): Promise<void> {
  log("== 4. execution server: 20 small jobs submitted at once (one runner process each) + 50 SSE subscribers ==");
  // All 20 running at once on this machine's cores, then the server's default cap (cores, at least 2).
  for (const maxRunningJobs of [20, Math.max(2, os.availableParallelism())]) {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "rdpipe-bench-server-"));
    try {
      const r = await runServerBench(stateDir, maxRunningJobs);
      check(r.succeeded === r.jobs, `${r.succeeded} of ${r.jobs} jobs succeeded`);
      const ms = (x: number) => `${x.toFixed(1)} ms`;
      log(`  --max-jobs ${maxRunningJobs}: ${r.jobs} jobs finished in ${fmtS(r.seconds)} (server and its runners ${r.cpuSeconds.toFixed(1)} CPU-s); GET /jobs idle: p50 ${ms(r.idle.p50)}, p99 ${ms(r.idle.p99)} (${r.idle.n} requests)`);
      summary(`server (--max-jobs ${maxRunningJobs}): GET /jobs under load p50 ${ms(r.loaded.p50)}, p99 ${ms(r.loaded.p99)} (${r.loaded.n} requests; idle p99 ${ms(r.idle.p99)}); ` +
        `event lag p50 ${ms(r.lag.p50)}, p99 ${ms(r.lag.p99)}, max ${ms(r.lag.max)} (${fmtInt(r.lag.n)} events to ${r.subscribers} subscribers); ` +
        `${r.jobs} jobs in ${fmtS(r.seconds)}; target p99 <= 100 ms ${verdict(r.loaded.p99 <= 100)}`);
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  }
}

// ------------------------------------------------------------------------------------------ main

/** Busy and total CPU time of the whole machine so far, in seconds (from /proc/stat). */
function machineCpu(): { busy: number; total: number } {
  try {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const hz = 100;
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0) / hz;
    const idle = (fields[3] + fields[4]) / hz;
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/**
 * CPU seconds of this bench: every thread of this process (DuckDB's included) and every child process it
 * has waited for (the engine's runs, the hand loops, servers, with their own children).
 */
const benchCpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 + childrenCpu(); };

/**
 * Other processes competing for the cores make every ratio meaningless, so measure them: CPU time the
 * machine spent busy minus what this bench (all its threads and children) used.
 */
function startCpuWatch(): () => string {
  const m0 = machineCpu();
  const own0 = benchCpuSeconds();
  return () => {
    const m1 = machineCpu();
    const wall = (m1.total - m0.total) / os.availableParallelism();
    const others = Math.max(0, (m1.busy - m0.busy) - (benchCpuSeconds() - own0));
    if (!(wall > 0)) return "";
    const share = others / wall; // in CPUs
    return `  other processes used ${share.toFixed(2)} CPUs on average during this bench (${others.toFixed(1)} CPU-s in ${wall.toFixed(1)} s)` +
      (share > 0.2 ? ": WARNING, numbers are disturbed" : "");
  };
}

const BENCHES: Record<string, () => Promise<void>> = {
  overhead: () => benchOverhead(DATA, { log, summary, check }), scaling: benchScaling, memory: benchMemory, s3: () => benchS3(DATA, { log, summary, check }),
  "s3-preview": () => benchS3Preview(DATA, { log, summary, check }), server: benchServer,
  checkpoint: () => benchCheckpoint(DATA, { log, summary, check }), pushdown: () => benchPushdown(DATA, { log, summary, check }),
  "async-actors": () => benchAsyncActors({ log, summary, check }), "actor-scale-up": () => benchActorScaleUp({ log, summary, check }),
  "nodes-first-output": () => benchFirstOutputOnNodes({ log, summary, check }), "node-loss": () => benchNodeLoss({ log, summary, check }),
  shuffle: () => benchShuffle(DATA, { log, summary, check }),
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !(a in BENCHES));
  if (unknown.length) {
    log(`unknown bench ${unknown.join(", ")}; choose from ${Object.keys(BENCHES).join(", ")}`);
    return 2;
  }
  const selected = args.length ? args : Object.keys(BENCHES);
  fs.mkdirSync(DATA, { recursive: true });
  if (!(globalThis as { gc?: unknown }).gc) log("(note: run with --expose-gc for steadier numbers)");
  log(`rdpipe bench: node ${process.version}, ${os.availableParallelism()} CPUs, ${selected.join(", ")}`);
  const started = performance.now();
  let failed = false;
  for (const name of selected) {
    const cpuWatch = startCpuWatch();
    try {
      await BENCHES[name]();
      const line = cpuWatch();
      if (line) { log(line); summaryLines.push(`${name}: ${line.trim()}`); }
    } catch (e) {
      failed = true;
      const kind = e instanceof WrongResult ? "WRONG RESULT" : "CRASH";
      log(`${name}: ${kind}: ${(e as Error)?.stack ?? String(e)}`);
      summary(`${name}: ${kind}: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      setLimits({});
    }
    log();
  }
  log(`== summary (${fmtS((performance.now() - started) / 1000)} total) ==`);
  for (const line of summaryLines) log(line);
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
