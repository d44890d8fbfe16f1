// Expressions (rd.col, rd.lit, withColumn, filter(expr), select): results equal DuckDB's for the same
// query, SQL null semantics, and plan-time errors for mistyped columns that read no data.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import * as rd from "../server/src/api";
import { tempDir } from "./helpers";

let tmp: string;
let duck: DuckDBInstance;
let conn: DuckDBConnection;
let input: string;

const plain = (v: unknown): unknown => (typeof v === "bigint" ? Number(v) : v);
const normalize = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)])));

/** Bytes this process has read through read()/pread() so far (workers are threads of it). */
const bytesRead = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);

describe("expressions", function () {
  this.timeout(120_000);

  before(async () => {
    tmp = tempDir("rdpipe-expr-");
    process.env.RDPIPE_CACHE_DIR = path.join(tmp, "cache");
    duck = await DuckDBInstance.create(":memory:");
    conn = await duck.connect();
    input = path.join(tmp, "in.parquet");
    // Nulls in every column; price never 0 (DuckDB divides by zero to Infinity, rdpipe to null).
    await conn.run(`COPY (
      SELECT i::BIGINT AS id,
             CASE WHEN i % 11 = 0 THEN NULL ELSE round((i * 7919 % 10000) / 100.0 + 0.01, 2) END::DOUBLE AS price,
             CASE WHEN i % 13 = 0 THEN NULL ELSE (i * 31 % 97 - 20) END::INTEGER AS qty,
             CASE WHEN i % 17 = 0 THEN NULL ELSE substr(md5(i::VARCHAR), 1, 1 + i % 9) END AS name,
             CASE WHEN i % 19 = 0 THEN NULL ELSE i % 3 = 0 END AS flag
      FROM range(60000) t(i)) TO '${input}' (FORMAT parquet, ROW_GROUP_SIZE 5000)`);
  });

  after(() => {
    conn.closeSync();
    duck.closeSync();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("a filter + withColumn + select pipeline gives DuckDB's rows for the same query", async () => {
    const ours = await rd.readParquet(input)
      .filter(rd.col("price").gt(20).and(rd.col("qty").isNotNull()).or(rd.col("name").str.startsWith("a")))
      .withColumn("total", rd.col("price").mul(rd.col("qty")).add(1))
      .withColumn("ratio", rd.col("qty").div(rd.col("price")))
      .withColumn("upper", rd.col("name").str.upper())
      .withColumn("n", rd.col("name").str.len())
      .filter(rd.col("flag").not().or(rd.col("id").mod(5).eq(0)))
      .select("id", "total", "ratio", "upper", "n", rd.col("qty").cast("float64").alias("q"),
        rd.col("id").isIn([1, 2, 3, 500, 1005]).alias("special"), rd.col("qty").neg().sub(rd.lit(2)).alias("negq"),
        rd.col("name").str.contains("ab").or(rd.col("name").str.endsWith("f")).alias("abf"), rd.col("name").str.lower().eq(rd.col("name")).alias("same"))
      .takeAll();
    const reader = await conn.runAndReadAll(`
      SELECT id, price * qty + 1 AS total, qty / price AS ratio, upper(name) AS upper, length(name) AS n, qty::DOUBLE AS q,
             id IN (1, 2, 3, 500, 1005) AS special, -qty - 2 AS negq, contains(name, 'ab') OR ends_with(name, 'f') AS abf, lower(name) = name AS same
      FROM read_parquet('${input}')
      WHERE ((price > 20 AND qty IS NOT NULL) OR starts_with(name, 'a')) AND (NOT flag OR id % 5 = 0)
      ORDER BY id`);
    const expected = normalize(reader.getRowObjectsJS() as Record<string, unknown>[]);
    const actual = normalize(ours).sort((a, b) => (a.id as number) - (b.id as number));
    assert.ok(expected.length > 10_000, `the query keeps ${expected.length} rows`);
    assert.equal(actual.length, expected.length);
    assert.deepEqual(actual, expected);
  });

  it("follows SQL's nulls: comparisons with null are null, and/or are three-valued, a filter drops null", async () => {
    const ds = rd.fromItems([{ a: 1, b: null }, { a: null, b: true }, { a: 3, b: false }, { a: 4, b: true }]);
    const rows = await ds.select(
      "a",
      rd.col("a").gt(2).alias("gt"),
      rd.col("a").gt(2).and(rd.col("b")).alias("and"),
      rd.col("a").gt(2).or(rd.col("b")).alias("or"),
      rd.col("a").isIn([1, null]).alias("in"),
      rd.col("a").isNull().alias("isnull"),
      rd.col("a").add(rd.lit(null)).alias("plusnull"),
      rd.col("a").div(rd.col("a").sub(1)).alias("div"),
    ).takeAll();
    const byA = new Map(rows.map((r) => [r.a === null ? "null" : String(r.a), r]));
    assert.deepEqual(byA.get("1"), { a: 1, gt: false, and: false, or: null, in: true, isnull: false, plusnull: null, div: null });
    assert.deepEqual(byA.get("null"), { a: null, gt: null, and: null, or: true, in: null, isnull: true, plusnull: null, div: null });
    assert.deepEqual(byA.get("3"), { a: 3, gt: true, and: false, or: true, in: null, isnull: false, plusnull: null, div: 1.5 });
    const kept = await ds.filter(rd.col("a").gt(2).or(rd.col("b"))).takeAll();
    assert.deepEqual(kept.map((r) => r.a).sort(), [3, 4, null].sort());
    assert.equal((await ds.filter(rd.col("b")).takeAll()).length, 2);
  });

  it("a mistyped column is a plan error naming it and the schema's columns, found from the footer without reading data", async () => {
    const before = bytesRead();
    await assert.rejects(
      rd.readParquet(input).withColumn("t", rd.col("pricee").mul(2)).filter(rd.col("t").gt(1)).takeAll(),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "plan");
        assert.match(e.message, /WithColumn\(t = \(pricee \* 2\)\): unknown column 'pricee'; the columns are 'id', 'price', 'qty', 'name', 'flag'/);
        return true;
      });
    assert.ok(bytesRead() - before < fs.statSync(input).size / 4, `read ${bytesRead() - before} bytes of a ${fs.statSync(input).size}-byte file`);
    await assert.rejects(rd.readParquet(input).filter(rd.col("name").add(1).gt(2)).takeAll(), /add needs numbers in \(name \+ 1\), got string values/);
  });

  it("keeps 64-bit integers exact beyond 2^53 and computes on decimals", async () => {
    const big = 9007199254740993n; // 2^53 + 1: not a double
    const rows = await rd.fromItems([{ id: big }, { id: big + 1n }, { id: 5n }])
      .filter(rd.col("id").eq(rd.lit(big)).or(rd.col("id").lt(10)))
      .withColumn("next", rd.col("id").add(1))
      .withColumn("negated", rd.col("id").neg())
      .takeAll();
    // Rows give int64 values as numbers where they are safe integers, else as bigint.
    assert.deepEqual(rows.map((r) => [r.id, r.next, r.negated].map((v) => BigInt(v as bigint))).sort((a, b) => Number(a[0]) - Number(b[0])),
      [[5n, 6n, -5n], [big, big + 1n, -big]]);
    const decimals = path.join(tmp, "decimals.parquet");
    await conn.run(`COPY (SELECT i AS id, (i * 0.25 - 10)::DECIMAL(9, 2) AS amount FROM range(200) t(i)) TO '${decimals}' (FORMAT parquet)`);
    const ours = await rd.readParquet(decimals).filter(rd.col("amount").gt(5.5).and(rd.col("amount").mul(2).lt(60))).takeAll();
    const theirs = (await conn.runAndReadAll(`SELECT id FROM read_parquet('${decimals}') WHERE amount > 5.5 AND amount * 2 < 60 ORDER BY id`)).getRows().map((r) => Number(r[0]));
    assert.ok(theirs.length > 50);
    assert.deepEqual(ours.map((r) => Number(r.id)).sort((a, b) => a - b), theirs);
  });

  it("compares dates and timestamps with Date literals as DuckDB does", async () => {
    const times = path.join(tmp, "times.parquet");
    await conn.run(`COPY (SELECT i AS id, DATE '2024-01-01' + (i % 60)::INTEGER AS d,
      TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i * 37) MINUTE AS ts FROM range(3000) t(i)) TO '${times}' (FORMAT parquet)`);
    const ours = await rd.readParquet(times)
      .filter(rd.col("d").ge(new Date("2024-02-01")).and(rd.col("ts").lt(rd.lit(new Date("2024-02-20T12:30:00Z")))))
      .select("id").takeAll();
    const theirs = (await conn.runAndReadAll(`SELECT id FROM read_parquet('${times}')
      WHERE d >= DATE '2024-02-01' AND ts < TIMESTAMP '2024-02-20 12:30:00' ORDER BY id`)).getRows().map((r) => Number(r[0]));
    assert.ok(theirs.length > 100);
    assert.deepEqual(ours.map((r) => Number(r.id)).sort((a, b) => a - b), theirs);
    await assert.rejects(rd.readParquet(times).withColumn("x", rd.col("ts").add(1)).takeAll(), /add needs numbers in \(ts \+ 1\), got time values/);
  });

  it("withColumn replaces a column, select keeps types of plain columns, cast and str functions work on values", async () => {
    const rows = await rd.fromItems([{ x: 2.5, s: "Héllo" }, { x: -2.5, s: "" }])
      .withColumn("x", rd.col("x").cast("int32"))
      .select("x", rd.col("s").str.len().alias("len"), rd.col("s").str.lower().alias("low"), rd.col("x").cast("string").alias("text"))
      .takeAll();
    assert.deepEqual(rows.sort((a, b) => (a.x as number) - (b.x as number)), [
      { x: -3, len: 0, low: "", text: "-3" }, { x: 3, len: 5, low: "héllo", text: "3" },
    ]);
    const schema = await rd.range(5).withColumn("y", rd.col("id").mul(2)).select("id", "y").schema();
    assert.deepEqual(schema.fields.map((f) => `${f.name}:${f.type}`), ["id:Int64", "y:Int64"]);
  });
});
