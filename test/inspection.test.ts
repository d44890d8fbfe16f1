// Inspection: summary(), numBlocks(), sizeBytes(), inputFiles(), and explain() in the plan inspection
// the language server and the panel get.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { inspectPlan } from "../server/src/runner/inspect";
import { tempDir } from "./helpers";

describe("inspection", function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => { tmp = tempDir("rdpipe-inspect-"); process.env.RDPIPE_CACHE_DIR = path.join(tmp, "cache"); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("summary() gives per column count, nulls, min, max, mean, std and an approximate distinct count", async () => {
    const items = Array.from({ length: 20_000 }, (_, i) => ({
      id: i, x: i % 10 === 0 ? null : (i % 100) / 4, name: i % 7 === 0 ? null : `n${i % 500}`, ok: i % 3 === 0,
    }));
    const summary = await rd.fromItems(items).summary();
    const by = new Map(summary.map((s) => [s.column, s]));
    const xs = items.map((r) => r.x).filter((x): x is number => x !== null);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1));
    const x = by.get("x")!;
    assert.deepEqual([x.count, x.nulls, x.min, x.max], [xs.length, 2000, 0.25, 24.75]);
    assert.ok(Math.abs(x.mean! - mean) < 1e-9 && Math.abs(x.std! - std) < 1e-9, `mean ${x.mean} std ${x.std}`);
    const name = by.get("name")!;
    assert.deepEqual([name.count, name.nulls, name.min, name.max, name.mean], [20_000 - 2858, 2858, "n0", "n99", null]);
    assert.ok(Math.abs(name.distinct! - 500) <= 15, `about 500 distinct names, estimated ${name.distinct}`);
    const id = by.get("id")!;
    assert.ok(Math.abs(id.distinct! - 20_000) <= 20_000 * 0.05, `about 20 000 distinct ids, estimated ${id.distinct}`);
    assert.deepEqual([by.get("ok")!.min, by.get("ok")!.max, by.get("ok")!.count], [false, true, 20_000]);
  });

  it("numBlocks() and sizeBytes() measure the output; inputFiles() lists what the reads read", async () => {
    assert.equal(await rd.range(1000, { overrideNumBlocks: 4 }).numBlocks(), 4);
    assert.equal(await rd.range(1000, { overrideNumBlocks: 4 }).sizeBytes(), 8000);
    const dir = path.join(tmp, "files");
    await rd.range(100, { overrideNumBlocks: 3 }).writeParquet(dir).run();
    const files = await rd.readParquet(dir).withColumn("y", rd.col("id").add(1)).inputFiles();
    assert.deepEqual(files, fs.readdirSync(dir).filter((f) => f.endsWith(".parquet")).map((f) => path.join(dir, f)).sort());
    assert.equal(files.length, 3);
  });

  it("the plan inspection carries explain()'s text", async () => {
    const dir = path.join(tmp, "files");
    const inspection = await inspectPlan(rd.readParquet(dir).filter(rd.col("id").lt(10)).select("id"));
    assert.match(inspection.explain!, /Optimized plan:[\s\S]*ReadParquet \[columns: id; filter: id < 10\]/);
    assert.match(inspection.explain!, /Fused stages:\n {2}ReadParquet->Filter\(\(id < 10\)\)->Select\(id\)/);
  });
});
