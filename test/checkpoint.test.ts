// Job-level checkpointing in process: plan rejections, fail → fix → resume, skip → fix → resume,
// errored-row budgets, files consumed whole are not read again, both backends.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as rd from "../server/src/api";
import { CheckpointReader } from "../server/src/checkpoint";
import { REPO, assertExactlyOnce, listFilesRecursive, outputIds, runCli, tempDir } from "./helpers";

/** Writes `files` Parquet files of `rowsPerFile` rows: id (unique int), value (row "bad" where id % badEvery === 0). */
async function makeInput(dir: string, files: number, rowsPerFile: number, badEvery = 0): Promise<number[]> {
  rd.DataContext.reset();
  const n = files * rowsPerFile;
  const source = `(row) => ({ id: row.id, value: ${badEvery} > 0 && row.id % ${badEvery} === 0 ? "bad" : "v" + row.id })`;
  await rd.range(n, { overrideNumBlocks: files }).map(new Function(`return ${source}`)() as rd.RowFn).writeParquet(dir).run();
  return Array.from({ length: n }, (_, i) => i);
}

function checkpointed(options: Partial<rd.CheckpointOptions> & { checkpointPath: string }): rd.DataContext {
  const context = rd.DataContext.reset();
  context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", ...options });
  return context;
}

const strict = (row: rd.Row) => {
  if (row.value === "bad") throw new Error(`malformed value in row ${row.id}`);
  return { ...row, upper: String(row.value).toUpperCase() };
};
const tolerant = (row: rd.Row) => ({ ...row, upper: String(row.value).toUpperCase() });

