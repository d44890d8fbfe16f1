// Decimal columns reach rows and columns as exact decimal strings and go back as the same decimal type
// (before, a value came out as an object of characters, and a row UDF wrote a struct in its place).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { DuckCheck, tempDir } from "./helpers";

const ROWS = 3000;

describe("decimal columns", function () {
  this.timeout(120_000);
  let dir: string;
  let input: string;
  let duck: DuckCheck;
  const rows = (sql: string) => duck.rows(sql);
  const difference = (a: string, b: string) => duck.difference(a, b);

  before(async () => {
    dir = tempDir("rdpipe-decimal-");
    input = path.join(dir, "input.parquet");
    duck = await DuckCheck.open();
    // 32-bit, 64-bit and 128-bit decimals: nulls, negatives, 20 integer digits.
    await duck.conn.run(`COPY (SELECT i::BIGINT AS id, CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 0.5 - 700)::DECIMAL(9, 2) END AS small,
        (-i * 1234567.891)::DECIMAL(18, 3) AS mid, (i * 98765432109876543.21)::DECIMAL(38, 10) AS wide
      FROM range(${ROWS}) t(i)) TO '${input}' (FORMAT parquet, ROW_GROUP_SIZE 1024)`);
  });
  after(() => {
    duck.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => { rd.DataContext.reset(); });

  it("reads each value as its exact decimal string, null as null", async () => {
    const got = (await rd.readParquet(input).takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
    const expected = await rows(`SELECT id, small::VARCHAR AS small, mid::VARCHAR AS mid, wide::VARCHAR AS wide FROM '${input}' ORDER BY id`);
    assert.equal(got.length, ROWS);
    assert.deepEqual(got.map((r) => ({ id: String(r.id), small: r.small, mid: r.mid, wide: r.wide })), expected);
    assert.equal(got[7].small, null);
  });

  it("a row UDF that hands rows back writes the same decimal columns, of the same types", async () => {
    const out = path.join(dir, "rows");
    await rd.readParquet(input).map((r: rd.Row) => r).writeParquet(out).run();
    assert.deepEqual((await rows(`DESCRIBE SELECT * FROM '${out}/*.parquet'`)).map((c) => c.column_type), ["BIGINT", "DECIMAL(9,2)", "DECIMAL(18,3)", "DECIMAL(38,10)"]);
    assert.equal(await difference(`SELECT * FROM '${input}'`, `SELECT * FROM '${out}/*.parquet'`), 0);
  });

  it("takes numbers, bigints and strings into a decimal column, rounded half away from zero to its scale, and names a value that does not fit", async () => {
    const out = path.join(dir, "set");
    await rd.readParquet(input)
      .mapBatches((b: rd.Batch) => {
        const cols = b as rd.Columns;
        const id = cols.id as BigInt64Array;
        const small = Array.from(cols.small as ArrayLike<unknown>, (v, i) => (id[i] % 3n === 0n ? 12.345 : id[i] % 3n === 1n ? 7n : v === null ? null : `${v as string}5`));
        return { ...cols, small };
      })
      .writeParquet(out).run();
    assert.equal(await difference(
      `SELECT id, CASE WHEN id % 3 = 0 THEN 12.35 WHEN id % 3 = 1 THEN 7 WHEN small IS NULL THEN NULL ELSE small + (CASE WHEN small < 0 THEN -0.01 ELSE 0.01 END) END::DECIMAL(9, 2) AS small, mid, wide FROM '${input}'`,
      `SELECT * FROM '${out}/*.parquet'`), 0);
    await assert.rejects(rd.readParquet(input).map((r: rd.Row) => ({ ...r, small: Number(r.id) === 5 ? "12345678.9" : r.small })).writeParquet(path.join(dir, "bad")).run(),
      /column 'small' row 5: "12345678.9" is not a decimal\(9, 2\)/);
  });

  it("JSON output holds the exact strings", async () => {
    const out = path.join(dir, "json");
    await rd.readParquet(input).writeJson(out).run();
    const lines = fs.readdirSync(out).flatMap((f) => fs.readFileSync(path.join(out, f), "utf8").trim().split("\n")).map((l) => JSON.parse(l) as rd.Row);
    const expected = await rows(`SELECT id, small::VARCHAR AS small, mid::VARCHAR AS mid, wide::VARCHAR AS wide FROM '${input}' WHERE id IN (2999, 2996)`);
    assert.equal(expected.length, 2);
    for (const want of expected) assert.deepEqual(lines.find((r) => r.id === Number(want.id)), { ...want, id: Number(want.id) });
  });
});
