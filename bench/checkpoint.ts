// Job-level checkpointing: (a) throughput of read → mapBatches → write with the batch backend vs the same
// pipeline without a checkpoint, runs alternated; (b) resuming a job that was 90% done vs the full run;
// (c) loading 10M committed int64 IDs from 100 commit records (time, memory, the set's bytes).
import fs from "node:fs";
import path from "node:path";
import { makeVector, vectorFromArray, type Vector } from "apache-arrow";
import * as rd from "../server/src/api";
import { commitOutput, prepareCheckpoint, type CheckpointSpec } from "../server/src/checkpoint";
import type { FileDatasink } from "../server/src/io";
import { ensureInput, summarize } from "./duck";
import type { S3BenchReport } from "./s3";

const FILES = 40;
const ROWS_PER_FILE = 100_000;
const LOAD_RECORDS = 100;
const LOAD_IDS = 10_000_000;
const STRING_IDS = 2_000_000;

const MiB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const sec = (s: number) => `${s.toFixed(2)}s`;
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const middle = (xs: number[]) => sorted(xs)[xs.length >> 1];

/** total = price * qty, one column added per batch. */
function addTotal(batch: rd.Batch): rd.Batch {
  const cols = batch as rd.Columns;
  const price = cols.price as Float64Array;
  const qty = cols.qty as Int32Array;
  return { ...cols, total: Float64Array.from(price, (p, i) => p * qty[i]) };
}

function pipeline(input: string, out: string, checkpoint?: { path: string; backend: "batch" | "row" }): rd.Dataset {
  const context = rd.DataContext.reset();
  if (checkpoint) {
    context.checkpointConfig = new rd.CheckpointConfig({
      idColumn: "id", checkpointPath: checkpoint.path, overrideBackend: checkpoint.backend, deleteCheckpointOnSuccess: false, allowDuplicateIds: process.env.BENCH_NO_DUP_CHECK === "1",
    });
  }
  return rd.readParquet(input).mapBatches(addTotal).writeParquet(out);
}

/** Wall time, and CPU time of this process (the driver and every worker thread: robust to other processes' load). */
async function timedRun(ds: rd.Dataset): Promise<{ seconds: number; cpuSeconds: number; result: rd.ExecutionResult }> {
  gc();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await ds.run();
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, result };
}

/**
 * Turns a finished checkpoint into the state of a job that crashed with ~10% of its input left: the last
 * tasks' done records and commit records are removed (their output files stay, as after a crash between
 * writing and committing; the resume must delete them). Returns how many input files and tasks were cut.
 */
function cutLastTenth(ckpt: string, inputFiles: number): { files: number; tasks: number } {
  const doneDir = path.join(ckpt, "done");
  const records = fs.readdirSync(doneDir).filter((n) => n.endsWith(".json")).sort().reverse();
  let files = 0;
  let tasks = 0;
  for (const name of records) {
    if (files >= inputFiles / 10) break;
    files += (JSON.parse(fs.readFileSync(path.join(doneDir, name), "utf8")) as { files: string[] }).files.length;
    tasks++;
    fs.rmSync(path.join(doneDir, name));
    const task = name.slice(0, -".json".length);
    for (const record of fs.readdirSync(path.join(ckpt, "committed"))) {
      if (record.startsWith(`${task}_`)) fs.rmSync(path.join(ckpt, "committed", record));
    }
  }
  return { files, tasks };
}

