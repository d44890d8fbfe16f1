// The optimizer's pushdowns, measured in bytes fetched: a predicate skips the row groups whose
// statistics rule it out (locally: a read counter; on S3: bytes through a counting proxy in front of
// s3rver), projections read fewer columns, a limit stops reads, hive folders are pruned, count() reads
// footers only; pushdown stops at a UDF; explain() says what was pushed.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as rd from "../server/src/api";
import { startCountingProxy, type CountingProxy } from "./counting-proxy";
import { tempDir } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

// DuckDB cuts row groups at multiples of 2048 rows: 49 row groups a file.
const FILES = 4, ROWS_PER_FILE = 100_000, ROW_GROUP = 2_048;

let tmp: string;
let input: string;
let hive: string;

/** Bytes this process has read through read()/pread() so far (the worker threads are part of it). */
const bytesRead = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);

async function measured<T>(run: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const before = bytesRead();
  const result = await run();
  return { result, bytes: bytesRead() - before };
}

const ids = (rows: rd.Row[]) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);
/** The 26th row group of the second file: ids [151 200, 153 248). */
const inOneRowGroup = () => rd.col("id").ge(151_200).and(rd.col("id").lt(153_248));

describe("pushdown", function () {
  this.timeout(240_000);

  before(async () => {
    tmp = tempDir("rdpipe-pushdown-");
    process.env.RDPIPE_CACHE_DIR = path.join(tmp, "cache");
    input = path.join(tmp, "in");
    hive = path.join(tmp, "hive");
    fs.mkdirSync(input);
    const duck = await DuckDBInstance.create(":memory:");
    const conn = await duck.connect();
    for (let f = 0; f < FILES; f++) {
      await conn.run(`COPY (SELECT (${f * ROWS_PER_FILE} + i)::BIGINT AS id, (i * 7 % 1000)::DOUBLE AS price, md5(i::VARCHAR) AS name
        FROM range(${ROWS_PER_FILE}) t(i) ORDER BY i) TO '${input}/part-${f}.parquet' (FORMAT parquet, ROW_GROUP_SIZE ${ROW_GROUP})`);
    }
    await conn.run(`COPY (SELECT i::BIGINT AS id, ['north', 'south', 'east', 'west'][i % 4 + 1] AS region, md5(i::VARCHAR) AS name FROM range(40000) t(i))
      TO '${hive}' (FORMAT parquet, PARTITION_BY (region))`);
    conn.closeSync();
    duck.closeSync();
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("a predicate matching one row group in 196 reads ≥ 20× fewer bytes than the same filter as a function, with the same rows", async () => {
    const asFunction = await measured(() => rd.readParquet(input).filter((r) => (r.id as bigint) >= 151_200n && (r.id as bigint) < 153_248n).takeAll());
    const pushed = await measured(() => rd.readParquet(input).filter(inOneRowGroup()).takeAll());
    assert.equal(pushed.result.length, ROW_GROUP);
    assert.deepEqual(ids(pushed.result), ids(asFunction.result));
    assert.ok(asFunction.bytes >= 20 * pushed.bytes, `function filter read ${asFunction.bytes} bytes, pushed-down ${pushed.bytes}`);
  });

  it("pushes through withColumn, select and renameColumns, and explain() shows the logical, optimized and fused plans", async () => {
    const ds = rd.readParquet(input)
      .withColumn("double", rd.col("price").mul(2))
      .renameColumns({ id: "key" })
      .filter(rd.col("key").lt(2_500).and(rd.col("double").gt(100)))
      .select("key", "double");
    const text = ds.explain();
    assert.match(text, /Logical plan:\n {2}Select\(key, double\)\n {4}Filter\(\(\(key < 2500\) and \(double > 100\)\)\)/);
    assert.match(text, /Optimized plan:[\s\S]*ReadParquet \[columns: id, price; filter: id < 2500\]/);
    assert.match(text, /Fused stages:\n {2}ReadParquet->WithColumn\(double = \(price \* 2\)\)->RenameColumns\(id→key\)->Filter\(.*\)->Select\(key, double\)/);
    assert.match(text, /Pushed down:\n {2}ReadParquet: reads only columns id, price\n {2}ReadParquet: skips row groups and hive folders where no row can match id < 2500/);
    const { result, bytes } = await measured(() => ds.takeAll());
    assert.equal(result.length, [...Array(2500).keys()].filter((i) => (i * 7 % 1000) * 2 > 100).length);
    assert.deepEqual(Object.keys(result[0]).sort(), ["double", "key"]);
    const whole = fs.readdirSync(input).reduce((s, f) => s + fs.statSync(path.join(input, f)).size, 0);
    assert.ok(bytes * 20 <= whole, `read ${bytes} of ${whole} bytes`);
  });

  it("a projection reads only the columns used later; a UDF stops pushdown", async () => {
    const all = await measured(() => rd.readParquet(input).takeAll());
    const onlyId = await measured(() => rd.readParquet(input).withColumn("next", rd.col("id").add(1)).select("next").takeAll());
    assert.equal(onlyId.result.length, FILES * ROWS_PER_FILE);
    assert.ok(onlyId.bytes * 3 <= all.bytes, `select read ${onlyId.bytes} bytes, the whole read ${all.bytes}`);
    const afterUdf = rd.readParquet(input).map(function keep(r) { return r; }).filter(inOneRowGroup());
    assert.match(afterUdf.explain(), /ReadParquet: pushdown stops at Map\(keep\) \(a UDF\)/);
    assert.doesNotMatch(afterUdf.explain(), /filter:/);
    const stopped = await measured(() => afterUdf.takeAll());
    assert.equal(stopped.result.length, ROW_GROUP);
    assert.ok(stopped.bytes * 2 >= all.bytes, `behind a UDF the whole input is read (${stopped.bytes} of ${all.bytes})`);
  });

  it("a limit above row-preserving operators stops each read early", async () => {
    const all = await measured(() => rd.readParquet(input).takeAll());
    const limited = await measured(() => rd.readParquet(input).withColumn("x", rd.col("price").add(1)).limit(10).takeAll());
    assert.equal(limited.result.length, 10);
    assert.match(rd.readParquet(input).withColumn("x", rd.col("price").add(1)).limit(10).explain(), /ReadParquet \[limit: 10\]/);
    assert.ok(limited.bytes * 5 <= all.bytes, `limit read ${limited.bytes} bytes, the whole read ${all.bytes}`);
  });

  it("a predicate on a hive partition column skips whole folders", async () => {
    const ds = rd.readParquet(hive).filter(rd.col("region").eq("east").or(rd.col("region").eq("west")));
    const files = await ds.inputFiles();
    assert.ok(files.length > 0);
    assert.ok(files.every((f) => /region=(east|west)\//.test(f)), files.join(", "));
    assert.equal((await rd.readParquet(hive).inputFiles()).length, 2 * files.length);
    const rows = await ds.takeAll();
    assert.equal(rows.length, 20_000);
    assert.ok(rows.every((r) => r.region === "east" || r.region === "west"));
  });

  it("count() of a Parquet read (through row-preserving operators) comes from the footers; a filter makes it run", async () => {
    await rd.readParquet(input).count(); // the metadata cache is filled
    // The least of three: read tasks an earlier test's limit cancelled may still be finishing in this process.
    // And each run once the process has stopped reading (up to 5 s): the counter is the whole process's.
    const quiet = async () => {
      for (let waited = 0, last = bytesRead(); waited < 5000; waited += 250) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const now = bytesRead();
        if (now - last < 4096) return; // reading /proc/self/io counts too
        last = now;
      }
    };
    const runs = [];
    for (let i = 0; i < 3; i++) {
      await quiet();
      runs.push(await measured(() => rd.readParquet(input).withColumn("y", rd.col("price").mul(3)).select("id", "y").count()));
    }
    const { result, bytes } = runs.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    assert.equal(result, FILES * ROWS_PER_FILE);
    const whole = fs.readdirSync(input).reduce((s, f) => s + fs.statSync(path.join(input, f)).size, 0);
    assert.ok(bytes * 50 < whole, `count read ${bytes} bytes of ${whole}`);
    assert.equal(await rd.readParquet(input).limit(7).count(), 7);
    assert.equal(await rd.readParquet(input).filter(inOneRowGroup()).count(), ROW_GROUP);
  });

  describe("on S3", () => {
    let server: S3Server;
    let proxy: CountingProxy;
    let s3: rd.FileSystem;

    before(async () => {
      server = await startS3Server(["data"]);
      proxy = await startCountingProxy({ host: "127.0.0.1", port: server.port });
      s3 = new rd.S3FileSystem({ endpoint: proxy.endpoint, region: "us-east-1" });
      for (const f of fs.readdirSync(input)) await s3.write(`s3://data/in/${f}`, [fs.readFileSync(path.join(input, f))]);
    });

    after(async () => {
      await proxy?.close();
      await server?.stop();
    });

    it("row groups whose statistics rule the predicate out are not fetched: ≥ 20× fewer bytes over the wire", async () => {
      const fetched = async (ds: rd.Dataset) => {
        const before = proxy.counted.down;
        const rows = await ds.takeAll();
        return { rows, bytes: proxy.counted.down - before };
      };
      const asFunction = await fetched(rd.readParquet("s3://data/in", { filesystem: s3 }).filter((r) => (r.id as bigint) >= 151_200n && (r.id as bigint) < 153_248n));
      const pushed = await fetched(rd.readParquet("s3://data/in", { filesystem: s3 }).filter(inOneRowGroup()));
      assert.equal(pushed.rows.length, ROW_GROUP);
      assert.deepEqual(ids(pushed.rows), ids(asFunction.rows));
      assert.ok(asFunction.bytes >= 20 * pushed.bytes, `function filter fetched ${asFunction.bytes} bytes, pushed-down ${pushed.bytes}`);
    });
  });
});
