// A full local disk at many points of a job, on a real tmpfs, through the real CLI: the run fails
// saying the disk is full and naming the file, no cut-off file is ever visible under a final name,
// and a resume after space is given back writes every ID exactly once.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Table, vectorFromArray } from "apache-arrow";
import { utf8Vector } from "../server/src/block";
import { readFileBlocks, writeBlock } from "../server/src/io";
import { assertExactlyOnce, outputIds, runCli, tempDir, writePipeline } from "./helpers";

const PAGE = 4096;
const pagesOf = (bytes: number) => Math.ceil(bytes / PAGE);

/** A tmpfs mounted for the suite; each case empties it and sets its size. */
class Tmpfs {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", dir]);
  }

  /** Empties the disk and gives it exactly this many pages (at least one: size 0 would mean unlimited). */
  reset(pages: number, fillerPages = 0): void {
    for (const name of fs.readdirSync(this.dir)) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
    this.resize(Math.max(1, pages + fillerPages));
    if (fillerPages > 0) fs.writeFileSync(path.join(this.dir, "filler"), Buffer.alloc(fillerPages * PAGE));
  }

  resize(pages: number): void {
    execFileSync("mount", ["-o", `remount,size=${pages * PAGE}`, this.dir]);
  }

  unmount(): void {
    execFileSync("umount", [this.dir]);
  }
}

/** Every file under dir: none is a leftover temporary, every .parquet opens and ends in PAR1, every .json/.jsonl parses. */
async function assertNothingCutOff(dir: string): Promise<void> {
  const files = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  for (const file of files) {
    const name = path.basename(file);
    assert.ok(!name.endsWith(".tmp"), `a temporary file stayed behind: ${file}`);
    const bytes = fs.readFileSync(file);
    if (name.endsWith(".parquet")) {
      assert.equal(bytes.subarray(-4).toString("latin1"), "PAR1", `${file} has no closing PAR1 (${bytes.length} bytes)`);
      const blocks = readFileBlocks({ format: "parquet", files: [{ path: file, size: bytes.length }], options: { targetBlockBytes: 1 << 30 } });
      for await (const _ of blocks) { /* decodes every page */ }
    } else if (name.endsWith(".json")) {
      JSON.parse(bytes.toString("utf8"));
    } else if (name.endsWith(".jsonl")) {
      assert.ok(bytes.length === 0 || bytes.at(-1) === 0x0a, `${file} does not end in a newline`);
      for (const line of bytes.toString("utf8").split("\n")) if (line !== "") JSON.parse(line);
    }
  }
}

/** Writes `files` Parquet files of `rows` rows each: id, and 64 hex characters (which snappy cannot shrink). */
async function makeInput(dir: string, files: number, rows: number): Promise<number[]> {
  for (let f = 0; f < files; f++) {
    const ids = Int32Array.from({ length: rows }, (_, i) => f * rows + i);
    const text = Array.from(ids, (id) => createHash("sha256").update(String(id)).digest("hex"));
    await writeBlock("parquet", new Table({ id: vectorFromArray(ids), text: utf8Vector(text) }), dir, `part-${f}.parquet`);
  }
  return Array.from({ length: files * rows }, (_, i) => i);
}

