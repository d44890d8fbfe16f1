// Data integrity of values and schemas: missing values are nulls in every column type and path, one
// dataset has one schema (lossless casts, else an error naming the operator, column, types and row),
// and the schema-level errors of reads and of GET /schema name what is wrong and where.
import assert from "node:assert/strict";
import type { Table } from "apache-arrow";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { blockFromColumns, blockFromRows, blockToRows, conformBlock, schemaFromIPC } from "../server/src/block";
import { listFiles, readFileBlocks } from "../server/src/io";
import { listFilesRecursive, runCli, tempDir, writePipeline } from "./helpers";
import { raw, startServer, type ServerProcess } from "./server-helpers";

const typesOf = async (ds: rd.Dataset) => (await ds.schema()).fields.map((f) => `${f.name}: ${f.type}`);

describe("data integrity: nulls and one schema per dataset", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits.cpu = 2;
  });
  before(() => { dir = tempDir("rdpipe-integrity-"); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("undefined, a missing key and null are null", () => {
    it("in a row UDF's numbers and booleans (the issue's example)", async () => {
      const rows = await rd.range(6).map((r) => ((r.id as number) % 2 ? { id: r.id, y: 2.5, f: true } : { id: r.id })).takeAll();
      rows.sort((a, b) => Number(a.id) - Number(b.id));
      assert.deepEqual(rows.map((r) => [r.y, r.f]), [[null, null], [2.5, true], [null, null], [2.5, true], [null, null], [2.5, true]]);
    });

    it("in every column type and in nested children, written to Parquet and read back", async () => {
      const out = path.join(dir, "types");
      await rd.range(4, { overrideNumBlocks: 1 }).map((r) => {
        const id = r.id as number;
        if (id === 0) return { id, n: 1.5, i: 7n, b: false, d: new Date(86_400_000), bin: new Uint8Array([1, 2]), l: [1, 2], s: { a: 1, t: "x" }, str: "s" };
        if (id === 1) return { id, n: undefined, i: undefined, b: undefined, d: undefined, bin: undefined, l: undefined, s: undefined, str: undefined };
        if (id === 2) return { id, n: null, i: null, b: null, d: null, bin: null, l: [undefined, 3, null], s: { a: undefined }, str: null };
        return { id };
      }).writeParquet(out).run();
      const rows = (await rd.readParquet(out).takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
      const nullRow = { n: null, i: null, b: null, d: null, bin: null, l: null, s: null, str: null };
      const pick = (r: rd.Row) => Object.fromEntries(Object.keys(nullRow).map((k) => [k, r[k]]));
      assert.deepEqual(pick(rows[1]), nullRow);
      assert.deepEqual(pick(rows[3]), nullRow);
      assert.deepEqual(rows[2].l, [null, 3, null]);
      assert.deepEqual(rows[2].s, { a: null, t: null });
      assert.deepEqual(rows[0].l, [1, 2]);
      assert.equal(rows[0].b, false);
      assert.equal(rows[0].i, 7);
    });

    it("in batch UDFs, in the columns and the rows formats", async () => {
      const columns = await rd.range(6, { overrideNumBlocks: 1 })
        .mapBatches((b: rd.Columns) => ({
          id: b.id,
          y: Array.from(b.id as BigInt64Array, (v) => (v % 2n ? 2.5 : undefined)),
          f: Array.from(b.id as BigInt64Array, (v) => (v % 2n ? true : undefined)),
        })).takeAll();
      assert.deepEqual(columns.map((r) => [r.y, r.f]), [[null, null], [2.5, true], [null, null], [2.5, true], [null, null], [2.5, true]]);
      const rows = await rd.range(4, { overrideNumBlocks: 1 })
        .mapBatches((b: rd.Row[]) => b.map((r) => ((r.id as number) % 2 ? { id: r.id, y: 1, f: false } : { id: r.id, y: undefined })), { batchFormat: "rows" })
        .takeAll();
      assert.deepEqual(rows.map((r) => [r.y, r.f]), [[null, null], [1, false], [null, null], [1, false]]);
    });

    it("in fromItems, even when a whole block lacks a key", async () => {
      const items = [{ a: 1 }, { a: 2 }, { b: true }, { b: false }];
      const ds = rd.fromItems(items, { overrideNumBlocks: 2 });
      assert.deepEqual(await ds.takeAll(), [{ a: 1, b: null }, { a: 2, b: null }, { a: null, b: true }, { a: null, b: false }]);
    });

    it("in JSON Lines read and written to Parquet: missing keys read back as nulls, never NaN or false", async () => {
      const input = path.join(dir, "sparse.jsonl");
      fs.writeFileSync(input, ['{"id":1,"y":2.5,"f":true}', '{"id":2}', '{"id":3,"y":null,"f":null}', '{"id":4,"y":4.5,"f":false}'].join("\n"));
      const out = path.join(dir, "sparse-out");
      await rd.readJson(input).writeParquet(out).run();
      const table = await rd.readParquet(out).toArrow();
      assert.equal(table.getChild("y")!.nullCount, 2);
      assert.equal(table.getChild("f")!.nullCount, 2);
      const rows = (await rd.readParquet(out).takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
      assert.deepEqual(rows.map((r) => [r.y, r.f]), [[2.5, true], [null, null], [null, null], [4.5, false]]);
    });
  });

  describe("one schema per dataset", () => {
    it("refuses a write whose column turns from numbers to strings in a later block, naming operator, column, types and row", async () => {
      const out = path.join(dir, "drift");
      const error = await rd.range(100_000, { overrideNumBlocks: 4 })
        .map(function drift(r) { return { id: r.id, x: (r.id as number) < 50_000 ? r.id as number : String(r.id) }; })
        .writeParquet(out).run().then(() => undefined, (e: Error) => e);
      assert.ok(error, "the write must fail");
      assert.match(error.message, /Map\(drift\)/);
      assert.match(error.message, /column 'x'/);
      assert.match(error.message, /Float64/);
      assert.match(error.message, /Utf8/);
      assert.match(error.message, /row (0|25000|50000|75000)\b/);
      assert.deepEqual(listFilesRecursive(out).filter((f) => f.endsWith(".parquet")), [], "no file of either schema is left");
    });

    it("casts int64 and whole float64 blocks to the first block's type, so the written folder reads back", async () => {
      const out = path.join(dir, "widen");
      // Some blocks come back as Int64 (the id column itself), others as Float64 of the same whole values.
      await rd.range(8000, { overrideNumBlocks: 4 })
        .mapBatches(function widen(b: rd.Columns) {
          const ids = b.id as BigInt64Array;
          return { id: ids, v: ids[0] < 4000n ? BigInt64Array.from(ids) : Float64Array.from(ids, Number) };
        })
        .writeParquet(out).run();
      assert.ok(listFilesRecursive(out).length >= 2);
      const back = rd.readParquet(out);
      const rows = (await back.takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
      assert.equal(rows.length, 8000);
      rows.forEach((r, i) => assert.equal(r.v, i));
      const types = await typesOf(back);
      assert.ok(types.includes("v: Int64") || types.includes("v: Float64"), types.join(", "));
    });

    it("types a column null in every row of the first blocks by the first block with values, in every file written", async () => {
      const out = path.join(dir, "null-first");
      await rd.range(8000, { overrideNumBlocks: 4 })
        .map(function lateValues(r) { const id = r.id as number; return { id, y: id >= 4000 ? id * 0.5 : null }; })
        .writeParquet(out).run();
      const table = await rd.readParquet(out).toArrow();
      assert.equal(table.numRows, 8000);
      assert.equal(table.getChild("y")!.nullCount, 4000);
      assert.equal(String(table.schema.fields.find((f) => f.name === "y")!.type), "Float64");
    });

    it("casts only when no value changes: a fraction, or an integer past 2^53 as a float, is refused naming column, types and row", () => {
      const intBlock = blockFromColumns({ v: BigInt64Array.from([1n, 2n]) });
      const floats = blockFromColumns({ v: Float64Array.from([3, 4.5]) });
      assert.throws(() => conformBlock(floats, intBlock.schema, (row) => `row ${row + 10} of f.csv`),
        /column 'v' is Int64 in the dataset's schema \(fixed by its first block\) but Float64 at row 11 of f\.csv \(4\.5\)/);
      const whole = conformBlock(blockFromColumns({ v: Float64Array.from([3, 4]) }), intBlock.schema);
      assert.deepEqual(blockToRows(whole), [{ v: 3 }, { v: 4 }]);
      assert.equal(String(whole.schema.fields[0].type), "Int64");
      const big = blockFromColumns({ v: BigInt64Array.from([2n ** 53n + 1n]) });
      assert.throws(() => conformBlock(big, floats.schema), /Float64 .* but Int64 at row 0 .*cannot hold exactly/);
      const allNull = blockFromRows([{ v: null }, { v: undefined }]);
      assert.equal(conformBlock(allNull, intBlock.schema).getChild("v")!.nullCount, 2);
      assert.throws(() => conformBlock(blockFromRows([{ v: "x" }]), intBlock.schema), /column 'v' is Int64 .* but Utf8 at row 0/);
    });

    it("gives consumers one schema: take and iterBatches see every block cast or the job fails naming the column", async () => {
      rd.DataContext.getCurrent().resourceLimits.cpu = 1; // tasks in order: the block with every column comes first
      const ds = rd.range(4000, { overrideNumBlocks: 4 }).map(function missingLater(r) {
        const id = r.id as number;
        return id < 1000 ? { id, y: id * 1.5, s: "a" } : { s: "b", id };
      });
      const schemas = new Set<string>();
      let n = 0;
      for await (const batch of ds.iterBatches({ batchFormat: "arrow" })) {
        schemas.add((batch as Table).schema.fields.map((f) => `${f.name}: ${f.type}`).join(", "));
        n += (batch as Table).numRows;
      }
      assert.equal(n, 4000);
      assert.equal(schemas.size, 1, [...schemas].join(" | "));
      const table = await ds.toArrow();
      assert.equal(table.getChild("y")!.nullCount, 3000);

      const extra = rd.range(4000, { overrideNumBlocks: 4 }).map(function extraLater(r) {
        const id = r.id as number;
        return id < 1000 ? { id } : { id, z: true };
      });
      await assert.rejects(extra.takeAll(), /Map\(extraLater\).*column 'z'.*not in the dataset's schema/s);
    });

    it("holds at an all-to-all input: a sort over drifting blocks fails naming the column", async () => {
      const ds = rd.range(4000, { overrideNumBlocks: 4 })
        .map(function drift2(r) { const id = r.id as number; return { id, x: id < 1000 ? true : id }; })
        .sort("id");
      await assert.rejects(ds.takeAll(), (e: Error) => /Map\(drift2\)/.test(e.message) && /column 'x'/.test(e.message) && /Bool/.test(e.message) && /Float64/.test(e.message));
    });
  });

  describe("reads and batch errors", () => {
    it("keeps a header-only CSV's columns as string columns with zero rows", async () => {
      const file = path.join(dir, "header-only.csv");
      fs.writeFileSync(file, "a,b,c\n");
      const ds = rd.readCsv(file);
      assert.deepEqual(await ds.columns(), ["a", "b", "c"]);
      assert.equal(await ds.count(), 0);
      assert.deepEqual(await typesOf(ds), ["a: Utf8", "b: Utf8", "c: Utf8"]);
    });

    it("blames a batch UDF's wrong-length column on the batch (operator, file, row range), not on row 0", async () => {
      const file = path.join(dir, "batch.jsonl");
      fs.writeFileSync(file, Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i })).join("\n"));
      const error = await rd.readJson(file)
        .mapBatches(function shortColumn(b: rd.Columns) { return { id: b.id, y: [1, 2, 3] }; }, { batchSize: 20 })
        .takeAll().then(() => undefined, (e: Error) => e);
      assert.ok(error);
      assert.match(error.message, /MapBatches\(shortColumn\)/);
      assert.match(error.message, /batch of rows 0–19/);
      assert.ok(error.message.includes(file), error.message);
      assert.match(error.message, /column 'y' has 3 values/);
      assert.doesNotMatch(error.message, /on row 0/);
    });
  });
});

describe("one schema per dataset across a checkpoint resume, from the CLI", function () {
  this.timeout(180_000);
  let dir: string;
  let input: string;
  before(async () => {
    rd.DataContext.reset();
    dir = tempDir("rdpipe-resume-schema-");
    input = path.join(dir, "input");
    await rd.range(4000, { overrideNumBlocks: 8 }).writeParquet(input).run();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A checkpointed job of `name` whose map gives x as `x` (an expression of id); it throws at id 3000 when `failAt3000`. */
  function pipeline(name: string, x: string, failAt3000: boolean): string {
    return writePipeline(dir, `${name}.rdpipe.ts`, `import * as rd from "rdpipe";
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ${JSON.stringify(path.join(dir, `${name}-checkpoint`))} });
rd.DataContext.getCurrent().resourceLimits.cpu = 2;
function withX(r: rd.Row) {
  const id = Number(r.id);
  ${failAt3000 ? 'if (id === 3000) throw new Error("stop at 3000");' : ""}
  return { id, x: ${x} };
}
export default rd.readParquet(${JSON.stringify(input)}).map(withX).writeParquet(${JSON.stringify(path.join(dir, name))});
`);
  }

  /** The type of column x in each Parquet file of the folder. */
  async function typesOfX(folder: string): Promise<string[]> {
    const types: string[] = [];
    for (const file of await listFiles(folder, { fileExtensions: ["parquet"] })) {
      for await (const { block } of readFileBlocks({ format: "parquet", files: [file], options: { targetBlockBytes: 1 << 30 } })) {
        types.push(String(block.schema.fields.find((f) => f.name === "x")!.type));
        break;
      }
    }
    return types;
  }

  /** Runs the first attempt, which commits files for ids below 3000 and fails at 3000. */
  function firstAttempt(name: string, x: string): void {
    const first = runCli(["run", pipeline(name, x, true), "--quiet"], { cwd: dir });
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /stop at 3000/);
    assert.ok(listFilesRecursive(path.join(dir, `${name}-checkpoint`, "committed")).length > 0, "the first attempt committed files");
    assert.ok(fs.existsSync(path.join(dir, `${name}-checkpoint`, "schema.arrow")), "the write's schema is recorded");
  }

  it("a resume whose rows give x another type fails naming the column and the recorded and new types, and writes no file of the new schema", async () => {
    firstAttempt("drift", '"a"');
    assert.ok((await typesOfX(path.join(dir, "drift"))).every((t) => t === "Utf8"));
    const resumed = runCli(["run", pipeline("drift", "id + 0.5", false), "--quiet"], { cwd: dir });
    assert.equal(resumed.code, 1, "the resume must fail");
    assert.match(resumed.stderr, /column 'x' is Utf8 in the dataset's schema \(fixed by an earlier attempt of this job \(recorded in \S*drift-checkpoint\/schema\.arrow\)\) but Float64 at row \d+ of \S+\.parquet/);
    const types = await typesOfX(path.join(dir, "drift"));
    assert.ok(types.length > 0 && types.every((t) => t === "Utf8"), types.join(", "));
    await rd.readParquet(path.join(dir, "drift")).takeAll();
  });

  it("a column null in the first blocks: the record is rewritten once a block gives it a type, and a resume holds to that type", async () => {
    firstAttempt("late", "id < 1000 ? null : 1.5");
    const recorded = schemaFromIPC(fs.readFileSync(path.join(dir, "late-checkpoint", "schema.arrow")));
    assert.equal(String(recorded.fields.find((f) => f.name === "x")!.type), "Float64");
    const resumed = runCli(["run", pipeline("late", '"a"', false), "--quiet"], { cwd: dir });
    assert.equal(resumed.code, 1, "the resume must fail");
    assert.match(resumed.stderr, /column 'x' is Float64 in the dataset's schema \(fixed by an earlier attempt .*\) but Utf8/);
  });

  it("a resume whose rows are whole numbers where the first attempt fixed Float64 writes them as Float64: the folder reads back", async () => {
    firstAttempt("widen", "id / 2");
    // BigInt: the resume's x is Int64, whole numbers the first attempt's Float64 holds exactly.
    const resumed = runCli(["run", pipeline("widen", "BigInt(id)", false), "--quiet"], { cwd: dir });
    assert.equal(resumed.code, 0, resumed.stderr);
    const out = path.join(dir, "widen");
    assert.deepEqual([...new Set(await typesOfX(out))], ["Float64"]);
    const rows = (await rd.readParquet(out).takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
    assert.equal(rows.length, 4000);
    // Rows the first attempt committed have id / 2; the resume wrote the others, id itself.
    rows.forEach((r, i) => assert.ok(r.x === i / 2 || r.x === i, `row ${i}: x ${String(r.x)}`));
    assert.ok(rows.some((r, i) => i % 2 === 1 && r.x === i / 2), "rows of the first attempt are there");
    assert.ok(rows[3001].x === 3001, "rows of the resume are there");
    assert.equal(fs.existsSync(path.join(dir, "widen-checkpoint")), false, "the checkpoint, its schema record included, is deleted after success");
  });
});

describe("GET /schema on folders readParquet would refuse", function () {
  this.timeout(60_000);
  let root: string;
  let stateDir: string;
  let server: ServerProcess;

  before(async () => {
    rd.DataContext.reset();
    root = tempDir("rdpipe-schema-root-");
    stateDir = tempDir("rdpipe-schema-state-");
    await rd.range(10).map((r) => ({ id: r.id, x: 1.5 })).writeParquet(path.join(root, "mixed", "a")).run();
    await rd.range(10).map((r) => ({ id: r.id, x: "text" })).writeParquet(path.join(root, "mixed", "b")).run();
    fs.mkdirSync(path.join(root, "empty"));
    server = await startServer(["--root", root, "--state-dir", stateDir]);
  });
  after(async () => {
    await server?.stop();
    for (const d of [root, stateDir]) fs.rmSync(d, { recursive: true, force: true });
  });

  it("answers 422 naming both files and both types when the files' columns differ", async () => {
    const files = listFilesRecursive(path.join(root, "mixed"));
    const res = await raw(`${server.url}/schema?path=mixed`);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal((res.body as { error: { code: string } }).error.code, "data_unreadable");
    const message = (res.body as { error: { message: string } }).error.message;
    for (const file of files) assert.ok(message.includes(path.basename(file)), message);
    assert.match(message, /column 'x'/);
    assert.match(message, /Float64/);
    assert.match(message, /Utf8/);
    await assert.rejects(rd.readParquet(path.join(root, "mixed")).takeAll(), /columns differ across files/);
  });

  it("names the folder when it holds no Parquet files", async () => {
    const res = await raw(`${server.url}/schema?path=empty`);
    assert.equal(res.status, 422);
    const message = (res.body as { error: { message: string } }).error.message;
    assert.ok(message.includes(path.join(fs.realpathSync(root), "empty")), message);
  });
});
