// Predicate pushdown: 16 Parquet files of 500k rows (41 row groups each); a predicate matching one row group
// in 41, written as an expression (pushed into the reads: row groups are skipped by their statistics) and as
// a function (every row read and decoded). Then page-level: 4 files of 1M rows in one row group each, as
// rdpipe's writer (arrow-rs) writes them with a page index, a predicate matching rows of one page in ~50.
// Bytes are counted by this process's read counter (/proc/self/io).
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
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

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const bytesRead = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);

const PAGE_FILES = 4, PAGE_ROWS = 1_000_000, PAGE_LOW = 500_000, PAGE_HIGH = 510_000;

async function ensurePagedInput(dir: string): Promise<void> {
  const marker = `${dir}.SPEC`;
  const spec = `v1 files=${PAGE_FILES} rows=${PAGE_ROWS} one row group, page index`;
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === spec) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // As rdpipe's writer sets it (io/write.ts), with the whole file in one row group.
  const properties = () => new WriterPropertiesBuilder().setDictionaryEnabled(false).setCompression(Compression.SNAPPY).setMaxRowGroupSize(PAGE_ROWS).build();
  for (let f = 0; f < PAGE_FILES; f++) {
    const table = tableFromArrays({
      id: BigInt64Array.from({ length: PAGE_ROWS }, (_, i) => BigInt(f * PAGE_ROWS + i)),
      k: Int32Array.from({ length: PAGE_ROWS }, (_, i) => i),
      price: Float64Array.from({ length: PAGE_ROWS }, (_, i) => ((i * 7919) % 100_000) / 100),
      name: Array.from({ length: PAGE_ROWS }, (_, i) => `n${(i * 2654435761) % 4294967296}`),
    });
    fs.writeFileSync(path.join(dir, `part-${f}.parquet`), writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), properties()));
  }
  fs.writeFileSync(marker, spec);
}

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
  report.log(`  function filter:   ${fn.seconds.toFixed(2)}s, ${mib(fn.bytes)} read`);
  report.log(`  expression filter: ${expr.seconds.toFixed(2)}s, ${mib(expr.bytes)} read`);
  const countStarted = performance.now();
  const counted = await rd.readParquet(dir).count();
  const countSeconds = (performance.now() - countStarted) / 1000;
  report.check(counted === FILES * ROWS, `count() gave ${counted}, expected ${FILES * ROWS}`);
  report.log(`  count() of ${counted.toLocaleString("en-US")} rows from the footers: ${countSeconds.toFixed(3)}s`);
  const speedup = fn.seconds / expr.seconds, fewer = fn.bytes / Math.max(1, expr.bytes);
  const pages = await benchPages(dataDir, report);
  report.summary(`pushdown by pages: ${pages.speedup.toFixed(1)}x faster, ${pages.fewer.toFixed(1)}x fewer bytes than the function filter (row-group statistics skip nothing here)`);
  report.summary(`pushdown: ${speedup.toFixed(1)}x faster (target ≥ 5x) ${speedup >= 5 ? "PASS" : "MISS"}, ${fewer.toFixed(1)}x fewer bytes (target ≥ 20x) ${fewer >= 20 ? "PASS" : "MISS"}, count() ${countSeconds.toFixed(3)}s (target < 1s) ${countSeconds < 1 ? "PASS" : "MISS"}`);
}

/** One row group a file: only the page index can skip; the function filter reads what a row-group-only read would. */
async function benchPages(dataDir: string, report: PushdownBenchReport): Promise<{ speedup: number; fewer: number }> {
  report.log(`== pushdown by pages: ${PAGE_FILES} files x ${PAGE_ROWS.toLocaleString("en-US")} rows in one row group each, page index; filter k in [${PAGE_LOW}, ${PAGE_HIGH}) ==`);
  const dir = path.join(dataDir, "pushdown-pages");
  await ensurePagedInput(dir);
  const asFunction = () => rd.readParquet(dir).filter(function inBand(r) { return (r.k as number) >= 500_000 && (r.k as number) < 510_000; });
  const asExpression = () => rd.readParquet(dir).filter(rd.col("k").ge(PAGE_LOW).and(rd.col("k").lt(PAGE_HIGH)));
  await run(asExpression());
  const fn = await run(asFunction());
  const expr = await run(asExpression());
  const expected = PAGE_FILES * (PAGE_HIGH - PAGE_LOW);
  const expectedSum = PAGE_FILES * ((PAGE_LOW + PAGE_HIGH - 1) * (PAGE_HIGH - PAGE_LOW)) / 2;
  report.check(fn.rows === expected && expr.rows === expected, `pages: rows: function ${fn.rows}, expression ${expr.rows}, expected ${expected}`);
  report.check(fn.sum === expectedSum && expr.sum === expectedSum, `pages: sum of k: function ${fn.sum}, expression ${expr.sum}, expected ${expectedSum}`);
  report.log(`  function filter:   ${fn.seconds.toFixed(2)}s, ${mib(fn.bytes)} read`);
  report.log(`  expression filter: ${expr.seconds.toFixed(2)}s, ${mib(expr.bytes)} read (pages skipped by the page index)`);
  return { speedup: fn.seconds / expr.seconds, fewer: fn.bytes / Math.max(1, expr.bytes) };
}