describe("a full local disk (tmpfs), through the CLI", function () {
  this.timeout(120_000);
  let root: string;
  let disk: Tmpfs;
  let out: string;
  let ckpt: string;
  /** One input file: a single task writes its output files and records one after another. */
  let oneFile: string;
  let oneFileIds: number[];
  /** Eight input files: two workers write at once. */
  let manyFiles: string;
  let manyFilesIds: number[];

  before(async () => {
    root = tempDir("rdpipe-faults-disk-");
    disk = new Tmpfs(path.join(root, "disk"));
    out = path.join(disk.dir, "out");
    ckpt = path.join(disk.dir, "ckpt");
    oneFile = path.join(root, "one");
    oneFileIds = await makeInput(oneFile, 1, 40_000);
    manyFiles = path.join(root, "many");
    manyFilesIds = await makeInput(manyFiles, 8, 4_000);
  });
  after(() => {
    disk.unmount();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function job(name: string, input: string, backend: "batch" | "row", keepCheckpoint = false): string {
    return writePipeline(root, name, `import * as rd from "rdpipe";
// Blocks of 1 MiB: the one input file becomes several output files.
rd.DataContext.getCurrent().targetMaxBlockSize = 1 << 20;
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({
  idColumn: "id", checkpointPath: ${JSON.stringify(ckpt)}, overrideBackend: "${backend}", deleteCheckpointOnSuccess: ${!keepCheckpoint},
});
export default rd.readParquet(${JSON.stringify(input)}).map((row) => ({ id: row.id, text: String(row.text).toUpperCase() })).writeParquet(${JSON.stringify(out)});
`);
  }

  const run = (pipeline: string) => runCli(["run", pipeline, "--quiet"], { cwd: root });

  /** Runs a job that must fail on the full disk; returns the file its message names. */
  async function failsFull(pipeline: string): Promise<string> {
    const failed = run(pipeline);
    assert.notEqual(failed.code, 0, `the run on a full disk exited 0:\n${failed.stdout}`);
    const match = /(\/\S+?):(?: write failed:)? the disk is full/.exec(failed.stderr);
    assert.ok(match, `the error says the disk is full and names the file:\n${failed.stderr}`);
    assert.ok(match[1].startsWith(disk.dir), `the named file ${match[1]} is on the full disk`);
    await assertNothingCutOff(disk.dir);
    return match[1];
  }

  /** Gives space back and runs the job again: it succeeds with every ID exactly once and deletes its checkpoint. */
  async function resumes(pipeline: string, ids: number[]): Promise<void> {
    disk.resize(64 << 8);
    const resumed = run(pipeline);
    assert.equal(resumed.code, 0, resumed.stderr);
    await assertNothingCutOff(disk.dir);
    assertExactlyOnce(await outputIds(out), ids);
    assert.equal(fs.existsSync(ckpt), false, "the checkpoint is deleted after success");
  }

  const listed = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith(".")).sort() : []);

  /**
   * The writes of the one-file job in order, each with its size in pages, measured by a run on a large
   * disk: lease, manifest, attempt, the output's schema, then each output file and its commit record, the done record, and the
   * marker that starts the checkpoint's deletion.
   */
  function calibrate(pipeline: string): { name: string; pages: number }[] {
    disk.reset(64 << 8);
    const done = run(pipeline);
    assert.equal(done.code, 0, done.stderr);
    const sized = (file: string) => ({ name: path.relative(disk.dir, file), pages: pagesOf(fs.statSync(file).size) });
    const outputs = listed(out);
    const records = listed(path.join(ckpt, "committed"));
    assert.ok(outputs.length >= 3, `the job writes several output files (${outputs.length})`);
    assert.equal(records.length, outputs.length);
    const writes = [
      { name: "ckpt/lease.json", pages: 1 },
      sized(path.join(ckpt, "manifest.json")),
      ...listed(path.join(ckpt, "attempts")).map((n) => sized(path.join(ckpt, "attempts", n))),
      sized(path.join(ckpt, "schema.arrow")),
      ...outputs.flatMap((n, i) => [sized(path.join(out, n)), sized(path.join(ckpt, "committed", records[i]))]),
      ...listed(path.join(ckpt, "done")).map((n) => sized(path.join(ckpt, "done", n))),
      { name: "ckpt/deleting.json", pages: 1 },
    ];
    assert.ok(writes.filter((w) => w.name.includes("committed/")).every((w) => w.pages >= 3), "commit records span pages, so a full disk cuts one mid-way");
    return writes;
  }

  const calibrated = new Map<string, { name: string; pages: number }[]>();

  /**
   * The one-file job with this backend, its disk sized so that the first write whose name matches runs
   * out of space half-way through (at its start for a one-page file).
   */
  function oneFileJobFullAt(backend: "batch" | "row", write: RegExp): string {
    if (!calibrated.has(backend)) calibrated.set(backend, calibrate(job(`one-${backend}-calibrate.rdpipe.ts`, oneFile, backend, true)));
    const writes = calibrated.get(backend)!;
    const index = writes.findIndex((w) => write.test(w.name));
    assert.ok(index >= 0, `the job writes ${write}`);
    disk.reset(writes.slice(0, index).reduce((s, w) => s + w.pages, 0) + Math.floor(writes[index].pages / 2));
    return job(`one-${backend}.rdpipe.ts`, oneFile, backend);
  }

  describe("batch backend, one task writing files one after another", () => {
    const fullAt = (write: RegExp) => oneFileJobFullAt("batch", write);

    it("full before the first write: fails naming the file, the resume writes every ID once", async () => {
      const pipeline = job("one-batch.rdpipe.ts", oneFile, "batch");
      disk.reset(1, 1);
      await failsFull(pipeline);
      await resumes(pipeline, oneFileIds);
    });

    it("full in the schema record: fails naming it before any output file is written; the resume writes every ID once", async () => {
      const pipeline = fullAt(/^ckpt\/schema\.arrow$/);
      assert.match(await failsFull(pipeline), /\/ckpt\/schema\.arrow$/);
      assert.deepEqual(listed(out), []);
      await resumes(pipeline, oneFileIds);
    });

    it("full in the first output file: fails naming it, leaves no part of it", async () => {
      const pipeline = fullAt(/^out\/.*_000000\.parquet$/);
      assert.match(await failsFull(pipeline), /\/out\/[^/]*_000000\.parquet$/);
      assert.deepEqual(listed(out), []);
      await resumes(pipeline, oneFileIds);
    });

    it("full in the second output file, after the first was committed: the resume keeps the first and writes the rest", async () => {
      const pipeline = fullAt(/^out\/.*_000001\.parquet$/);
      assert.match(await failsFull(pipeline), /\/out\/[^/]*_000001\.parquet$/);
      assert.equal(listed(path.join(ckpt, "committed")).length, 1, "the first file stays committed");
      await resumes(pipeline, oneFileIds);
    });

    it("full in a commit record: fails naming the record, which is not visible; the resume writes its rows once", async () => {
      const pipeline = fullAt(/^ckpt\/committed\/.*_000001\.parquet\.ids\.parquet$/);
      assert.match(await failsFull(pipeline), /\/ckpt\/committed\/[^/]*_000001\.parquet\.ids\.parquet$/);
      assert.equal(listed(path.join(ckpt, "committed")).length, 1, "only the first record is there");
      await resumes(pipeline, oneFileIds);
    });

    it("full in the done record: fails naming it; the resume writes nothing twice", async () => {
      const pipeline = fullAt(/^ckpt\/done\//);
      assert.match(await failsFull(pipeline), /\/ckpt\/done\/[^/]*\.json$/);
      await resumes(pipeline, oneFileIds);
    });

    it("full when the finished job starts deleting its checkpoint: fails naming the marker; the next run finishes the deletion", async () => {
      const pipeline = fullAt(/^ckpt\/deleting\.json$/);
      assert.match(await failsFull(pipeline), /\/ckpt\/deleting\.json$/);
      assert.equal(listed(path.join(ckpt, "committed")).length, listed(out).length, "every output file is committed");
      await resumes(pipeline, oneFileIds);
    });
  });

  it("row backend: full in a commit record fails naming it; the resume writes its rows once", async () => {
    const pipeline = oneFileJobFullAt("row", /^ckpt\/committed\/.*_000001\.parquet\.ids\.jsonl$/);
    assert.match(await failsFull(pipeline), /\/ckpt\/committed\/[^/]*_000001\.parquet\.ids\.jsonl$/);
    await resumes(pipeline, oneFileIds);
  });

  it("two workers writing at once, the disk full at a quarter, half and three quarters of the output: each run fails cleanly (no temporary left by the other worker) and resumes", async () => {
    const pipeline = job("many.rdpipe.ts", manyFiles, "batch");
    disk.reset(64 << 8);
    assert.equal(run(pipeline).code, 0);
    const total = pagesOf(fs.readdirSync(out).reduce((s, n) => s + fs.statSync(path.join(out, n)).size, 0));
    for (const share of [1 / 4, 1 / 2, 3 / 4]) {
      disk.reset(Math.round(total * share));
      await failsFull(pipeline);
      await resumes(pipeline, manyFilesIds);
    }
  });

  for (const backend of ["batch", "row"] as const) {
    it(`${backend} backend: a cut-off commit record (as a short write left it) counts as uncommitted; show reports it and exits 0, the resume redoes its rows`, async () => {
      const pipeline = oneFileJobFullAt(backend, /^out\/.*_000001\.parquet$/);
      await failsFull(pipeline);
      const [record] = listed(path.join(ckpt, "committed"));
      const recordPath = path.join(ckpt, "committed", record);
      fs.truncateSync(recordPath, Math.floor(fs.statSync(recordPath).size / 2));
      const shown = runCli(["checkpoint", "show", ckpt], { cwd: root });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /damaged commit records: 1/);
      assert.ok(shown.stdout.includes(recordPath), `show names the damaged record:\n${shown.stdout}`);
      assert.match(shown.stdout, /committed files: 0/);
      await resumes(pipeline, oneFileIds);
    });
  }

  it("a resume that runs out of disk before rewriting the rows of a lost output file still rewrites them on the next run", async () => {
    disk.reset(64 << 8);
    assert.equal(run(job("orphan-keep.rdpipe.ts", oneFile, "batch", true)).code, 0);
    fs.rmSync(path.join(out, listed(out)[1]));
    // Room for the lease and the attempt record, not for the rewritten file.
    const { blocks, bfree } = fs.statfsSync(disk.dir);
    disk.resize(blocks - bfree + 3);
    const pipeline = job("orphan.rdpipe.ts", oneFile, "batch");
    assert.match(await failsFull(pipeline), /\/out\/[^/]*\.parquet$/);
    await resumes(pipeline, oneFileIds);
  });

  it("a job without a checkpoint on a full disk exits non-zero naming the file and leaves no file that cannot be read", async () => {
    disk.reset(256);
    const pipeline = writePipeline(root, "plain.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(100000, { overrideNumBlocks: 1 }).map((r) => ({ id: r.id, s: "some text " + r.id + Math.random() })).writeParquet(${JSON.stringify(out)});
`);
    assert.match(await failsFull(pipeline), /\/out\/[^/]*\.parquet$/);
    assert.deepEqual(listed(out), []);
  });
});
