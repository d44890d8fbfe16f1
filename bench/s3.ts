// Accelerated vs fallback metadata fetching: 10,000 small Parquet files in a real S3-compatible server
// (s3rver) behind a proxy adding 25 ms to every request. Both paths run in the same process, same data.
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { blockFromColumns } from "../server/src/block";
import { writeBlock } from "../server/src/io";
import { startS3Server } from "../test/s3server";
import { startLatencyProxy } from "./latency-proxy";

export const S3_FILES = 10_000;
const ROWS_PER_FILE = 100;
export const LATENCY_MS = 25;
const WRITERS = 32;

export interface S3BenchReport {
  log(line: string): void;
  summary(line: string): void;
  check(condition: boolean, message: string): void;
}

interface RunFigures { firstRowS: number; totalS: number; rows: number; idSum: number }

async function timeRead(ds: rd.Dataset): Promise<RunFigures> {
  const started = performance.now();
  let firstRowS = 0;
  let rows = 0;
  let idSum = 0;
  for await (const batch of ds.iterBatches({ batchFormat: "columns" })) {
    const ids = (batch as rd.Columns).id as BigInt64Array;
    if (rows === 0 && ids.length > 0) firstRowS = (performance.now() - started) / 1000;
    rows += ids.length;
    for (const id of ids) idSum += Number(id);
  }
  return { firstRowS, totalS: (performance.now() - started) / 1000, rows, idSum };
}

/** Writes `count` files of ROWS_PER_FILE rows under s3://bench/PREFIX once (kept in the server's folder under bench/data between runs). */
export async function ensureFiles(dataDir: string, fsOptions: rd.S3Options, report: S3BenchReport, prefix = "small", count = S3_FILES): Promise<void> {
  const marker = path.join(dataDir, `.generated-${prefix === "small" ? "" : `${prefix}-`}${count}x${ROWS_PER_FILE}`);
  if (fs.existsSync(marker)) return;
  const started = performance.now();
  const s3 = new rd.S3FileSystem(fsOptions);
  let next = 0;
  await Promise.all(Array.from({ length: WRITERS }, async () => {
    while (next < count) {
      const file = next++;
      const ids = BigInt64Array.from({ length: ROWS_PER_FILE }, (_, i) => BigInt(file * ROWS_PER_FILE + i));
      const block = blockFromColumns({ id: ids, value: Float64Array.from(ids, (id) => Number(id) / 2) });
      await writeBlock("parquet", block, `s3://bench/${prefix}`, `part-${String(file).padStart(5, "0")}.parquet`, { filesystem: s3.description });
    }
  }));
  fs.writeFileSync(marker, "");
  report.log(`  generated ${count} files x ${ROWS_PER_FILE} rows under s3://bench/${prefix} in ${((performance.now() - started) / 1000).toFixed(1)}s`);
}

export async function benchS3(dataRoot: string, report: S3BenchReport): Promise<void> {
  report.log(`== s3: readParquet of ${S3_FILES.toLocaleString("en-US")} small files through a ${LATENCY_MS} ms-per-request proxy ==`);
  const dataDir = path.join(dataRoot, "s3rver");
  fs.mkdirSync(dataDir, { recursive: true });
  const cacheDir = fs.mkdtempSync(path.join(dataRoot, "metadata-cache-"));
  const previousCache = process.env.RDPIPE_CACHE_DIR;
  process.env.RDPIPE_CACHE_DIR = cacheDir;
  const server = await startS3Server(["bench"], dataDir);
  const host = new URL(server.endpoint);
  const proxy = await startLatencyProxy({ host: host.hostname, port: Number(host.port) }, LATENCY_MS);
  try {
    await ensureFiles(dataDir, { endpoint: server.endpoint, region: "us-east-1" }, report);
    const slow = new rd.S3FileSystem({ endpoint: proxy.endpoint, region: "us-east-1" });
    const expectedRows = S3_FILES * ROWS_PER_FILE;
    const expectedSum = (expectedRows * (expectedRows - 1)) / 2;
    const fallbackBlocks = rd.DataContext.getCurrent().cpuSlots() * 2;
    const runs: [string, () => rd.Dataset][] = [
      ["accelerated (cold cache)", () => rd.readParquet("s3://bench/small", { filesystem: slow })],
      [`fallback (overrideNumBlocks ${fallbackBlocks})`, () => rd.readParquet("s3://bench/small", { filesystem: slow, overrideNumBlocks: fallbackBlocks })],
      ["accelerated, second run (warm cache)", () => rd.readParquet("s3://bench/small", { filesystem: slow })],
      ["fallback, second run (warm cache)", () => rd.readParquet("s3://bench/small", { filesystem: slow, overrideNumBlocks: fallbackBlocks })],
    ];
    // Workers start and make their first S3 request (the SDK loads its credential chain then) before any measured run.
    const warmUp = ["s3://bench/small/part-00000.parquet", "s3://bench/small/part-00001.parquet"];
    await rd.readParquet(warmUp, { filesystem: slow, overrideNumBlocks: 2 }).takeAll();
    const figures: RunFigures[] = [];
    for (const [name, make] of runs) {
      const f = await timeRead(make());
      report.check(f.rows === expectedRows && f.idSum === expectedSum, `${name}: read ${f.rows} rows (id sum ${f.idSum}), expected ${expectedRows} (${expectedSum})`);
      report.log(`  ${name.padEnd(40)} time to first row ${f.firstRowS.toFixed(3)}s, total ${f.totalS.toFixed(2)}s`);
      figures.push(f);
    }
    const [fast, fallback, warm, fallbackWarm] = figures;
    const speedup = fallback.firstRowS / fast.firstRowS;
    const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
    report.summary(`s3: time to first row ${fast.firstRowS.toFixed(3)}s accelerated vs ${fallback.firstRowS.toFixed(2)}s fallback = ${speedup.toFixed(0)}x (target >= 20x: ${verdict(speedup >= 20)}); ` +
      `total ${fast.totalS.toFixed(2)}s vs ${fallback.totalS.toFixed(2)}s (target no worse: ${verdict(fast.totalS <= fallback.totalS)}); ` +
      `second run, warm metadata cache: first row ${warm.firstRowS.toFixed(3)}s accelerated, ${fallbackWarm.firstRowS.toFixed(2)}s fallback`);
  } finally {
    if (previousCache === undefined) delete process.env.RDPIPE_CACHE_DIR;
    else process.env.RDPIPE_CACHE_DIR = previousCache;
    fs.rmSync(cacheDir, { recursive: true, force: true });
    await proxy.close();
    await server.stop();
  }
}