async function benchThroughputAndResume(dataRoot: string, report: S3BenchReport): Promise<void> {
  const input = path.join(dataRoot, "ckpt-input");
  const totalRows = FILES * ROWS_PER_FILE;
  const generated = await ensureInput(input, FILES, ROWS_PER_FILE);
  report.log(generated.generated ? `  generated ${FILES} files x ${int(ROWS_PER_FILE)} rows with DuckDB in ${sec(generated.seconds)}` : `  input: ${input} (cached)`);
  const expected = await summarize(input, false);
  report.check(expected.rows === totalRows, `input has ${expected.rows} rows`);
  const plainOut = path.join(dataRoot, "ckpt-out-plain");
  const ckptOut = path.join(dataRoot, "ckpt-out");
  const ckpt = path.join(dataRoot, "ckpt-state");
  const fresh = () => { for (const dir of [plainOut, ckptOut, ckpt]) fs.rmSync(dir, { recursive: true, force: true }); };
  const verify = async (dir: string, who: string) => {
    const out = await summarize(dir, true);
    report.check(out.rows === totalRows && out.distinctIds === totalRows, `${who}: ${out.rows} rows, ${out.distinctIds} distinct ids, expected ${totalRows}`);
    report.check(Math.abs(out.sumTotal - expected.sumPriceQty) <= 1e-9 * expected.sumPriceQty, `${who}: sum(total) ${out.sumTotal} != ${expected.sumPriceQty}`);
  };

  report.log("  warm-up: one plain run");
  fresh();
  await pipeline(input, plainOut).run();
  const reps = Number(process.env.RDPIPE_BENCH_REPS ?? 3);
  const times = { plain: [] as number[], batch: [] as number[], row: [] as number[], resume: [] as number[] };
  const cpu = { plain: [] as number[], batch: [] as number[], row: [] as number[], resume: [] as number[] };
  let cut = { files: 0, tasks: 0 };
  for (let r = 0; r < reps; r++) {
    // Alternate the order so drift (page cache, thermal, other load) does not favour one side.
    const order = r % 2 === 0 ? (["plain", "batch", "row"] as const) : (["row", "batch", "plain"] as const);
    for (const kind of order) {
      fresh();
      const ds = kind === "plain" ? pipeline(input, plainOut) : pipeline(input, ckptOut, { path: ckpt, backend: kind });
      const { seconds, cpuSeconds, result } = await timedRun(ds);
      report.check(result.rowsOut === totalRows, `${kind}: wrote ${result.rowsOut} rows, expected ${totalRows}`);
      if (kind !== "plain") report.check(result.progress.checkpoint?.rowsCommitted === totalRows, `${kind}: committed ${result.progress.checkpoint?.rowsCommitted} rows`);
      if (r === 0) await verify(kind === "plain" ? plainOut : ckptOut, kind);
      times[kind].push(seconds);
      cpu[kind].push(cpuSeconds);
      if (kind !== "batch") continue;
      // (b) The batch run's checkpoint (kept) becomes a job 90% done; resume it.
      cut = cutLastTenth(ckpt, FILES);
      const resumed = await timedRun(pipeline(input, ckptOut, { path: ckpt, backend: "batch" }));
      const progress = resumed.result.progress.checkpoint!;
      const cutRows = cut.files * ROWS_PER_FILE;
      report.check(progress.rowsCommitted === cutRows && progress.idsAtStart === totalRows - cutRows && progress.inputFilesSkipped === FILES - cut.files,
        `resume: committed ${progress.rowsCommitted} (expected ${cutRows}), ids at start ${progress.idsAtStart}, skipped ${progress.inputFilesSkipped} files`);
      if (r === 0) await verify(ckptOut, "resumed");
      times.resume.push(resumed.seconds);
      cpu.resume.push(resumed.cpuSeconds);
      report.log(`    resume after cutting ${cut.tasks} tasks (${cut.files} of ${FILES} input files): ${sec(resumed.seconds)}, of which opening the checkpoint ${progress.loadMs} ms`);
    }
    const both = (kind: keyof typeof times) => `${sec(times[kind][r])} (CPU ${sec(cpu[kind][r])})`;
    report.log(`  rep ${r + 1}: plain ${both("plain")}, batch checkpoint ${both("batch")}, row checkpoint ${both("row")}, resume at 90% ${both("resume")}`);
  }
  fresh();
  const rate = (xs: number[]) => totalRows / Math.min(...xs);
  const slowdown = Math.min(...times.batch) / Math.min(...times.plain) - 1;
  const slowdownMedian = middle(times.batch) / middle(times.plain) - 1;
  // Each repetition's runs are adjacent in time: their ratio is the least disturbed by this machine's drift.
  const slowdownPaired = middle(times.batch.map((t, r) => t / times.plain[r])) - 1;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  report.log(`  (best of ${reps}; medians: plain ${sec(middle(times.plain))}, batch ${sec(middle(times.batch))}, row ${sec(middle(times.row))}, resume ${sec(middle(times.resume))})`);
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${pct(x)}`;
  const cpuExtra = (kind: "batch" | "row") =>
    `${signed(Math.min(...cpu[kind]) / Math.min(...cpu.plain) - 1)} (median ${signed(middle(cpu[kind]) / middle(cpu.plain) - 1)})`;
  report.summary(`checkpoint throughput: ${int(totalRows)} rows in ${FILES} files, plain ${int(rate(times.plain))} rows/s, batch backend ${int(rate(times.batch))} rows/s: ` +
    `${pct(slowdown)} slower (median ${pct(slowdownMedian)}, median of the repetitions' ratios ${pct(slowdownPaired)}; target <= 5%) ${slowdown <= 0.05 ? "PASS" : "MISS"}; CPU time ${cpuExtra("batch")}; ` +
    `row backend ${int(rate(times.row))} rows/s, CPU time ${cpuExtra("row")} (info)`);
  const resumeRatio = Math.min(...times.resume) / Math.min(...times.batch);
  report.summary(`checkpoint resume at 90% (${cut.files} of ${FILES} files left): ${sec(Math.min(...times.resume))} vs full run ${sec(Math.min(...times.batch))} = ` +
    `${pct(resumeRatio)} (median ${pct(middle(times.resume) / middle(times.batch))}; CPU time ${pct(Math.min(...cpu.resume) / Math.min(...cpu.batch))}; target <= 15%) ${resumeRatio <= 0.15 ? "PASS" : "MISS"}`);
}

