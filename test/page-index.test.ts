// Page-level predicate pushdown: in a Parquet file with a page index (what rdpipe's writer, arrow-rs,
// writes), pages whose min/max rule the predicate out are not fetched, within a row group the row-group
// statistics cannot skip. Bytes counted by this process's read counter; rows compared with the whole
// file read and filtered here, over plain and dictionary encodings, nulls and strings.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import * as rd from "../server/src/api";
import { tempDir } from "./helpers";

/** One row group of 200k rows; arrow-rs cuts pages of about 20k rows (at different rows in different columns). */
const ROWS = 200_000;

let tmp: string;
const bytesRead = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);

const rowTexts = (rows: rd.Row[]) => rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))).sort();

async function measured(ds: rd.Dataset): Promise<{ rows: string[]; bytes: number }> {
  const before = bytesRead();
  const rows = await ds.takeAll();
  return { rows: rowTexts(rows), bytes: bytesRead() - before };
}

function writeInput(dir: string, dictionary: boolean): string {
  const table = tableFromArrays({
    id: BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i)),
    price: Float64Array.from({ length: ROWS }, (_, i) => (i * 7) % 1000),
    // Nulls throughout, and a run of rows that are all null (whole null pages).
    name: Array.from({ length: ROWS }, (_, i) => (i % 17 === 0 || (i >= 60_000 && i < 100_000) ? null : `name-${i % 300}`)),
  });
  const properties = new WriterPropertiesBuilder().setDictionaryEnabled(dictionary).setMaxRowGroupSize(ROWS).build();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "part-0.parquet"), writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), properties));
  return dir;
}

describe("page-index pushdown", function () {
  this.timeout(240_000);
  let plain: string;
  let dictionary: string;

  before(async () => {
    tmp = tempDir("rdpipe-page-index-");
    process.env.RDPIPE_CACHE_DIR = path.join(tmp, "cache");
    plain = writeInput(path.join(tmp, "plain"), false);
    dictionary = writeInput(path.join(tmp, "dictionary"), true);
    await rd.range(10).takeAll(); // worker threads started: their module loads are not counted below
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("a predicate matching rows in one page in ten fetches ≥ 5× fewer bytes than the same filter as a function, with the same rows", async () => {
    const asFunction = await measured(rd.readParquet(plain).filter((r) => (r.id as bigint) >= 100_000n && (r.id as bigint) < 100_500n));
    const pushed = await measured(rd.readParquet(plain).filter(rd.col("id").ge(100_000).and(rd.col("id").lt(100_500))));
    assert.equal(pushed.rows.length, 500);
    assert.deepEqual(pushed.rows, asFunction.rows);
    const size = fs.statSync(path.join(plain, "part-0.parquet")).size;
    assert.ok(asFunction.bytes >= size, `the function filter reads the file (${asFunction.bytes} of ${size} bytes)`);
    assert.ok(asFunction.bytes >= 5 * pushed.bytes, `function filter read ${asFunction.bytes} bytes, page-pushed ${pushed.bytes}`);
  });

  it("keeps every matching row: plain and dictionary pages, null pages, strings, runs across page boundaries, OR of two runs", async () => {
    const cases: [string, rd.Expr, (r: rd.Row) => boolean][] = [
      ["id across a page boundary", rd.col("id").ge(20_000).and(rd.col("id").lt(21_000)), (r) => (r.id as bigint) >= 20_000n && (r.id as bigint) < 21_000n],
      ["two runs", rd.col("id").lt(10).or(rd.col("id").ge(199_990)), (r) => (r.id as bigint) < 10n || (r.id as bigint) >= 199_990n],
      ["a string", rd.col("name").eq("name-5"), (r) => r.name === "name-5"],
      ["a prefix", rd.col("name").str.startsWith("name-29"), (r) => typeof r.name === "string" && r.name.startsWith("name-29")],
      ["nulls", rd.col("name").isNull().and(rd.col("id").ge(55_000)).and(rd.col("id").lt(105_000)), (r) => r.name === null && (r.id as bigint) >= 55_000n && (r.id as bigint) < 105_000n],
      ["not null in a null run", rd.col("name").isNotNull().and(rd.col("id").ge(70_000)).and(rd.col("id").lt(80_000)), () => false],
      ["in every page", rd.col("price").gt(990), (r) => (r.price as number) > 990],
    ];
    for (const dir of [plain, dictionary]) {
      const all = await rd.readParquet(dir).takeAll();
      assert.equal(all.length, ROWS);
      for (const [what, expr, fn] of cases) {
        const pushed = await measured(rd.readParquet(dir).filter(expr));
        assert.deepEqual(pushed.rows, rowTexts(all.filter(fn)), `${what} in ${path.basename(dir)}`);
      }
    }
  });

  it("a row UDF over the run of null pages gets its strings as null and gives back one Utf8 column (parquet-wasm decodes those pages as a dictionary)", async () => {
    for (const dir of [plain, dictionary]) {
      const all = await rd.readParquet(dir).takeAll();
      const kept = await rd.readParquet(dir).filter((r) => (r.price as number) > 990).takeAll();
      assert.deepEqual(rowTexts(kept), rowTexts(all.filter((r) => (r.price as number) > 990)), path.basename(dir));
      assert.ok(kept.some((r) => r.name === null) && kept.some((r) => typeof r.name === "string"));
      const mapped = await rd.readParquet(dir).map((r) => r).toArrow();
      assert.equal(mapped.numRows, ROWS);
      assert.equal(String(mapped.schema.fields.find((f) => f.name === "name")!.type), "Utf8");
      assert.equal(mapped.getChild("name")!.nullCount, all.filter((r) => r.name === null).length);
    }
  });
});
