// Predicate pushdown: 16 Parquet files of 500k rows (41 row groups each); a predicate matching one row group
// in 41, written as an expression (pushed into the reads: row groups are skipped by their statistics) and as
// a function (every row read and decoded). Bytes are counted by this process's read counter (/proc/self/io).
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as rd from "../server/src/api";

// DuckDB cuts row groups at multiples of 2048 rows: 12 288 rows make 41 row groups a file, the band is the 21st.
const FILES = 16, ROWS = 500_000, ROW_GROUP = 12_288;
const LOW = 20 * ROW_GROUP, HIGH = LOW + ROW_GROUP;

export interface PushdownBenchReport {
  log(line: string): void;
  summary(line: string): void;
  check(condition: boolean, message: string): void;
}

async function ensureInput(dir: string): Promise<void> {
  const marker = `${dir}.SPEC`;
  const spec = `v1 files=${FILES} rows=${ROWS} rowGroup=${ROW_GROUP}`;
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === spec) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const duck = await DuckDBInstance.create(":memory:");
  const conn = await duck.connect();
  for (let f = 0; f < FILES; f++) {
    await conn.run(`COPY (SELECT (${f * ROWS} + i)::BIGINT AS id, i::INTEGER AS k, round((i * 7919 % 100000) / 100.0, 2)::DOUBLE AS price,
      substr(md5(i::VARCHAR), 1, 20) AS name FROM range(${ROWS}) t(i) ORDER BY i)
      TO '${path.join(dir, `part-${String(f).padStart(2, "0")}.parquet`)}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${ROW_GROUP})`);
  }
  conn.closeSync();
  duck.closeSync();
  fs.writeFileSync(marker, spec);
}

const bytesRead = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);

async function run(ds: rd.Dataset): Promise<{ seconds: number; bytes: number; rows: number; sum: number }> {
  const before = bytesRead();
  const started = performance.now();
  let rows = 0, sum = 0;
  for await (const batch of ds.iterBatches({ batchFormat: "columns" })) {
    const k = (batch as rd.Columns).k as Int32Array;
    rows += k.length;
    for (const v of k) sum += v;
  }
  return { seconds: (performance.now() - started) / 1000, bytes: bytesRead() - before, rows, sum };
}

export async function benchPushdown(dataDir: string, report: PushdownBenchReport): Promise<void> {
  report.log(`== pushdown: ${FILES} files x ${ROWS.toLocaleString("en-US")} rows, 41 row groups each; filter k in [${LOW}, ${HIGH}) matches one in 41 ==`);
  const dir = path.join(dataDir, "pushdown");
  await ensureInput(dir);
  // Outside a pipeline file a UDF travels as its source text, so its bounds are written in it.
  const asFunction = () => rd.readParquet(dir).filter(function inBand(r) { return (r.k as number) >= 245_760 && (r.k as number) < 258_048; });
  const asExpression = () => rd.readParquet(dir).filter(rd.col("k").ge(LOW).and(rd.col("k").lt(HIGH)));
  await run(asExpression()); // warm up: worker threads, module loads, the metadata cache
  const fn = await run(asFunction());
  const expr = await run(asExpression());
  const expected = FILES * ROW_GROUP;
  const expectedSum = FILES * ((LOW + HIGH - 1) * ROW_GROUP) / 2;
  report.check(fn.rows === expected && expr.rows === expected, `rows: function ${fn.rows}, expression ${expr.rows}, expected ${expected}`);
  report.check(fn.sum === expectedSum && expr.sum === expectedSum, `sum of k: function ${fn.sum}, expression ${expr.sum}, expected ${expectedSum}`);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  report.log(`  function filter:   ${fn.seconds.toFixed(2)}s, ${mib(fn.bytes)} read`);
  report.log(`  expression filter: ${expr.seconds.toFixed(2)}s, ${mib(expr.bytes)} read`);
  const countStarted = performance.now();
  const counted = await rd.readParquet(dir).count();
  const countSeconds = (performance.now() - countStarted) / 1000;
  report.check(counted === FILES * ROWS, `count() gave ${counted}, expected ${FILES * ROWS}`);
  report.log(`  count() of ${counted.toLocaleString("en-US")} rows from the footers: ${countSeconds.toFixed(3)}s`);
  const speedup = fn.seconds / expr.seconds, fewer = fn.bytes / Math.max(1, expr.bytes);
  report.summary(`pushdown: ${speedup.toFixed(1)}x faster (target ≥ 5x) ${speedup >= 5 ? "PASS" : "MISS"}, ${fewer.toFixed(1)}x fewer bytes (target ≥ 20x) ${fewer >= 20 ? "PASS" : "MISS"}, count() ${countSeconds.toFixed(3)}s (target < 1s) ${countSeconds < 1 ? "PASS" : "MISS"}`);
}
