// Start-up where it matters most: `rdpipe run --preview 1` of a first read (empty metadata cache) of
// 2,000 small Parquet files in s3rver behind a proxy adding 25 ms to every request, whole process from
// spawn to exit, against the fallback (a few blocks, every footer read by its task) in the same run.
import fs from "node:fs";
import path from "node:path";
import { startS3Server } from "../test/s3server";
import { startLatencyProxy } from "./latency-proxy";
import { runRdpipe, type ProcessRun } from "./overhead";
import { ensureFiles, LATENCY_MS, type S3BenchReport } from "./s3";

const PREVIEW_FILES = 2_000;
const RUNS = 5;
const PIPELINE = path.join(__dirname, "s3-preview.rdpipe.ts");

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

export async function benchS3Preview(dataRoot: string, report: S3BenchReport): Promise<void> {
  report.log(`== s3-preview: rdpipe run --preview 1 of ${PREVIEW_FILES.toLocaleString("en-US")} small files through a ${LATENCY_MS} ms-per-request proxy, empty metadata cache ==`);
  const dataDir = path.join(dataRoot, "s3rver");
  fs.mkdirSync(dataDir, { recursive: true });
  const server = await startS3Server(["bench"], dataDir);
  const host = new URL(server.endpoint);
  const proxy = await startLatencyProxy({ host: host.hostname, port: Number(host.port) }, LATENCY_MS);
  try {
    await ensureFiles(dataDir, { endpoint: server.endpoint, region: "us-east-1" }, report, "preview", PREVIEW_FILES);
    const run = async (fallback: boolean): Promise<ProcessRun> => {
      const cacheDir = fs.mkdtempSync(path.join(dataRoot, "metadata-cache-"));
      try {
        const env = { RDPIPE_BENCH_S3: proxy.endpoint, RDPIPE_BENCH_IN: "s3://bench/preview", RDPIPE_CACHE_DIR: cacheDir, ...(fallback ? { RDPIPE_BENCH_FALLBACK: "1" } : {}) };
        const result = await runRdpipe(["run", PIPELINE, "--preview", "1", "--quiet"], env);
        report.check(/\(1 row shown\)/.test(result.stdout) && /\bvalue\b/.test(result.stdout), `${fallback ? "fallback" : "accelerated"}: the preview printed ${JSON.stringify(result.stdout)}`);
        report.check(result.leftovers === 0, `${result.leftovers} processes left in the group after rdpipe run exited`);
        return result;
      } finally {
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    };
    await run(false); // the OS caches the engine's files, as for any second run
    const fast: ProcessRun[] = [];
    const slow: ProcessRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      fast.push(await run(false));
      slow.push(await run(true));
      report.log(`  run ${i + 1}: accelerated ${fast[i].seconds.toFixed(2)}s (${fast[i].cpuSeconds.toFixed(2)} cpu-s), fallback ${slow[i].seconds.toFixed(2)}s`);
    }
    const fastS = median(fast.map((r) => r.seconds));
    const slowS = median(slow.map((r) => r.seconds));
    report.summary(`s3-preview: rdpipe run --preview 1 of ${PREVIEW_FILES} files, cold metadata cache: median ${fastS.toFixed(2)}s of ${RUNS} whole process (target <= 0.6s ${fastS <= 0.6 ? "PASS" : "MISS"}), ` +
      `fallback ${slowS.toFixed(2)}s (${(slowS / fastS).toFixed(1)}x apart)`);
  } finally {
    await proxy.close();
    await server.stop();
  }
}
