import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import * as rd from "../server/src/api";
import { ExecutionError } from "../server/src/exec";
import { blockBytes, blockFromRows, blockToRows } from "../server/src/block";
import { loadPipeline, PipelineLoadError } from "../server/src/loader";
import { listFilesRecursive, tempDir, writePipeline } from "./helpers";


describe("Dataset API on the streaming executor", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits.cpu = 2;
  });
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("range → map → filter → flatMap produces the exact rows", async () => {
    const rows = await rd.range(1000, { overrideNumBlocks: 7 })
      .map((r) => ({ id: r.id, sq: (r.id as number) * (r.id as number) }))
      .filter((r) => (r.id as number) % 3 === 0)
      .flatMap((r) => [r, { id: -(r.id as number), sq: r.sq }])
      .takeAll();
    const expected = [];
    for (let i = 0; i < 1000; i += 3) expected.push({ id: i, sq: i * i }, { id: 0 - i || 0, sq: i * i });
    const key = (r: rd.Row) => Number(r.id);
    assert.deepEqual(rows.sort((a, b) => key(a) - key(b)), expected.sort((a, b) => key(a) - key(b)));
  });

  it("mapBatches cuts batches of batchSize across the blocks of a file, each batch the next rows in order", async () => {
    const file = path.join(dir, "groups-of-250.parquet");
    const properties = new WriterPropertiesBuilder().setMaxRowGroupSize(250).build();
    const input = tableFromArrays({ id: Float64Array.from({ length: 750 }, (_, i) => i) });
    fs.writeFileSync(file, writeParquet(WasmTable.fromIPCStream(tableToIPC(input, "stream")), properties));
    const batches = await rd.readParquet(file)
      .mapBatches((b: rd.Columns) => { const id = b.id as Float64Array; return { first: new Float64Array(id.length).fill(id[0]), n: new Float64Array(id.length).fill(id.length) }; }, { batchSize: 300 })
      .takeAll();
    assert.deepEqual([...new Set(batches.map((r) => `${r.first}+${r.n}`))], ["0+300", "300+300", "600+150"]);
  });

  it("mapBatches sees columns, rows or Arrow as asked, in batches of batchSize", async () => {
    const sizes = await rd.range(1000, { overrideNumBlocks: 1 })
      .mapBatches((b: rd.Columns) => ({ n: new Float64Array((b.id as BigInt64Array).length).fill((b.id as BigInt64Array).length) }), { batchSize: 300 })
      .takeAll();
    assert.deepEqual([...new Set(sizes.map((r) => r.n))].sort(), [100, 300]);

    const rows = await rd.range(10).mapBatches((b: rd.Row[]) => b.map((r) => ({ double: (r.id as number) * 2 })), { batchFormat: "rows" }).takeAll();
    assert.deepEqual(rows.map((r) => r.double).sort((a, b) => (a as number) - (b as number)), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);

    const arrowRows = await rd.range(5, { overrideNumBlocks: 1 }).mapBatches((t: { numRows: number; slice(a: number, b: number): unknown }) => t.slice(0, 2), { batchFormat: "arrow" }).takeAll();
    assert.equal(arrowRows.length, 2);
  });

  it("column operations and their errors", async () => {
    rd.DataContext.getCurrent().preserveOrder = true;
    const ds = rd.fromItems([{ a: 1, b: "x", c: true }, { a: 2, b: "y", c: false }]);
    assert.deepEqual(await ds.selectColumns(["b"]).takeAll(), [{ b: "x" }, { b: "y" }]);
    assert.deepEqual(await ds.dropColumns("c").renameColumns({ a: "alpha" }).takeAll(), [{ alpha: 1, b: "x" }, { alpha: 2, b: "y" }]);
    assert.deepEqual((await ds.addColumn("a2", (b) => Array.from(b.a as ArrayLike<number>, (v) => v * 2)).takeAll()).map((r) => r.a2), [2, 4]);
    await assert.rejects(ds.selectColumns(["nope"]).takeAll(), /SelectColumns\(nope\): unknown column 'nope'; the columns are 'a', 'b', 'c'/);
  });

  it("limit, count, take, takeBatch, iterBatches, iterRows, schema, columns, materialize, toArrow", async () => {
    const ds = rd.range(10_000, { overrideNumBlocks: 10 });
    assert.equal(await ds.count(), 10_000);
    assert.equal((await ds.limit(25).takeAll()).length, 25);
    assert.equal((await ds.take(3)).length, 3);
    const batch = await ds.takeBatch(5) as rd.Columns;
    assert.equal((batch.id as ArrayLike<unknown>).length, 5);
    let seen = 0;
    for await (const b of ds.iterBatches({ batchSize: 4096 })) {
      const len = ((b as rd.Columns).id as ArrayLike<unknown>).length;
      seen += len;
      assert.ok(len === 4096 || seen === 10_000, `batch of ${len}`);
    }
    assert.equal(seen, 10_000);
    let rows = 0;
    for await (const _ of ds.limit(100).iterRows()) rows++;
    assert.equal(rows, 100);
    assert.deepEqual(await ds.columns(), ["id"]);
    assert.equal(String((await ds.schema()).fields[0].type), "Int64");
    const mat = await ds.map((r) => ({ id: r.id, half: (r.id as number) / 2 })).materialize();
    assert.equal(await mat.count(), 10_000);
    assert.equal((await mat.toArrow()).numRows, 10_000);
    assert.match(mat.stats(), /Operator 0 FromBlocks/);
  });

  it("sort, randomShuffle, repartition, groupBy, union, zip", async () => {
    const items = Array.from({ length: 500 }, (_, i) => ({ id: i, k: `g${i % 7}`, v: (i * 13) % 101 }));
    const ds = rd.fromItems(items, { overrideNumBlocks: 5 });
    const sorted = await ds.sort("v", { descending: true }).takeAll();
    assert.deepEqual(sorted.map((r) => r.v), items.map((r) => r.v).sort((a, b) => b - a));
    const shuffled = await ds.randomShuffle({ seed: 42 }).takeAll();
    assert.deepEqual(shuffled.map((r) => r.id).sort((a, b) => (a as number) - (b as number)), items.map((r) => r.id));
    assert.notDeepEqual(shuffled.map((r) => r.id), items.map((r) => r.id));
    assert.equal((await ds.repartition(3).materialize().then((m) => m.toArrow())).numRows, 500);
    const groups = await ds.groupBy("k").sum("v").takeAll();
    const expected = new Map<string, number>();
    for (const r of items) expected.set(r.k, (expected.get(r.k) ?? 0) + r.v);
    assert.equal(groups.length, 7);
    for (const g of groups) assert.equal(Number(g["sum(v)"]), expected.get(g.k as string));
    assert.equal(await ds.union(ds, ds).count(), 1500);
    const zipped = await rd.range(4, { overrideNumBlocks: 2 }).zip(rd.range(4, { overrideNumBlocks: 1 }).map((r) => ({ id: (r.id as number) * 10 }))).takeAll();
    assert.deepEqual(zipped.map((r) => [r.id, r.id_1]).sort((a, b) => (a[0] as number) - (b[0] as number)), [[0, 0], [1, 10], [2, 20], [3, 30]]);
    assert.equal((await ds.groupBy("k").count().takeAll()).reduce((s, r) => s + Number(r["count()"]), 0), 500);
  });

  it("zip pairs rows by position through union and repartition", async () => {
    const left = rd.range(3000, { overrideNumBlocks: 3 }).union(rd.range(2000, { overrideNumBlocks: 2 }).map((r) => ({ id: (r.id as number) + 3000 })));
    const zipped = await left.repartition(4).zip(rd.range(5000, { overrideNumBlocks: 5 }).map((r) => ({ n: r.id }))).takeAll();
    assert.equal(zipped.length, 5000);
    assert.equal(zipped.filter((r) => r.id !== r.n).length, 0, "zip paired rows from different positions");
  });

  it("errors of tasks a satisfied limit no longer needs do not fail the job", async () => {
    const rows = await rd.range(100, { overrideNumBlocks: 2 })
      .map(async function lateFailure(r) {
        if ((r.id as number) < 50) return r;
        await new Promise((resolve) => setTimeout(resolve, 500)); // fails after the limit is satisfied
        throw new Error("not needed");
      })
      .limit(5).union(rd.range(3)).takeAll();
    assert.equal(rows.length, 8);
    // The unneeded task still sleeps in its worker for up to 500 ms: the next test's job would queue a task behind it.
    await new Promise((resolve) => setTimeout(resolve, 700));
  });

  it("names the right row after blocks were split, and no position once a filter changed row counts", async () => {
    rd.DataContext.getCurrent().targetMaxBlockSize = 64 * 1024;
    const split = await rd.range(100_000, { overrideNumBlocks: 1 }).limit(100_000)
      .map(function at(r) { if (r.id === 77_777) throw new Error("x"); return r; }).takeAll().catch((e: ExecutionError) => e);
    assert.match(String((split as Error).message), /Map\(at\) failed on row 77777:/);
    const fused = await rd.range(1000, { overrideNumBlocks: 1 }).filter((r) => (r.id as number) % 2 === 0)
      .map(function fusedRow(r) { if (r.id === 500) throw new Error("w"); return r; }).takeAll().catch((e: ExecutionError) => e);
    assert.match(String((fused as Error).message), /Map\(fusedRow\) failed on row 500:/, "fused row steps keep input positions");
    const filtered = await rd.range(1000, { overrideNumBlocks: 1 })
      .mapBatches((b: rd.Columns) => ({ id: (b.id as BigInt64Array).filter((v) => v % 2n === 0n) }))
      .map(function later(r) { if (r.id === 500) throw new Error("y"); return r; }).takeAll().catch((e: ExecutionError) => e);
    assert.match(String((filtered as Error).message), /Map\(later\) failed on a row: Error: y\n  row: \{"id":500\}/);
    const items = await rd.fromItems(Array.from({ length: 100 }, (_, i) => ({ x: i })), { overrideNumBlocks: 10 })
      .map(function item(r) { if (r.x === 42) throw new Error("z"); return r; }).takeAll().catch((e: ExecutionError) => e);
    assert.match(String((items as Error).message), /Map\(item\) failed on row 42:/);
  });

  it("keeps memory bounded when union feeds a downstream stage", async () => {
    const ctx = rd.DataContext.getCurrent();
    ctx.resourceLimits.memoryBytes = 32 * 1024 * 1024;
    const padded = () => rd.range(300_000, { overrideNumBlocks: 2 }).map((r) => ({ id: r.id, pad: "x".repeat(1000) }));
    const ds = padded().union(padded()).map((r) => ({ id: r.id }));
    assert.equal(await ds.count(), 600_000);
    // What the budget counted (queues and reservations), which bounds what blocks held.
    const peak = ds.lastRun()?.peakReservedBytes ?? Infinity;
    assert.ok(peak <= 48 * 1024 * 1024, `peak block memory ${peak} for a 32 MiB budget (600 MB of data)`);
  });

  it("a UDF that throws fails the job with its operator, row position and row", async () => {
    const err = await rd.range(100, { overrideNumBlocks: 2 })
      .map(function explode(r) { if (r.id === 57) throw new Error("bad value"); return r; })
      .takeAll().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ExecutionError, String(err));
    assert.match(err.message, /Map\(explode\) failed on row 57: Error: bad value/);
    assert.match(err.message, /row: \{"id":57\}/);
    assert.equal(err.info?.row, 57);
  });

  it("maxErroredBlocks tolerates failing blocks", async () => {
    rd.DataContext.getCurrent().maxErroredBlocks = 1;
    const rows = await rd.range(100, { overrideNumBlocks: 4 })
      .map((r) => { if (r.id === 10) throw new Error("one bad block"); return r; })
      .takeAll();
    assert.equal(rows.length, 75);
  });

  it("ends a hung UDF after the task timeout", async () => {
    rd.DataContext.getCurrent().taskTimeoutMs = 1500;
    const started = Date.now();
    await assert.rejects(
      rd.range(10, { overrideNumBlocks: 1 }).map((r) => { for (;;) { if (r.id === -1) break; } return r; }).takeAll(),
      /reported nothing for 1\.5s and was ended as hung/);
    assert.ok(Date.now() - started < 15_000);
  });

  it("retries a task whose worker exited, without duplicating its output", async () => {
    const marker = path.join(dir, "exited-once");
    const file = writePipeline(dir, "exit-once.rdpipe.ts", `
      import * as rd from "rdpipe";
      import fs from "node:fs";
      export default rd.range(40_000, { overrideNumBlocks: 2 }).map((r) => {
        if (r.id === 30_000 && !fs.existsSync(${JSON.stringify(marker)})) {
          fs.writeFileSync(${JSON.stringify(marker)}, "x");
          process.exit(3);
        }
        return r;
      });`);
    rd.DataContext.getCurrent().targetMaxBlockSize = 16 * 1024; // several outputs per task before the exit
    const rows = await (await loadPipeline(file)).takeAll();
    assert.ok(fs.existsSync(marker), "the UDF never exited its worker");
    const ids = rows.map((r) => r.id as number).sort((a, b) => a - b);
    assert.equal(ids.length, 40_000);
    assert.ok(ids.every((id, i) => id === i), "rows lost or duplicated");
  });

  it("fails with a clear error after repeated worker loss", async () => {
    const file = writePipeline(dir, "always-exit.rdpipe.ts", `
      import * as rd from "rdpipe";
      export default rd.range(10, { overrideNumBlocks: 1 }).map(function quit(r) { process.exit(7); return r; });`);
    rd.DataContext.getCurrent().maxTaskRetries = 2;
    await assert.rejects((await loadPipeline(file)).takeAll(), /Map\(quit\): the worker running this task exited with code 7 \(after 3 attempts\)/);
  });

  it("keeps queued blocks within the memory budget when the consumer is slow", async () => {
    const ctx = rd.DataContext.getCurrent();
    ctx.targetMaxBlockSize = 1024 * 1024;
    ctx.resourceLimits.memoryBytes = 4 * 1024 * 1024;
    const ds = rd.range(2_000_000, { overrideNumBlocks: 40 }).map((r) => ({ id: r.id, pad: (r.id as number) * 2 }));
    let rows = 0;
    for await (const batch of ds.iterBatches({ batchFormat: "arrow" })) {
      rows += (batch as { numRows: number }).numRows;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(rows, 2_000_000);
    // Without backpressure all 2M × 16 bytes (32 MB) would pile up in the consumer queue.
    const peak = ds.lastRun()?.peakReservedBytes;
    assert.ok(peak !== undefined && peak <= 4 * 1024 * 1024 + 2 * 1024 * 1024, `peak ${peak} exceeds the budget`);
  });
});