describe("job-level checkpointing", function () {
  this.timeout(120_000);
  let dir: string;
  let input: string;
  let ids: number[];
  before(async () => {
    dir = tempDir();
    input = path.join(dir, "input");
    ids = await makeInput(input, 12, 500, 997);
  });
  after(() => { rd.DataContext.reset(); fs.rmSync(dir, { recursive: true, force: true }); });

  describe("rejects plans it cannot checkpoint, before reading any data", () => {
    const expectPlanError = async (build: () => rd.Dataset, pattern: RegExp) => {
      const out = path.join(dir, "rejected-out");
      checkpointed({ checkpointPath: path.join(dir, "rejected-ckpt") });
      await assert.rejects(build().run(), pattern);
      assert.equal(fs.existsSync(out), false, "nothing was written");
      assert.equal(fs.existsSync(path.join(dir, "rejected-ckpt")), false, "no checkpoint was created");
    };
    const out = () => path.join(dir, "rejected-out");

    it("an all-to-all operator, named", () =>
      expectPlanError(() => rd.readParquet(input).sort("id").writeParquet(out()), /Sort\(id\) is not map-like/));
    it("a limit, named", () =>
      expectPlanError(() => rd.readParquet(input).map(tolerant).limit(5).writeParquet(out()), /Limit\(5\) is not map-like/));
    it("a union, named", () =>
      expectPlanError(() => rd.readParquet(input).union(rd.readParquet(input)).writeParquet(out()), /Union is not map-like/));
    it("a zip, named", () =>
      expectPlanError(() => rd.readParquet(input).zip(rd.readParquet(input)).writeParquet(out()), /Zip is not map-like/));
    it("a column operator that drops or renames the ID column", async () => {
      await expectPlanError(() => rd.readParquet(input).selectColumns(["value"]).writeParquet(out()), /SelectColumns\(value\) removes or renames the ID column 'id'/);
      await expectPlanError(() => rd.readParquet(input).dropColumns("id").writeParquet(out()), /DropColumns\(id\) removes or renames/);
      await expectPlanError(() => rd.readParquet(input).renameColumns({ id: "key" }).writeParquet(out()), /RenameColumns\(id→key\) removes or renames/);
    });
    it("a read whose projection leaves the ID column out", () =>
      expectPlanError(() => rd.readParquet(input, { columns: ["value"] }).writeParquet(out()), /reads columns \[value\], which leave out the ID column 'id'/));
    it("a source without the ID column, from the footer alone (data pages are never decoded)", async () => {
      const scrambled = path.join(dir, "no-id");
      rd.DataContext.reset();
      await rd.range(100).map(new Function("return (r) => ({ key: r.id })")() as rd.RowFn).writeParquet(scrambled).run();
      const file = listFilesRecursive(scrambled)[0];
      const bytes = fs.readFileSync(file);
      bytes.fill(0x55, 4, Math.min(bytes.length - 200, 300)); // garbage where the data pages are
      fs.writeFileSync(file, bytes);
      await expectPlanError(() => rd.readParquet(scrambled).writeParquet(out()), /ReadParquet has no column 'id'; its columns are 'key'/);
    });
    it("a checkpoint that overlaps the output or the input (deleting it on success would delete data)", async () => {
      checkpointed({ checkpointPath: path.join(out(), "ckpt") });
      await assert.rejects(rd.readParquet(input).writeParquet(out()).run(), /overlaps the output folder/);
      checkpointed({ checkpointPath: dir });
      await assert.rejects(rd.readParquet(input).writeParquet(out()).run(), /overlaps the output folder/);
      checkpointed({ checkpointPath: path.join(input, "ckpt") });
      await assert.rejects(rd.readParquet(input).writeParquet(out()).run(), /overlaps the input/);
    });
    it("a folder that holds files but is no checkpoint", async () => {
      const folder = path.join(dir, "not-a-checkpoint");
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, "precious.txt"), "keep me");
      checkpointed({ checkpointPath: folder });
      await assert.rejects(rd.readParquet(input).writeParquet(out()).run(), /holds files but is not a checkpoint/);
      assert.equal(fs.readFileSync(path.join(folder, "precious.txt"), "utf8"), "keep me");
    });
    it("a checkpoint that belongs to another job", async () => {
      const ckpt = path.join(dir, "other-job");
      checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
      await rd.readParquet(input).writeParquet(path.join(dir, "other-out-1")).run();
      checkpointed({ checkpointPath: ckpt });
      await assert.rejects(rd.readParquet(input).writeParquet(path.join(dir, "other-out-2")).run(),
        /belongs to another job .*writing parquet to .*other-out-1/);
      assert.equal(fs.existsSync(path.join(dir, "other-out-2")), false);
    });
    it("a UDF that drops the ID column: the write refuses the block and writes nothing", async () => {
      const target = path.join(dir, "dropped-id-out");
      checkpointed({ checkpointPath: path.join(dir, "dropped-id-ckpt") });
      await assert.rejects(rd.readParquet(input).map(new Function("return (r) => ({ value: r.value })")() as rd.RowFn).writeParquet(target).run(),
        /rows reaching the write have no ID column 'id' \(the input lacks it, or a UDF dropped it\)/);
      assert.deepEqual(listFilesRecursive(target).filter((f) => f.endsWith(".parquet")), []);
    });
  });

  for (const backend of ["batch", "row"] as const) {
    it(`${backend} backend: a UDF failing on a malformed row stops the job naming operator, file, ID and row; after the fix a resume writes every ID once`, async () => {
      const ckpt = path.join(dir, `fail-${backend}-ckpt`);
      const out = path.join(dir, `fail-${backend}-out`);
      checkpointed({ checkpointPath: ckpt, overrideBackend: backend });
      rd.DataContext.getCurrent().resourceLimits = { cpu: 2 };
      const error = await rd.readParquet(input).map(strict).writeParquet(out).run().then(() => undefined, (e: Error) => e);
      assert.ok(error, "the job failed");
      assert.match(error.message, /Map\(strict\) failed on row \d+ \(id \d+\) of .*input.*\.parquet: Error: malformed value in row \d+\n  row: \{"id":\d+,"value":"bad"\}/);
      const summary = await (await CheckpointReader.open(ckpt)).summary();
      assert.equal(summary.manifest?.idColumn, "id");
      const committedBefore = summary.committedIds;
      assert.equal(summary.committedFiles.reduce((s, f) => s + f.ids, 0), committedBefore);
      // Committed output stays: exactly the committed IDs are in the output folder.
      assert.equal((await outputIds(out)).length, committedBefore);

      checkpointed({ checkpointPath: ckpt, overrideBackend: backend });
      const fixed = rd.readParquet(input).map(tolerant).writeParquet(out);
      const result = await fixed.run();
      assertExactlyOnce(await outputIds(out), ids);
      const progress = result.progress.checkpoint!;
      assert.equal(progress.idsAtStart, committedBefore);
      assert.equal(progress.rowsCommitted, ids.length - committedBefore, "the resume wrote only what was not committed");
      assert.equal(progress.deleted, true, "deleteCheckpointOnSuccess removed the checkpoint");
      assert.equal(fs.existsSync(ckpt), false);
    });
  }

  it("skip → fix → resume: bad rows are recorded with input, error and stack; the resume processes exactly them", async () => {
    const ckpt = path.join(dir, "skip-ckpt");
    const out = path.join(dir, "skip-out");
    checkpointed({ checkpointPath: ckpt });
    const first = await rd.readParquet(input).map(strict, { onError: "skip" }).writeParquet(out).run();
    const bad = ids.filter((id) => id % 997 === 0);
    assert.equal(first.progress.erroredRows, bad.length);
    assert.equal(first.progress.checkpoint!.deleted, false, "kept: errored rows wait for a resume");
    assert.deepEqual(first.erroredRows.map((r) => Number(r.id)).sort((a, b) => a - b), bad);
    const reader = await CheckpointReader.open(ckpt);
    const errored = await reader.erroredRows();
    assert.deepEqual(errored.map((r) => Number(r.id)).sort((a, b) => a - b), bad);
    assert.equal(errored[0].operator, "Map(strict)");
    assert.match(errored[0].error, /malformed value in row/);
    assert.match(errored[0].stack ?? "", /malformed value in row \d+\n\s+at /);
    assert.match(errored[0].input, /"value":"bad"/);
    assert.match(errored[0].file ?? "", /input.*\.parquet$/);
    assert.equal((await reader.summary()).committedIds, ids.length - bad.length);

    checkpointed({ checkpointPath: ckpt });
    const resumed = await rd.readParquet(input).map(tolerant, { onError: "skip" }).writeParquet(out).run();
    assert.equal(resumed.progress.checkpoint!.rowsCommitted, bad.length, "exactly the errored rows were processed");
    assert.equal(resumed.progress.checkpoint!.inputFilesSkipped, 12 - new Set(errored.map((r) => r.file)).size, "files without errored rows were not read");
    assertExactlyOnce(await outputIds(out), ids);
    assert.equal(fs.existsSync(ckpt), false);
  });

  it("a class UDF (actor pool) in a checkpointed plan: skipped rows recorded beside the checkpoint, processed by the resume", async () => {
    const ckpt = path.join(dir, "actor-ckpt");
    const out = path.join(dir, "actor-out");
    const parser = (strictParsing: boolean) => new Function(`return class Parser {
      call(b) { if (${strictParsing} && b.value.includes("bad")) throw new Error("bad value in batch"); return b; }
    }`)() as new () => { call(b: rd.Columns): rd.Columns };
    checkpointed({ checkpointPath: ckpt });
    const first = await rd.readParquet(input).mapBatches(parser(true), { concurrency: 1, onError: "skip" }).writeParquet(out).run();
    const bad = ids.filter((id) => id % 997 === 0);
    assert.equal(first.progress.erroredRows, bad.length);
    const errored = await (await CheckpointReader.open(ckpt)).erroredRows();
    assert.deepEqual(errored.map((r) => Number(r.id)).sort((a, b) => a - b), bad);
    assert.match(errored[0].error, /bad value in batch/);
    checkpointed({ checkpointPath: ckpt });
    const resumed = await rd.readParquet(input).mapBatches(parser(false), { concurrency: 1, onError: "skip" }).writeParquet(out).run();
    assert.equal(resumed.progress.checkpoint!.rowsCommitted, bad.length);
    assertExactlyOnce(await outputIds(out), ids);
  });

  it("fails once an operator's errored rows exceed maxErroredRows", async () => {
    checkpointed({ checkpointPath: path.join(dir, "budget-ckpt") });
    await assert.rejects(rd.readParquet(input).map(strict, { onError: "skip", maxErroredRows: 2 }).writeParquet(path.join(dir, "budget-out")).run(),
      /Map\(strict\): 3 rows errored, more than its maxErroredRows \(2\); the last: Map\(strict\) failed on row/);
  });

  it("a batch UDF that fails on a batch is replayed row by row: the error names the row; skip drops only that row", async () => {
    const batchStrict = (b: rd.Columns) => {
      if ((b.value as string[]).includes("bad")) throw new Error("batch has a malformed value");
      return b;
    };
    checkpointed({ checkpointPath: path.join(dir, "batch-fail-ckpt") });
    await assert.rejects(rd.readParquet(input).mapBatches(batchStrict).writeParquet(path.join(dir, "batch-fail-out")).run(),
      /MapBatches\(batchStrict\) failed on row \d+ \(id \d+\) of .*: Error: batch has a malformed value\n  row: \{"id":\d+,"value":"bad"\}/);
    const out = path.join(dir, "batch-skip-out");
    checkpointed({ checkpointPath: path.join(dir, "batch-skip-ckpt"), deleteCheckpointOnSuccess: false });
    const result = await rd.readParquet(input).mapBatches(batchStrict, { onError: "skip" }).writeParquet(out).run();
    const bad = ids.filter((id) => id % 997 === 0);
    assert.equal(result.progress.erroredRows, bad.length);
    assertExactlyOnce(await outputIds(out), ids.filter((id) => id % 997 !== 0));
  });

  it("a finished job run again with its checkpoint kept reads no input file and writes nothing", async () => {
    const ckpt = path.join(dir, "again-ckpt");
    const out = path.join(dir, "again-out");
    checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
    await rd.readParquet(input).map(tolerant).writeParquet(out, { mode: "overwrite" }).run();
    checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
    const again = await rd.readParquet(input).map(tolerant).writeParquet(out, { mode: "overwrite" }).run();
    assert.equal(again.progress.checkpoint!.inputFilesSkipped, 12);
    assert.equal(again.progress.operators[0].rowsDone, 0);
    assert.equal(again.written.length, 0);
    assertExactlyOnce(await outputIds(out), ids); // "overwrite" applies to the first attempt only
  });

  it("an input file that changed after an attempt consumed it fails the resume instead of writing its rows again", async () => {
    const copy = path.join(dir, "changing-input");
    fs.cpSync(input, copy, { recursive: true });
    const ckpt = path.join(dir, "changed-ckpt");
    checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
    await rd.readParquet(copy).map(tolerant).writeParquet(path.join(dir, "changed-out")).run();
    const file = listFilesRecursive(copy).find((f) => f.endsWith(".parquet"))!;
    fs.appendFileSync(file, "");
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
    await assert.rejects(rd.readParquet(copy).map(tolerant).writeParquet(path.join(dir, "changed-out")).run(),
      /input file .*changing-input.*\.parquet changed \(size or etag\) after an earlier attempt of this checkpointed job consumed it/);
  });

  it("a commit record whose output file has gone commits nothing: the resume writes those rows again", async () => {
    const ckpt = path.join(dir, "orphan-ckpt");
    const out = path.join(dir, "orphan-out");
    checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
    await rd.readParquet(input).map(tolerant).writeParquet(out).run();
    fs.rmSync(listFilesRecursive(out).filter((f) => f.endsWith(".parquet"))[0]);
    checkpointed({ checkpointPath: ckpt });
    await rd.readParquet(input).map(tolerant).writeParquet(out).run();
    assertExactlyOnce(await outputIds(out), ids);
  });

  it("a deletion of a finished checkpoint that was cut short is finished by the next run, which writes nothing", async () => {
    const ckpt = path.join(dir, "cut-ckpt");
    const out = path.join(dir, "cut-out");
    checkpointed({ checkpointPath: ckpt, deleteCheckpointOnSuccess: false });
    await rd.readParquet(input).map(tolerant).writeParquet(out).run();
    // As if the process was killed while deleting: the marker is there and some commit records are gone.
    fs.writeFileSync(path.join(ckpt, "deleting.json"), JSON.stringify({ idColumn: "id", output: { path: out, format: "parquet" } }));
    for (const record of fs.readdirSync(path.join(ckpt, "committed")).slice(0, 5)) fs.rmSync(path.join(ckpt, "committed", record));
    checkpointed({ checkpointPath: ckpt });
    const again = await rd.readParquet(input).map(tolerant).writeParquet(out).run();
    assert.equal(again.written.length, 0);
    assert.equal(again.progress.checkpoint!.deleted, true);
    assert.equal(fs.existsSync(ckpt), false);
    assertExactlyOnce(await outputIds(out), ids);
  });

  it("keeps the checkpoint when maxErroredBlocks let a failed block pass, so a resume writes its rows", async () => {
    const ckpt = path.join(dir, "blocks-ckpt");
    const out = path.join(dir, "blocks-out");
    checkpointed({ checkpointPath: ckpt });
    rd.DataContext.getCurrent().maxErroredBlocks = -1;
    const first = await rd.readParquet(input).map(strict).writeParquet(out).run();
    assert.equal(first.progress.checkpoint!.deleted, false);
    assert.ok((await outputIds(out)).length < ids.length);
    checkpointed({ checkpointPath: ckpt });
    await rd.readParquet(input).map(tolerant).writeParquet(out).run();
    assertExactlyOnce(await outputIds(out), ids);
  });

  it("a task retried after its worker died continues from its own commits, even when the retry behaves differently", async () => {
    const padded = path.join(dir, "padded");
    rd.DataContext.reset();
    await rd.range(6000, { overrideNumBlocks: 12 }).map(new Function(`return (r) => ({ id: r.id, pad: "x".repeat(2000) })`)() as rd.RowFn).writeParquet(padded).run();
    const markers = tempDir();
    // Row 10 fails once (skipped), then the worker dies at row 2500 after several files are committed; the
    // retry succeeds on row 10, so its output is split differently from the first try's.
    const flaky = new Function(`return (row) => {
      const fs = process.getBuiltinModule("node:fs");
      const once = (name) => { try { fs.writeFileSync(${JSON.stringify(markers)} + "/" + name, "", { flag: "wx" }); return true; } catch { return false; } };
      if (row.id === 10 && once("failed-10")) throw new Error("flaky");
      if (row.id === 2500 && once("died")) process.exit(1);
      return row;
    }`)() as rd.RowFn;
    checkpointed({ checkpointPath: path.join(dir, "retry-ckpt") });
    rd.DataContext.getCurrent().targetMaxBlockSize = 1 << 20; // about one output file per input file: several commits before the death
    const out = path.join(dir, "retry-out");
    await rd.readParquet(padded, { overrideNumBlocks: 1 }).map(flaky, { onError: "skip" }).writeParquet(out).run();
    assert.ok(fs.existsSync(path.join(markers, "died")), "the worker died mid-task");
    assertExactlyOnce(await outputIds(out), Array.from({ length: 6000 }, (_, i) => i));
    fs.rmSync(markers, { recursive: true, force: true });
  });

  it("never splits the rows a flatMap made of one input row across two output files", async () => {
    checkpointed({ checkpointPath: path.join(dir, "flat-ckpt") });
    rd.DataContext.getCurrent().targetMaxBlockSize = 1 << 20;
    const out = path.join(dir, "flat-out");
    // 40 rows of 4 KB per input row: about 6 input rows per 1 MiB piece, so natural piece boundaries fall inside a run.
    const explode = new Function(`return (row) => Array.from({ length: 40 }, (_, k) => ({ id: row.id, k, pad: "y".repeat(4000) }))`)() as rd.RowFn<rd.Row, rd.Row[]>;
    // The batch UDF after the flatMap cuts blocks every 1000 rows, in the middle of an ID's 40 rows.
    const result = await rd.readParquet(input).filter(new Function("return (r) => r.id < 300")() as rd.RowFn<rd.Row, boolean>).flatMap(explode)
      .mapBatches(new Function("return (b) => b")() as (b: rd.Columns) => rd.Columns, { batchSize: 1000 }).writeParquet(out).run();
    assert.ok(result.written.length > 5, `${result.written.length} files`);
    const filesOfId = new Map<number, Set<string>>();
    for (const file of result.written) {
      for (const id of await outputIds(file.path)) filesOfId.set(id, (filesOfId.get(id) ?? new Set()).add(file.path));
    }
    const split = [...filesOfId].filter(([, files]) => files.size > 1).map(([id]) => id);
    assert.deepEqual(split, []);
    assert.equal(filesOfId.size, 300);
  });

  it("refuses a second run on a checkpoint in use; takes over the lease of a run that died", async () => {
    const ckpt = path.join(dir, "lease-ckpt");
    const out = path.join(dir, "lease-out");
    checkpointed({ checkpointPath: ckpt });
    const slow = new Function(`return (row) => { const until = Date.now() + 1; while (Date.now() < until); return row; }`)() as rd.RowFn;
    const first = rd.readParquet(input).map(slow).writeParquet(out).run();
    await new Promise((resolve) => setTimeout(resolve, 400));
    await assert.rejects(rd.readParquet(input).map(slow).writeParquet(out).run(), /checkpoint at .*lease-ckpt is in use by another run \((process \d+ on .*|another execution in this process)\); wait for it to finish, or delete .*lease\.json/);
    await first;
    assertExactlyOnce(await outputIds(out), ids);
    // A lease left by a process that no longer exists (as after SIGKILL) does not block.
    const dead = path.join(dir, "dead-ckpt");
    fs.mkdirSync(dead);
    fs.writeFileSync(path.join(dead, "lease.json"), JSON.stringify({ attempt: "gone", pid: 2 ** 22 + 12345, host: os.hostname(), renewedAt: Date.now() }));
    checkpointed({ checkpointPath: dead });
    await rd.readParquet(input).map(tolerant).writeParquet(path.join(dir, "dead-out")).run();
    assert.equal(fs.existsSync(dead), false);
    // Nor one naming this very pid from an earlier life (a restarted container's PID 1).
    fs.mkdirSync(dead);
    fs.writeFileSync(path.join(dead, "lease.json"), JSON.stringify({ attempt: "earlier", pid: process.pid, host: os.hostname(), renewedAt: Date.now() }));
    checkpointed({ checkpointPath: dead });
    await rd.readParquet(input).map(tolerant).writeParquet(path.join(dir, "dead-out-2")).run();
    assert.equal(fs.existsSync(dead), false);
  });

  it("a preview (no write) of a checkpointed pipeline runs without the checkpoint", async () => {
    const ckpt = path.join(dir, "preview-ckpt");
    checkpointed({ checkpointPath: ckpt });
    const rows = await rd.readParquet(input).map(tolerant).take(3);
    assert.equal(rows.length, 3);
    assert.equal(fs.existsSync(ckpt), false);
  });
});

