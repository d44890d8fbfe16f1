// The overhead bench: the engine against hand loops over the same libraries (parquet-wasm + apache-arrow),
// every run a whole process timed from spawn to exit, every ratio against baselines of the same run:
// batch job on 1 and 2 workers vs the one-thread loop, the row UDF vs a naive hand row loop, the trivial
// pipeline's wall, peak RSS and leftover processes, and DuckDB on 2 threads.
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { build } from "esbuild";
import { duckBatchJob, ensureInput, summarize, INPUT_FILES, ROWS_PER_FILE } from "./duck";
import type { S3BenchReport as Report } from "./s3";
import { engineMallocEnv } from "../server/src/cluster/allocator";
import { ENGINE_V8_FLAGS } from "../server/src/cluster/paths";

const BENCH_DIR = __dirname;
const ROOT = path.dirname(BENCH_DIR);
const CLI = path.join(ROOT, "bin", "rdpipe.js");
const MiB = 2 ** 20;
/** Files of the input the row job reads (2 × 500k rows). */
const ROW_JOB_FILES = 2;
const TRIVIAL_RUNS = 5;
/** The memory budget of the batch job's memory check (peak RSS ≤ budget + 300 MiB). */
const BUDGET_MIB = 256;

const fmtS = (s: number) => `${s.toFixed(2)}s`;
const fmtMiB = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");

/** CPU seconds of this process's waited-for children and their own (cutime + cstime), from /proc. */
export function childrenCpu(): number {
  const fields = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Processes still in process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ");
      if (Number(fields[2]) === pgid) out.push(Number(entry));
    } catch { /* gone */ }
  }
  return out;
}

export interface ProcessRun { seconds: number; cpuSeconds: number; peakRss: number; leftovers: number; stdout: string }

/**
 * `rdpipe …` as a user runs it: the program bin/rdpipe.js, whose shell lines start node (found on PATH:
 * this one) under the engine's malloc settings, as `npx rdpipe` and the package's bin link do.
 */