/** VmHWM of this process: its peak RSS since start or the last write of "5" to /proc/self/clear_refs. */
function peakRssSinceReset(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
}

/** Writes `records` commit records of `perRecord` IDs each (`make(record)`), unless already there. */
async function ensureCommitRecords(ckpt: string, records: number, perRecord: number, make: (record: number) => Vector): Promise<void> {
  const marker = `${ckpt}.SPEC`;
  const spec = `v1 records=${records} ids=${perRecord}`;
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === spec) return;
  fs.rmSync(ckpt, { recursive: true, force: true });
  const commit: CheckpointSpec = { path: ckpt, idColumn: "id", backend: "batch", attempt: "bench" };
  for (let r = 0; r < records; r++) await commitOutput(commit, `bench_000000_${String(r).padStart(6, "0")}.parquet`, make(r));
  fs.writeFileSync(marker, spec);
}

/** Loads a checkpoint's committed IDs as a resume does (prepareCheckpoint), three times: best time, memory of the first. */
async function timeLoad(dataRoot: string, name: string, ids: number, records: number, make: (record: number) => Vector, report: S3BenchReport): Promise<string> {
  const ckpt = path.join(dataRoot, name);
  await ensureCommitRecords(ckpt, records, ids / records, make);
  const write = rd.range(1).writeParquet(path.join(dataRoot, `${name}-out`)).op as Parameters<typeof prepareCheckpoint>[1];
  // The checkpoint of a job writing there, as a first attempt leaves it.
  fs.writeFileSync(path.join(ckpt, "manifest.json"), JSON.stringify({ version: 1, idColumn: "id", output: { path: (write.datasink as FileDatasink).path, format: "parquet" }, createdAt: new Date().toISOString() }));
  const settings = { idColumn: "id", checkpointPath: ckpt, deleteCheckpointOnSuccess: false, backend: "batch" as const };
  const loads: number[] = [];
  let memory = "";
  for (let rep = 0; rep < 3; rep++) {
    fs.rmSync(path.join(ckpt, "attempts"), { recursive: true, force: true });
    gc();
    const before = process.memoryUsage();
    fs.writeFileSync("/proc/self/clear_refs", "5"); // resets VmHWM, the peak RSS, to the current RSS
    const started = performance.now();
    const prepared = await prepareCheckpoint(settings, write, `load${rep}`, (error) => report.check(false, error.message));
    loads.push((performance.now() - started) / 1000);
    await prepared.lease.release();
    const peakRss = peakRssSinceReset();
    const set = prepared.committedIds!;
    const loaded = set.kind === "int" ? set.sorted.length : set.count;
    report.check(loaded === ids, `${name}: loaded ${loaded} ids, expected ${ids}`);
    gc();
    const after = process.memoryUsage();
    const setBytes = set.kind === "int" ? set.sorted.byteLength : set.slots.byteLength + set.starts.byteLength + set.bytes.byteLength;
    if (rep === 0) {
      memory = `set ${mib(setBytes)} (${(setBytes / ids).toFixed(1)} B/ID); RSS +${mib(after.rss - before.rss)} after (peak +${mib(peakRss - before.rss)}), ` +
        `heap +${mib(after.heapUsed - before.heapUsed)}, array buffers +${mib(after.arrayBuffers - before.arrayBuffers)}`;
    }
  }
  report.log(`  ${name}: loads ${loads.map(sec).join(", ")}; ${memory}`);
  return `${int(ids)} ${records} records in ${sec(Math.min(...loads))} (best of 3), ${memory}`;
}

async function benchLoad(dataRoot: string, report: S3BenchReport): Promise<void> {
  const perRecord = LOAD_IDS / LOAD_RECORDS;
  // IDs interleaved across records (a multiple of a prime apart), so the set's sort does real work.
  const ints = await timeLoad(dataRoot, "ckpt-10m", LOAD_IDS, LOAD_RECORDS,
    (r) => makeVector(BigInt64Array.from({ length: perRecord }, (_, i) => BigInt(i * LOAD_RECORDS + r) * 7919n)), report);
  report.summary(`checkpoint load, int64 IDs: ${ints}`);
  const stringsPerRecord = STRING_IDS / LOAD_RECORDS;
  const strings = await timeLoad(dataRoot, "ckpt-2m-strings", STRING_IDS, LOAD_RECORDS,
    (r) => vectorFromArray(Array.from({ length: stringsPerRecord }, (_, i) => `order-${(i * LOAD_RECORDS + r).toString(36).padStart(8, "0")}`)), report);
  report.summary(`checkpoint load, string IDs (14 chars): ${strings} (info)`);
}

export async function benchCheckpoint(dataRoot: string, report: S3BenchReport): Promise<void> {
  report.log(`== checkpoint: (c) loading committed IDs; (a) read -> mapBatches -> write with vs without; (b) resume at 90% ==`);
  await benchLoad(dataRoot, report);
  await benchThroughputAndResume(dataRoot, report);
}
