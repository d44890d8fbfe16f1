// Duplicate IDs in a checkpointed job's input: an ID committed twice in one run fails the job, naming the
// ID, the output files and the input files (with rows) that hold it — unless allowDuplicateIds is set.
// Across runs, an ID an earlier run committed is done: a resume drops it, also in a file added since.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makeVector } from "apache-arrow";
import * as rd from "../server/src/api";
import { IdKeyTable, idKeys } from "../server/src/checkpoint";
import { REPO, assertExactlyOnce, listFilesRecursive, outputIds, tempDir, writePipeline } from "./helpers";

/** Writes one Parquet file at `file` with these IDs, in this order. */
async function writeInput(file: string, ids: number[]): Promise<void> {
  const tmp = tempDir();
  rd.DataContext.reset();
  await rd.fromItems(ids.map((id) => ({ id, value: `v${id}` })), { overrideNumBlocks: 1 }).writeParquet(tmp).run();
  const [written] = listFilesRecursive(tmp).filter((f) => f.endsWith(".parquet"));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.renameSync(written, file);
  fs.rmSync(tmp, { recursive: true, force: true });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const plain = new Function("return (row) => ({ ...row, upper: row.value.toUpperCase() })")() as rd.RowFn;
const PlainClass = new Function("return class Upper { call(row) { return { ...row, upper: row.value.toUpperCase() }; } }")() as new () => { call(r: rd.Row): rd.Row };
const explode = new Function("return (row) => [{ ...row, k: 0 }, { ...row, k: 1 }]")() as rd.RowFn<rd.Row, rd.Row[]>;

describe("checkpointing: duplicate IDs in the input", function () {
  this.timeout(120_000);
  let dir: string;

  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function job(name: string, options: Partial<rd.CheckpointOptions> = {}) {
    const context = rd.DataContext.reset();
    const ckpt = path.join(dir, `${name}-ckpt`);
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ckpt, deleteCheckpointOnSuccess: false, ...options });
    return { ckpt, out: path.join(dir, `${name}-out`) };
  }

  it("twice in one file: the job fails naming the ID, the output file and both rows of the input file", async () => {
    const file = path.join(dir, "one", "a.parquet");
    await writeInput(file, [...range(0, 200), 57]);
    const { out } = job("one");
    await assert.rejects(rd.readParquet(path.dirname(file)).map(plain).writeParquet(out).run(), (e: Error) => {
      assert.match(e.message, /duplicate ID 57 in column 'id': written twice in \S+\.parquet, from input files \S+a\.parquet \(row 57\) and \S+a\.parquet \(row 200\)/);
      assert.match(e.message, /allowDuplicateIds: true/);
      return true;
    });
  });

  it("twice in one file, not next to each other, after a flatMap (its own rows of one ID are not duplicates)", async () => {
    const file = path.join(dir, "flat", "a.parquet");
    await writeInput(file, [...range(0, 200), 57]);
    const { out } = job("flat");
    await assert.rejects(rd.readParquet(path.dirname(file)).flatMap(explode).writeParquet(out).run(), /duplicate ID 57 .*\(row 57\) and .*\(row 200\)/);
    // Without the duplicate, the flatMap's two rows per ID pass.
    await writeInput(file, range(0, 200));
    const { out: out2 } = job("flat-ok");
    const result = await rd.readParquet(path.dirname(file)).flatMap(explode).writeParquet(out2).run();
    assert.equal(result.rowsOut, 400);
  });

  for (const [how, stage] of [["a function UDF", (ds: rd.Dataset) => ds.map(plain)], ["a class UDF (actor pool)", (ds: rd.Dataset) => ds.map(PlainClass, { concurrency: 1 })]] as const) {
    it(`in two files, through ${how}: the job fails naming the ID, both output files and both input files`, async () => {
      const input = path.join(dir, `two-${how.length}`);
      await writeInput(path.join(input, "a.parquet"), range(0, 100));
      await writeInput(path.join(input, "b.parquet"), [...range(100, 200), 42]);
      const { out } = job(`two-${how.length}`);
      await assert.rejects(stage(rd.readParquet(input)).writeParquet(out).run(), (e: Error) => {
        assert.match(e.message, /duplicate ID 42 in column 'id': written in \S+\.parquet and \S+\.parquet/);
        assert.match(e.message, /input files \S+a\.parquet \(row 42\) and \S+b\.parquet \(row 100\)/);
        return true;
      });
    });
  }

  it("every ID twice (an input folder holding two copies of its files), at most 256 open files: the job fails on one duplicate, naming it", async () => {
    // Each repeated ID was described at once, each reading the input files: thousands of reads at once ran out of file descriptors (EMFILE).
    const input = path.join(dir, "copies");
    for (const copy of ["a", "b"]) for (let part = 0; part < 4; part++) await writeInput(path.join(input, `${copy}-${part}.parquet`), range(part * 1000, (part + 1) * 1000));
    const file = writePipeline(dir, "copies.rdpipe.ts", `import * as rd from "rdpipe";
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ${JSON.stringify(path.join(dir, "copies-ckpt"))} });
export default rd.readParquet(${JSON.stringify(input)}).map((row) => ({ ...row, upper: String(row.value).toUpperCase() })).writeParquet(${JSON.stringify(path.join(dir, "copies-out"))});
`);
    const run = spawnSync("sh", ["-c", `ulimit -n 256 && exec "${process.execPath}" "${path.join(REPO, "bin", "rdpipe.js")}" run "${file}" --quiet`], { encoding: "utf8", timeout: 100_000 });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /duplicate ID (\d+) in column 'id': written in \S+\.parquet and \S+\.parquet, from input files \S+a-\d\.parquet \(row \d+\) and \S+b-\d\.parquet \(row \d+\)\. IDs must be unique/);
    assert.doesNotMatch(run.stderr, /EMFILE|too many open files/);
  });

  it("allowDuplicateIds: true writes every row", async () => {
    const input = path.join(dir, "allowed");
    await writeInput(path.join(input, "a.parquet"), range(0, 100));
    await writeInput(path.join(input, "b.parquet"), [...range(100, 200), 42, 7]);
    const { out } = job("allowed", { allowDuplicateIds: true });
    const result = await rd.readParquet(input).map(plain).writeParquet(out).run();
    assert.equal(result.rowsOut, 202);
    const byValue = (a: number, b: number) => a - b;
    assert.deepEqual((await outputIds(out)).sort(byValue), [...range(0, 200), 42, 7].sort(byValue));
  });

  for (const [how, stage] of [["a function UDF", (ds: rd.Dataset) => ds.map(plain)], ["a class UDF (actor pool)", (ds: rd.Dataset) => ds.map(PlainClass, { concurrency: 1 })]] as const) {
    it(`across a resume, through ${how}: an ID an earlier run committed is done, and dropped in a file added since`, async () => {
      const input = path.join(dir, `resume-${how.length}`);
      await writeInput(path.join(input, "a.parquet"), range(0, 100));
      await writeInput(path.join(input, "b.parquet"), range(100, 200));
      const first = job(`resume-${how.length}`);
      await stage(rd.readParquet(input)).writeParquet(first.out).run();
      // A file added before the resume repeats ID 5 (committed by the task that consumed a.parquet whole, so its IDs are not loaded).
      await writeInput(path.join(input, "c.parquet"), [...range(300, 350), 5, ...range(350, 400)]);
      const { out } = job(`resume-${how.length}`);
      const resumed = await stage(rd.readParquet(input)).writeParquet(out).run();
      assert.equal(resumed.progress.checkpoint!.inputFilesSkipped, 2);
      assert.equal(resumed.progress.checkpoint!.rowsAlreadyDone, 1, "ID 5 of c.parquet was dropped as already done");
      assert.equal(resumed.progress.checkpoint!.rowsCommitted, 100);
      assertExactlyOnce(await outputIds(out), [...range(0, 200), ...range(300, 400)]);
    });
  }

  it("the key table: files whose ID ranges interleave are checked key by key, and a repeat names the file it came first in", () => {
    const keys = (ids: number[]) => idKeys(makeVector(BigInt64Array.from(ids, BigInt)));
    const table = new IdKeyTable();
    const evens = range(0, 100).map((i) => i * 2 - 100);
    const odds = range(0, 100).map((i) => i * 2 - 99);
    assert.equal(table.add(keys(evens), 0, false), undefined); // kept as a sorted segment
    assert.equal(table.add(keys([...odds].reverse()), 1, false), undefined); // reaches the evens: key by key
    assert.equal(table.add(keys([1000, 1001]), 2, false), undefined); // a range of its own
    const mixed = [5000, 4, 33, 1000];
    const hits: [number, number][] = [];
    for (let hit = table.add(keys(mixed), 3, false); hit; hit = table.add(keys(mixed), 3, false, hit.next)) hits.push([hit.low | 0, hit.firstFile]);
    assert.deepEqual(hits, [[4, 0], [33, 1], [1000, 2]]);
    // Equal neighbours are one input row's rows when runs collapse; apart, they are duplicates.
    assert.equal(new IdKeyTable().add(keys([7, 7, 8]), 0, true), undefined);
    assert.equal(new IdKeyTable().add(keys([7, 8, 7]), 0, true)?.low, 7);
    assert.equal(new IdKeyTable().add(keys([7, 7, 8]), 0, false)?.low, 7);
  });

  it("string IDs: a duplicate is found by its bytes and named as the string", async () => {
    const input = path.join(dir, "strings");
    rd.DataContext.reset();
    const rows = (ids: string[]) => ids.map((key) => ({ key, value: key.length }));
    await rd.fromItems(rows(["order-1", "order-2", "order-3", "order-2"]), { overrideNumBlocks: 1 }).writeParquet(input).run();
    const context = rd.DataContext.reset();
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "key", checkpointPath: path.join(dir, "strings-ckpt") });
    await assert.rejects(rd.readParquet(input).map(new Function("return (r) => r")() as rd.RowFn).writeParquet(path.join(dir, "strings-out")).run(),
      /duplicate ID order-2 in column 'key': written twice in .*\(row 1\) and .*\(row 3\)/);
  });
});