describe("pipeline files", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("loads a default-exported Dataset or (async) function, with rdpipe resolving to the engine", async () => {
    const a = writePipeline(dir, "a.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(5).map((r) => ({ x: (r.id as number) + 1 }));`);
    assert.deepEqual((await (await loadPipeline(a)).takeAll()).map((r) => r.x).sort(), [1, 2, 3, 4, 5]);
    const b = writePipeline(dir, "b.rdpipe.ts", `import * as rd from "rdpipe";\nconst k: number = 10;\nexport default async () => rd.range(3).map((r) => ({ y: (r.id as number) * k }));`);
    assert.deepEqual((await (await loadPipeline(b)).takeAll()).map((r) => r.y).sort((p, q) => (p as number) - (q as number)), [0, 10, 20]);
  });

  it("names file and line for syntax errors, throws at load and a missing default export", async () => {
    const syntax = writePipeline(dir, "syntax.rdpipe.ts", `import * as rd from "rdpipe";\n\nexport default rd.range(3).map((r) => ({ x: r.id );\n`);
    await assert.rejects(loadPipeline(syntax), (e: Error) => e instanceof PipelineLoadError && /syntax\.rdpipe\.ts:3:\d+: Expected/.test(e.message));
    const throws = writePipeline(dir, "throws.rdpipe.ts", `import * as rd from "rdpipe";\nvoid rd;\n\nthrow new Error("config missing");\n`);
    await assert.rejects(loadPipeline(throws), /loading .*throws\.rdpipe\.ts failed: config missing \(at .*throws\.rdpipe\.ts:4:\d+\)/);
    const nodefault = writePipeline(dir, "nodefault.rdpipe.ts", `import * as rd from "rdpipe";\nexport const ds = rd.range(3);\n`);
    await assert.rejects(loadPipeline(nodefault), /nodefault\.rdpipe\.ts has no default export/);
    const wrong = writePipeline(dir, "wrong.rdpipe.ts", `export default 42;\n`);
    await assert.rejects(loadPipeline(wrong), /must be a Dataset or a function returning one, got number/);
  });

  it("UDFs use module-level values in workers, and errors point into the pipeline file", async () => {
    const file = writePipeline(dir, "udf.rdpipe.ts", `import * as rd from "rdpipe";
const FACTOR = 3;
function scale(r: rd.Row) {
  if (r.id === 4) throw new RangeError("four is not allowed");
  return { v: (r.id as number) * FACTOR };
}
export default rd.range(10).map(scale);
`);
    const err = await (await loadPipeline(file)).takeAll().then(() => undefined, (e: ExecutionError) => e);
    assert.ok(err instanceof ExecutionError);
    assert.match(err.message, /Map\(scale\) failed on row 4: RangeError: four is not allowed/);
    assert.match(err.info?.stack ?? "", /udf\.rdpipe\.ts:4:/);
  });

  it("stack frames in a pipeline name its lines by the engine's own mapping, with Node's source maps turned off", async () => {
    const file = writePipeline(dir, "probe.rdpipe.ts", `import * as rd from "rdpipe";
function failing(): never {
  throw new Error("where am I");
}
(globalThis as Record<string, unknown>).rdpipeStackProbe = failing;
export default rd.range(1);
`);
    await loadPipeline(file);
    const probe = (globalThis as Record<string, unknown>).rdpipeStackProbe as () => never;
    delete (globalThis as Record<string, unknown>).rdpipeStackProbe;
    // Node's mapping off: only the engine's own can name the pipeline's line (the bundle puts it lower).
    process.setSourceMapsEnabled(false);
    let stack = "";
    try {
      probe();
    } catch (e) {
      stack = (e as Error).stack ?? "";
    } finally {
      process.setSourceMapsEnabled(true);
    }
    assert.match(stack, /^Error: where am I\n    at failing \(.*probe\.rdpipe\.ts:3:9\)\n/, stack);
  });

  it("fails naming both files when columns differ across files read by different tasks, writing nothing", async () => {
    const input = path.join(dir, "drift");
    fs.mkdirSync(input, { recursive: true });
    fs.writeFileSync(path.join(input, "a.jsonl"), '{"id": 1, "name": "x"}\n{"id": 2, "name": "y"}\n');
    fs.writeFileSync(path.join(input, "b.jsonl"), '{"id": 3, "label": "z"}\n');
    const out = path.join(dir, "drift-out");
    const file = writePipeline(dir, "drift.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.readJson(${JSON.stringify(input)}, { overrideNumBlocks: 2 }).writeParquet(${JSON.stringify(out)});
`);
    await assert.rejects((await loadPipeline(file)).run(), /columns differ across files: .*[ab]\.jsonl has \{.*\} but .*[ab]\.jsonl has/);
    assert.deepEqual(listFilesRecursive(out), []);
  });

  it("schema() of a Parquet read comes from the footer, with partition columns and projection as a read gives", async () => {
    const root = path.join(dir, "schema-src");
    for (const region of ["eu", "us"]) {
      await rd.range(100, { overrideNumBlocks: 1 }).map((r) => ({ id: r.id, score: (r.id as number) / 3, name: `n${r.id}` }))
        .writeParquet(path.join(root, `region=${region}`)).run();
    }
    for (const options of [{}, { columns: ["name", "region"] }, { includePaths: true }]) {
      const ds = rd.readParquet(root, options);
      const fromFooter = await ds.schema();
      const fromData = (await ds.limit(1).toArrow()).schema;
      assert.deepEqual(fromFooter.fields.map((f) => `${f.name}:${f.type}`), fromData.fields.map((f) => `${f.name}:${f.type}`));
    }
    // The read's decoded size is estimated from footers (close to what the blocks hold).
    const estimated = (await rd.readParquet(root).run()).progress.operators[0].inMemoryBytesEstimated ?? 0;
    const actual = blockBytes(await rd.readParquet(root).toArrow());
    assert.ok(estimated > actual / 3 && estimated < actual * 3, `estimated ${estimated} bytes, blocks hold ${actual}`);
    // With its data pages scrambled and its footer intact, a file still has a schema, but no rows.
    const broken = path.join(dir, "schema-broken");
    fs.mkdirSync(broken);
    const source = listFilesRecursive(path.join(root, "region=eu"))[0];
    const bytes = fs.readFileSync(source);
    bytes.fill(0x7f, 4, Math.min(bytes.length - 1024, 600));
    fs.writeFileSync(path.join(broken, "part.parquet"), bytes);
    assert.deepEqual((await rd.readParquet(broken).schema()).fields.map((f) => f.name), ["id", "score", "name"]);
    await assert.rejects(rd.readParquet(broken).take(1), /part\.parquet/);
  });

  it("a failed write leaves no output files behind", async () => {
    const out = path.join(dir, "out-failed");
    const file = writePipeline(dir, "failwrite.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(50_000, { overrideNumBlocks: 5 })
  .map((r) => { if (r.id === 45_000) throw new Error("late failure"); return r; })
  .writeJson(${JSON.stringify(out)});
`);
    await assert.rejects((await loadPipeline(file)).run(), /late failure/);
    assert.deepEqual(listFilesRecursive(out), []);
  });
});

describe("blocks from rows", () => {
  it("infers list and struct columns when some rows hold null", () => {
    const rows = [{ tags: ["a", "b"], meta: { n: 1 } }, { tags: null, meta: null }, { tags: ["c"], meta: { n: 2 } }];
    assert.deepEqual(blockToRows(blockFromRows(rows)), rows);
  });
});