export function runRdpipe(args: string[], env: Record<string, string> = {}): Promise<ProcessRun> {
  return runProcess(args, { ...env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}` }, CLI);
}

/** Runs a command (node with args, unless another program is given) in its own process group: wall from spawn to exit, CPU, peak RSS (VmHWM polled), processes left behind. */
export function runProcess(args: string[], env: Record<string, string> = {}, program = process.execPath): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpu();
    const started = performance.now();
    const child = spawn(program, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let peakRss = 0;
    const poll = () => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
        peakRss = Math.max(peakRss, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
      } catch { /* exited */ }
    };
    const poller = setInterval(poll, 10);
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      clearInterval(poller);
      const left = groupMembers(child.pid!);
      if (left.length > 0) try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone meanwhile */ }
      if (code !== 0) {
        reject(new Error(`${args.map((a) => path.basename(a)).join(" ")} exited with ${signal ?? code}\n${stderr.trim()}\n${stdout.trim()}`));
        return;
      }
      // The exit is seen before the pipes close: wait for the rest of stdout.
      child.on("close", () => resolve({ seconds, cpuSeconds: childrenCpu() - cpu0, peakRss, leftovers: left.length, stdout }));
    });
  });
}

/** The hand loops as one CommonJS file, so they start like `rdpipe run` does (plain node, no TypeScript loader). */
async function bundleLoops(dataDir: string): Promise<string> {
  const outfile = path.join(dataDir, "loop-main.cjs");
  await build({ entryPoints: [path.join(BENCH_DIR, "loop-main.ts")], bundle: true, platform: "node", format: "cjs", outfile, external: ["apache-arrow", "parquet-wasm"], logLevel: "error" });
  return outfile;
}

export async function benchOverhead(dataDir: string, { log, summary, check }: Report): Promise<void> {
  log("== 1. engine overhead: whole-process runs against one-thread hand loops over parquet-wasm + apache-arrow ==");
  const inputDir = path.join(dataDir, "input");
  const input = await ensureInput(inputDir);
  log(input.generated ? `  generated ${INPUT_FILES} files x ${ROWS_PER_FILE} rows with DuckDB in ${fmtS(input.seconds)}` : `  input: ${inputDir} (cached)`);
  const expected = await summarize(inputDir, false);
  const totalRows = INPUT_FILES * ROWS_PER_FILE;
  check(expected.rows === totalRows, `input has ${expected.rows} rows`);
  const loopMain = await bundleLoops(dataDir);
  const out = (name: string) => path.join(dataDir, name);
  const rowFiles = input.files.slice(0, ROW_JOB_FILES);
  const rowRows = ROW_JOB_FILES * ROWS_PER_FILE;

  const verify = async (dir: string, who: string, rows: number) => {
    const s = await summarize(dir, true);
    check(s.rows === rows && s.distinctIds === rows, `${who} output has ${s.rows} rows (${s.distinctIds} distinct ids), expected ${rows}`);
    check(Math.abs(s.sumTotal - s.sumPriceQty) <= 1e-9 * Math.abs(s.sumPriceQty), `${who} output sum(total) ${s.sumTotal} != sum(price*qty) ${s.sumPriceQty}`);
  };
  const engine = (pipeline: string, workers: number, inputs: string, outDir: string, memory: string[] = []) =>
    runRdpipe(["run", path.join(BENCH_DIR, pipeline), "--workers", String(workers), ...memory], { RDPIPE_BENCH_IN: inputs, RDPIPE_BENCH_OUT: outDir });
  const runs = {
    loop: () => runProcess([loopMain, "batch", out("out-loop"), ...input.files]),
    // Info: the same loop under the malloc and V8 settings `rdpipe run` gives itself (server/src/cluster/allocator.ts, paths.ts).
    loopTuned: () => runProcess([...ENGINE_V8_FLAGS, loopMain, "batch", out("out-loop-tuned"), ...input.files], { GLIBC_TUNABLES: engineMallocEnv()?.GLIBC_TUNABLES ?? process.env.GLIBC_TUNABLES ?? "" }),
    engine1: () => engine("overhead-batch.rdpipe.ts", 1, inputDir, out("out-engine1")),
    engine2: () => engine("overhead-batch.rdpipe.ts", 2, inputDir, out("out-engine2")),
    engine2Budget: () => engine("overhead-batch.rdpipe.ts", 2, inputDir, out("out-engine2-budget"), ["--memory", `${BUDGET_MIB}MB`]),
    rowLoop: () => runProcess([loopMain, "rows", out("out-rowloop"), ...rowFiles]),
    rowEngine: () => engine("overhead-rows.rdpipe.ts", 1, rowFiles.join(","), out("out-rows")),
  };
  type Name = keyof typeof runs;
  const figures: Record<Name, ProcessRun[]> = { loop: [], loopTuned: [], engine1: [], engine2: [], engine2Budget: [], rowLoop: [], rowEngine: [] };
  const trivial: ProcessRun[] = [];
  const duck: number[] = [];

  log("  warm-up: the trivial pipeline once (the OS caches the engine's files, as for any second run)");
  await engine("trivial.rdpipe.ts", 2, "", out("out-trivial"));
  const reps = Number(process.env.RDPIPE_BENCH_REPS ?? 3);
  for (let r = 0; r < reps; r++) {
    for (const name of Object.keys(runs) as Name[]) figures[name].push(await runs[name]());
    for (let i = 0; i < TRIVIAL_RUNS; i++) trivial.push(await engine("trivial.rdpipe.ts", 2, "", out("out-trivial")));
    duck.push(await duckBatchJob(inputDir, path.join(dataDir, "out-duck.parquet"), 2));
    if (r === 0) {
      for (const [dir, rows] of [["out-loop", totalRows], ["out-engine1", totalRows], ["out-engine2", totalRows], ["out-engine2-budget", totalRows], ["out-rowloop", rowRows], ["out-rows", rowRows]] as const) await verify(out(dir), dir, rows);
      log("  verified every output with DuckDB: row counts, distinct ids, sum(total) = sum(price*qty)");
    }
    const f = (n: Name) => `${fmtS(figures[n][r].seconds)} (${figures[n][r].cpuSeconds.toFixed(1)} cpu-s, ${fmtMiB(figures[n][r].peakRss)})`;
    log(`  rep ${r + 1}: loop ${f("loop")}; loop under the engine's settings ${f("loopTuned")}; engine w1 ${f("engine1")}; w2 ${f("engine2")}; w2 --memory ${BUDGET_MIB}MB ${f("engine2Budget")}; row loop ${f("rowLoop")}; row engine ${f("rowEngine")}; duckdb ${fmtS(duck[r])}`);
  }
  const med = (n: Name) => median(figures[n].map((x) => x.seconds));
  // Ratios within each rep (the loop of the same rep is the baseline), then their median.
  const ratio = (n: Name, base: Name) => median(figures[n].map((x, i) => figures[base][i].seconds / x.seconds));
  const r1 = ratio("engine1", "loop");
  const r2 = ratio("engine2", "loop");
  const rr = ratio("rowEngine", "rowLoop");
  const duckRatio = median(figures.engine2.map((x, i) => x.seconds / duck[i]));
  const trivialWall = median(trivial.map((t) => t.seconds));
  const trivialRss = Math.max(...trivial.map((t) => t.peakRss));
  const leftovers = trivial.reduce((n, t) => n + t.leftovers, 0) + Object.values(figures).flat().reduce((n, t) => n + t.leftovers, 0);
  // CPU seconds are steadier than wall time when other processes share the cores.
  const cpuRatio = (n: Name, base: Name) => median(figures[n].map((x, i) => x.cpuSeconds / figures[base][i].cpuSeconds));
  const peak = (n: Name) => fmtMiB(Math.max(...figures[n].map((x) => x.peakRss)));
  log(`  medians of ${reps}: loop ${fmtS(med("loop"))}, engine w1 ${fmtS(med("engine1"))}, w2 ${fmtS(med("engine2"))}, row loop ${fmtS(med("rowLoop"))}, row engine ${fmtS(med("rowEngine"))}, duckdb ${fmtS(median(duck))}`);
  summary(`overhead batch, 1 worker: ${r1.toFixed(2)}x the one-thread loop (target >= 0.9) ${verdict(r1 >= 0.9)}; peak RSS ${peak("engine1")} (loop ${peak("loop")})`);
  summary(`overhead batch, 2 workers: ${r2.toFixed(2)}x the one-thread loop (target >= 1.6, aim 1.8) ${verdict(r2 >= 1.6)}; peak RSS ${peak("engine2")}`);
  const budgetPeak = Math.max(...figures.engine2Budget.map((x) => x.peakRss));
  const budgetTarget = (BUDGET_MIB + 300) * MiB;
  summary(`overhead batch, 2 workers, --memory ${BUDGET_MIB}MB: peak RSS ${fmtMiB(budgetPeak)} (target <= ${fmtMiB(budgetTarget)}) ${verdict(budgetPeak <= budgetTarget)}; ${ratio("engine2Budget", "loop").toFixed(2)}x the loop`);
  summary(`overhead row UDF, 1 worker: ${rr.toFixed(2)}x a naive hand row loop (target >= 1.3) ${verdict(rr >= 1.3)}`);
  summary(`overhead trivial pipeline: median ${fmtS(trivialWall)} of ${trivial.length} (target <= 0.5s) ${verdict(trivialWall <= 0.5)}; peak RSS ${fmtMiB(trivialRss)}; processes left in the group ${leftovers} ${verdict(leftovers === 0)}`);
  summary(`overhead batch, 2 workers (info): ${ratio("engine2", "loopTuned").toFixed(2)}x the loop run under the engine's process settings (malloc: huge pages, one arena, 32 MiB mmap threshold; V8: interrupt and wasm tiering budgets), which take the loop from ${fmtS(med("loop"))} to ${fmtS(med("loopTuned"))}`);
  summary(`overhead CPU per row (info): engine w1 ${cpuRatio("engine1", "loop").toFixed(2)}x the loop's, w2 ${cpuRatio("engine2", "loop").toFixed(2)}x; row engine ${cpuRatio("rowEngine", "rowLoop").toFixed(2)}x the row loop's`);
  summary(`overhead vs DuckDB (2 threads, ${fmtS(median(duck))}): engine on 2 workers takes ${duckRatio.toFixed(1)}x DuckDB's time (aim <= 3)`);
}
