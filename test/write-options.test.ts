// Write options: modes "error" and "ignore" (decided before anything is read), partitionCols (hive
// folders read back by DuckDB with hive_partitioning equal to the input), min/maxRowsPerFile, and a
// checkpointed job that keeps exactly-once output with them across a failure and a resume; overwrite
// with partitionCols on a real S3 server (s3rver).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import * as rd from "../server/src/api";
import { createHash } from "node:crypto";
import { S3FileSystem } from "../server/src/io";
import { assertExactlyOnce, listFilesRecursive, outputIds, tempDir } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

let tmp: string;
let duck: DuckDBInstance;
let conn: DuckDBConnection;

const rowsPerFile = async (dir: string) => {
  const reader = await conn.runAndReadAll(`SELECT filename, count(*)::INTEGER AS n FROM read_parquet('${dir}/*.parquet', filename = true) GROUP BY 1`);
  return reader.getRows().map((r) => Number(r[1]));
};

describe("write options", function () {
  this.timeout(120_000);

  before(async () => {
    tmp = tempDir("rdpipe-write-");
    duck = await DuckDBInstance.create(":memory:");
    conn = await duck.connect();
  });
  after(() => {
    rd.DataContext.reset();
    conn.closeSync();
    duck.closeSync();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("partitionCols writes hive folders (escaped values, nulls as the default partition) that DuckDB reads back equal to the input", async () => {
    const regions = ["north", "a/b", "x=y", "sp ace", "100%", null];
    const items = Array.from({ length: 600 }, (_, i) => ({ id: i, region: regions[i % regions.length], year: 2020 + (i % 3), value: i * 1.5 }));
    const out = path.join(tmp, "parts");
    await rd.fromItems(items, { overrideNumBlocks: 4 }).writeParquet(out, { partitionCols: ["region", "year"] }).run();
    const folders = new Set(listFilesRecursive(out).map((f) => path.relative(out, path.dirname(f))));
    assert.ok(folders.has("region=a%2Fb/year=2021"), [...folders].join(", "));
    assert.ok(folders.has("region=x%3Dy/year=2022") && folders.has("region=100%25/year=2021"), [...folders].join(", "));
    assert.ok([...folders].some((f) => f.startsWith("region=__HIVE_DEFAULT_PARTITION__/")), [...folders].join(", "));
    const reader = await conn.runAndReadAll(
      `SELECT id, region, year, value FROM read_parquet('${out}/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER, 'region': VARCHAR}) ORDER BY id`);
    assert.deepEqual(reader.getRowObjectsJS().map((r) => ({ ...r, id: Number(r.id) })), items);
    const ours = (await rd.readParquet(out).takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
    assert.deepEqual(ours.map((r) => [Number(r.id), r.region, r.year]), items.map((r) => [r.id, r.region, String(r.year)]));
  });

  it("maxRowsPerFile cuts files; minRowsPerFile joins a task's small blocks", async () => {
    const capped = path.join(tmp, "capped");
    await rd.range(1000, { overrideNumBlocks: 2 }).writeParquet(capped, { maxRowsPerFile: 128 }).run();
    const capSizes = await rowsPerFile(capped);
    assert.equal(capSizes.reduce((s, n) => s + n, 0), 1000);
    assert.ok(capSizes.every((n) => n <= 128), capSizes.join(", "));
    // About 100 rows a block (10 KB rows, 1 MiB blocks): joined into files of at least 500 rows.
    rd.DataContext.getCurrent().targetMaxBlockSize = 1 << 20;
    const joined = path.join(tmp, "joined");
    await rd.range(2000, { overrideNumBlocks: 1 }).map(function pad(r) { return { id: r.id, pad: "x".repeat(10_000) }; })
      .writeParquet(joined, { minRowsPerFile: 500, maxRowsPerFile: 700 }).run();
    const unjoined = path.join(tmp, "unjoined");
    await rd.range(2000, { overrideNumBlocks: 1 }).map(function pad(r) { return { id: r.id, pad: "x".repeat(10_000) }; }).writeParquet(unjoined).run();
    assert.ok((await rowsPerFile(unjoined)).every((n) => n < 500), "without the minimum, files are about a block each");
    const joinedSizes = (await rowsPerFile(joined)).sort((a, b) => b - a);
    assert.equal(joinedSizes.reduce((s, n) => s + n, 0), 2000);
    assert.ok(joinedSizes.slice(0, -1).every((n) => n >= 500 && n <= 700) && joinedSizes.length <= 4, joinedSizes.join(", "));
    rd.DataContext.reset();
  });

  it('mode "error" on a non-empty folder fails before reading anything; "ignore" writes and reads nothing', async () => {
    const out = path.join(tmp, "existing");
    await rd.range(10).writeParquet(out).run();
    const before = listFilesRecursive(out);
    const neverRuns = () => rd.range(100).map(function neverRuns() { throw new Error("a row was read"); });
    await assert.rejects(neverRuns().writeParquet(out, { mode: "error" }).run(),
      (e: Error) => /WriteParquet to .*existing: mode "error" and the folder is not empty \(it holds .*\.parquet\); nothing was read/.test(e.message));
    const ignored = await neverRuns().writeJson(out, { mode: "ignore" }).run();
    assert.deepEqual(ignored.written, []);
    assert.deepEqual(listFilesRecursive(out), before);
    const fresh = path.join(tmp, "fresh");
    await rd.range(10).writeParquet(fresh, { mode: "error" }).run();
    await rd.range(10).writeParquet(path.join(tmp, "fresh-ignore"), { mode: "ignore" }).run();
    assert.equal((await outputIds(fresh)).length, 10);
    assert.equal((await outputIds(path.join(tmp, "fresh-ignore"))).length, 10);
    assert.throws(() => rd.range(1).writeParquet(out, { mode: "nope" as rd.SaveOptions["mode"] }), /mode must be one of "append", "overwrite", "error", "ignore"/);
  });

  it('a checkpointed job with mode "error" and maxRowsPerFile fails, is fixed and resumes into its own folder, writing every ID once', async () => {
    const input = path.join(tmp, "ck-input");
    await rd.range(3000, { overrideNumBlocks: 6 }).writeParquet(input).run();
    const out = path.join(tmp, "ck-out");
    const context = rd.DataContext.reset();
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(tmp, "ck") });
    const failing = rd.readParquet(input).map(function strict(r) {
      if (Number(r.id) === 2500) throw new Error("bad row 2500");
      return r;
    });
    await assert.rejects(failing.writeParquet(out, { mode: "error", maxRowsPerFile: 200 }).run(), /bad row 2500/);
    assert.ok(listFilesRecursive(out).length > 0, "the failed attempt committed some files");
    await rd.readParquet(input).map(function fixed(r) { return r; }).writeParquet(out, { mode: "error", maxRowsPerFile: 200 }).run();
    assertExactlyOnce(await outputIds(out), Array.from({ length: 3000 }, (_, i) => i));
    assert.ok((await rowsPerFile(out)).every((n) => n <= 200));
    rd.DataContext.reset();
  });

  it("partitionCols under checkpointing: a resume removes an uncommitted file inside a partition folder and writes every ID once", async () => {
    const input = path.join(tmp, "ckp-input");
    await rd.range(2000, { overrideNumBlocks: 4 }).writeParquet(input).run();
    const out = path.join(tmp, "ckp-out");
    const context = rd.DataContext.reset();
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(tmp, "ckp") });
    const withBucket = (fail: boolean) => rd.readParquet(input)
      .withColumn("bucket", rd.col("id").mod(3))
      .map(new Function(`return function strict(r) { if (${fail} && Number(r.id) === 1700) throw new Error("bad row 1700"); return r; }`)() as rd.RowFn)
      .writeParquet(out, { partitionCols: ["bucket"], maxRowsPerFile: 150 });
    await assert.rejects(withBucket(true).run(), /bad row 1700/);
    const written = listFilesRecursive(out).filter((f) => f.endsWith(".parquet"));
    assert.ok(written.length > 0 && written.every((f) => /bucket=[012]\//.test(f)), written.join(", "));
    // What a crash between a block's partition files and its commit leaves: a file of the attempt, uncommitted.
    const attempt = path.basename(written[0]).split("_")[0];
    fs.copyFileSync(written[0], path.join(path.dirname(written[0]), `${attempt}_999_0.parquet`));
    await withBucket(false).run();
    assertExactlyOnce(await outputIds(out), Array.from({ length: 2000 }, (_, i) => i));
    const reader = await conn.runAndReadAll(`SELECT count(*)::INTEGER, count(*) FILTER (WHERE bucket = id % 3)::INTEGER FROM read_parquet('${out}/**/*.parquet', hive_partitioning = true)`);
    assert.deepEqual(reader.getRows()[0], [2000, 2000]);
    rd.DataContext.reset();
  });

  describe('mode "overwrite" with partitionCols on S3 (s3rver)', () => {
    let server: S3Server;
    let s3: S3FileSystem;
    before(async () => {
      server = await startS3Server(["parts"]);
      s3 = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1" });
    });
    after(async () => { await server?.stop(); });

    /** Every object under prefix, key below it → SHA-256 of its bytes. */
    const snapshot = async (prefix: string) => {
      const out: Record<string, string> = {};
      for await (const page of s3.listDirectory(prefix)) {
        for (const file of page.files) out[file.path.slice(prefix.length + 1)] = createHash("sha256").update(await s3.readAll(file.path)).digest("hex");
      }
      return out;
    };
    const rows = (n: number, offset: number, buckets: number) => rd.range(n, { overrideNumBlocks: 4 })
      .withColumn("id", rd.col("id").add(rd.lit(offset))).withColumn("bucket", rd.col("id").mod(rd.lit(buckets)));

    it("a failed job leaves the previous partition folders byte-identical; a successful one leaves only its own objects", async () => {
      const parent = "s3://parts/run";
      const target = `${parent}/out`;
      // The previous output: buckets 0-4 (the new one has 0-2), IDs from 1,000,000.
      await rows(500, 1_000_000, 5).writeParquet(target, { partitionCols: ["bucket"], filesystem: s3 }).run();
      const before = await snapshot(parent);
      assert.ok(Object.keys(before).some((k) => k.startsWith("out/bucket=4/")), Object.keys(before).join(", "));
      const failing = rows(2000, 0, 3).map(new Function(`return function strict(r) { if (Number(r.id) === 1900) throw new Error("bad row 1900"); return r; }`)() as rd.RowFn);
      await assert.rejects(failing.writeParquet(target, { mode: "overwrite", partitionCols: ["bucket"], filesystem: s3 }).run(), /bad row 1900/);
      assert.deepEqual(await snapshot(parent), before, "the failed job changed the previous output");
      await rows(2000, 0, 3).writeParquet(target, { mode: "overwrite", partitionCols: ["bucket"], filesystem: s3 }).run();
      const now = await snapshot(parent);
      assert.ok(Object.keys(now).every((k) => /^out\/bucket=[012]\/[^/]+\.parquet$/.test(k) && !(k in before)), Object.keys(now).join(", "));
      assertExactlyOnce(await outputIds(target, "id", s3.description), Array.from({ length: 2000 }, (_, i) => i));
      const back = await rd.readParquet(target, { filesystem: s3 }).takeAll();
      assert.ok(back.every((r) => Number(r.bucket) === Number(r.id) % 3) && back.length === 2000);
    });

    it("with a filenameProvider whose names the previous output holds too: a failed job leaves those objects as they were, a successful one replaces them", async () => {
      const target = "s3://parts/named/out";
      const provider = new ByIndex();
      await rows(300, 1_000_000, 3).writeParquet(target, { partitionCols: ["bucket"], filesystem: s3, filenameProvider: provider }).run();
      const before = await snapshot(target);
      assert.ok(Object.keys(before).every((k) => /^bucket=[012]\/part-\d-0\.parquet$/.test(k)), Object.keys(before).join(", "));
      const failing = rows(300, 0, 3).map(new Function(`return function strict(r) { if (Number(r.id) === 290) throw new Error("bad row 290"); return r; }`)() as rd.RowFn);
      await assert.rejects(failing.writeParquet(target, { mode: "overwrite", partitionCols: ["bucket"], filesystem: s3, filenameProvider: provider }).run(), /bad row 290/);
      assert.deepEqual(await snapshot(target), before, "the failed job changed the previous output");
      await rows(300, 0, 3).writeParquet(target, { mode: "overwrite", partitionCols: ["bucket"], filesystem: s3, filenameProvider: provider }).run();
      const now = await snapshot(target);
      assert.deepEqual(Object.keys(now).sort(), Object.keys(before).sort(), "the same names");
      assert.ok(Object.keys(now).every((k) => now[k] !== before[k]), "every object holds the new rows");
      assertExactlyOnce(await outputIds(target, "id", s3.description), Array.from({ length: 300 }, (_, i) => i));
    });
  });
});

/** Names from the task and block only: a job run twice gives the same names. */
class ByIndex implements rd.FilenameProvider {
  getFilenameForBlock(_block: rd.Block, _uuid: string, taskIndex: number, blockIndex: number, details: rd.FilenameDetails): string {
    return `part-${taskIndex}-${blockIndex}${details.extension}`;
  }
}
