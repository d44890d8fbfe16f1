// Checkpointed plans with an actor pool (a class UDF) between the read and the write: input files whose
// rows are all committed are recorded as done, so a resume — after a real SIGKILL of `rdpipe run`, or
// after a failure — does not read them; a class flatMap's rows of one ID stay in one output file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { CheckpointReader } from "../server/src/checkpoint";
import { REPO, assertExactlyOnce, outputIds, tempDir, writePipeline } from "./helpers";

const FILES = 12;
const ROWS_PER_FILE = 300;
const ALL_IDS = Array.from({ length: FILES * ROWS_PER_FILE }, (_, i) => i);

/** A CPU-bound class UDF: the job lives long enough to be killed after some files are done. */
const PIPELINE = `
import * as rd from "rdpipe";

const context = rd.DataContext.getCurrent();
context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: process.env.CKPT!, deleteCheckpointOnSuccess: false });
context.targetMaxBlockSize = 1 << 20;
context.resourceLimits = { cpu: 2 };

class Work {
  call(row: rd.Row) {
    const until = performance.now() + 1;
    while (performance.now() < until);
    return { ...row, size: String(row.pad).length };
  }
}

export default rd.readParquet(process.env.INPUT!).map(Work, { concurrency: 1 }).writeParquet(process.env.OUTPUT!);
`;

/** Input files recorded as done in the checkpoint so far. */
function doneFiles(ckpt: string): number {
  const dir = path.join(ckpt, "done");
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith("."))
    .reduce((sum, n) => sum + (JSON.parse(fs.readFileSync(path.join(dir, n), "utf8")) as { files: unknown[] }).files.length, 0);
}

/** The job reads its input; a resume must read only the files that are not done (rows read = kept + already done). */
function rowsRead(result: rd.ExecutionResult): number {
  return result.progress.operators[0].rowsDone + result.progress.checkpoint!.rowsAlreadyDone;
}

describe("checkpointing through an actor pool: done input files", function () {
  this.timeout(180_000);
  let dir: string;
  let input: string;

  before(async () => {
    dir = tempDir();
    input = path.join(dir, "input");
    rd.DataContext.reset();
    const pad = new Function(`return (row) => ({ id: row.id, pad: "x".repeat(2000) + row.id })`)() as rd.RowFn;
    await rd.range(FILES * ROWS_PER_FILE, { overrideNumBlocks: FILES }).map(pad).writeParquet(input).run();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a run SIGKILLed after some files are done: the resume reads only the other files and writes every ID once", async () => {
    const ckpt = path.join(dir, "kill-ckpt");
    const out = path.join(dir, "kill-out");
    const pipeline = writePipeline(dir, "actors.rdpipe.ts", PIPELINE);
    const child = spawn(process.execPath, [path.join(REPO, "bin/rdpipe.js"), "run", pipeline, "--quiet"], {
      env: { ...process.env, INPUT: input, OUTPUT: out, CKPT: ckpt }, stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    let ended = false;
    void exited.then(() => { ended = true; });
    while (!ended && doneFiles(ckpt) < 2) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!ended, `the job ended before 2 input files were recorded as done (${doneFiles(ckpt)} were): ${stderr}`);
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");

    const done = (await (await CheckpointReader.open(ckpt)).doneFiles()).length;
    assert.ok(done >= 2 && done < FILES, `${done} files done at the kill`);
    rd.DataContext.reset().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ckpt });
    const work = new Function(`return class Work { call(row) { return { ...row, size: String(row.pad).length }; } }`)() as new () => { call(r: rd.Row): rd.Row };
    const resumed = await rd.readParquet(input).map(work, { concurrency: 1 }).writeParquet(out).run();
    assert.equal(resumed.progress.checkpoint!.inputFilesSkipped, done);
    assert.equal(rowsRead(resumed), (FILES - done) * ROWS_PER_FILE, "the resume read exactly the files not done");
    assertExactlyOnce(await outputIds(out), ALL_IDS);
  });

  it("a run that fails in a later file: the resume after the fix skips the files done before the failure", async () => {
    const ckpt = path.join(dir, "fail-ckpt");
    const out = path.join(dir, "fail-out");
    // The failing row waits (up to 30 s) until an input file is recorded as done, which on a busy
    // machine may come after the last file's last row reached the pool.
    const parser = (failAt: number) => new Function(`return class Parser {
      call(row) {
        if (row.id !== ${failAt}) return row;
        const fs = process.getBuiltinModule("node:fs"), done = ${JSON.stringify(path.join(ckpt, "done"))};
        const until = Date.now() + 30000;
        while (Date.now() < until && !(fs.existsSync(done) && fs.readdirSync(done).some((name) => name.endsWith(".json")))) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        throw new Error("cannot parse row " + row.id);
      }
    }`)() as new () => { call(r: rd.Row): rd.Row };
    const run = (failAt: number) => {
      const context = rd.DataContext.reset();
      context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ckpt });
      context.targetMaxBlockSize = 1 << 20;
      return rd.readParquet(input).map(parser(failAt), { concurrency: 1 }).writeParquet(out).run();
    };
    // The last row of the last file fails: by then most files have gone through.
    await assert.rejects(run(FILES * ROWS_PER_FILE - 1), /cannot parse row 3599/);
    const done = (await (await CheckpointReader.open(ckpt)).doneFiles()).length;
    assert.ok(done >= 1, "files were recorded as done before the failure");
    const resumed = await run(-1);
    assert.equal(resumed.progress.checkpoint!.inputFilesSkipped, done);
    assert.equal(rowsRead(resumed), (FILES - done) * ROWS_PER_FILE);
    assertExactlyOnce(await outputIds(out), ALL_IDS);
  });

  it("a class flatMap's rows of one input row stay in one output file", async () => {
    const context = rd.DataContext.reset();
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(dir, "flat-ckpt") });
    context.targetMaxBlockSize = 1 << 20;
    // 30 rows of 4 KB per input row: a 1 MiB block cut by size falls inside a run.
    const explode = new Function(`return class Explode { call(row) { return Array.from({ length: 30 }, (_, k) => ({ id: row.id, k, pad: "y".repeat(4000) })); } }`)() as
      new () => { call(r: rd.Row): rd.Row[] };
    const result = await rd.readParquet(input).filter(new Function("return (r) => r.id < 200")() as rd.RowFn<rd.Row, boolean>)
      .flatMap(explode, { concurrency: 1 }).writeParquet(path.join(dir, "flat-out")).run();
    assert.ok(result.written.length > 5, `${result.written.length} files`);
    const filesOfId = new Map<number, Set<string>>();
    for (const file of result.written) {
      for (const id of await outputIds(file.path)) filesOfId.set(id, (filesOfId.get(id) ?? new Set()).add(file.path));
    }
    assert.deepEqual([...filesOfId].filter(([, files]) => files.size > 1).map(([id]) => id), []);
    assert.equal(filesOfId.size, 200);
  });
});