describe("the checkpointing sample (samples/orders.rdpipe.ts), from the CLI", function () {
  this.timeout(180_000);
  let dir: string;
  before(() => {
    dir = tempDir();
    for (const name of ["make-orders.rdpipe.ts", "orders.rdpipe.ts"]) fs.copyFileSync(path.join(REPO, "samples", name), path.join(dir, name));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("fails on a malformed price naming the row; after the fix the same command resumes and writes each order once", async () => {
    assert.equal(runCli(["run", "make-orders.rdpipe.ts", "--quiet"], { cwd: dir }).code, 0);
    const failed = runCli(["run", "orders.rdpipe.ts", "--quiet"], { cwd: dir });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Map\(total\) failed on row \d+ \(order_id \d+\) of .*orders.*\.json: Error: malformed price/);
    assert.match(failed.stderr, /at parsePrice \(.*orders\.rdpipe\.ts:13:\d+\)/, "the stack points at the line of the pipeline file that threw");
    assert.match(failed.stderr, /\n\s+at total \(.*orders\.rdpipe\.ts:18:\d+\)/, "the UDF's frame by its own name and line (not Object.total)");
    assert.ok(fs.existsSync(path.join(dir, "out/orders-checkpoint/manifest.json")), "the checkpoint is kept");

    const file = path.join(dir, "orders.rdpipe.ts");
    const fixed = fs.readFileSync(file, "utf8")
      .replace(/^.*throw new Error\(`malformed price.*$/m, "  if (text === null) return 0;")
      .replace("return Number(text);", 'return Number(String(text).replace(",", "."));');
    assert.notEqual(fixed, fs.readFileSync(file, "utf8"), "the fix applies");
    fs.writeFileSync(file, fixed);
    const resumed = runCli(["run", "orders.rdpipe.ts", "--quiet"], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(resumed.code, 0, resumed.stderr);
    const orderIds = await outputIds(path.join(dir, "out/orders"), "order_id");
    assertExactlyOnce(orderIds, Array.from({ length: 50_000 }, (_, i) => i));
    assert.equal(fs.existsSync(path.join(dir, "out/orders-checkpoint")), false, "deleted after success");
  });
});
