// filenameProvider: files take the provider's names (partition values included) when the job succeeds,
// through a pipeline file's bundle or as class source; a bad or repeated name fails the job clearly and
// leaves the folder as it was; a checkpointed job resumed with a provider writes every ID once, removes
// the uncommitted files and renames every attempt's files, and one whose committed file is lost writes its rows again.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { CheckpointReader } from "../server/src/checkpoint";
import { assertExactlyOnce, listFilesRecursive, outputIds, runCli, tempDir, writePipeline } from "./helpers";

let tmp: string;

/** Ray's default naming, with a prefix: unique per write, task and block (partition values in front). */
class Namer implements rd.FilenameProvider {
  constructor(private readonly prefix: string) {}
  getFilenameForBlock(_block: rd.Block, writeUuid: string, taskIndex: number, blockIndex: number, details: rd.FilenameDetails): string {
    const partition = details.partition ? `${Object.values(details.partition).join("-")}_` : "";
    return `${this.prefix}${partition}${writeUuid.slice(-6)}_${taskIndex}_${blockIndex}${details.extension}`;
  }
}

/** Names built from the task and block only, as a careless provider would: they repeat across jobs and attempts. */
class ByIndex implements rd.FilenameProvider {
  getFilenameForBlock(_block: rd.Block, _uuid: string, taskIndex: number, blockIndex: number, details: rd.FilenameDetails): string {
    return `part-${taskIndex}-${blockIndex}${details.extension}`;
  }
}

class Constant implements rd.FilenameProvider {
  constructor(private readonly name: string) {}
  getFilenameForBlock(): string { return this.name; }
}

/** Every file below dir, relative path → SHA-256 of its bytes. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(listFilesRecursive(dir).map((f) => [path.relative(dir, f), createHash("sha256").update(fs.readFileSync(f)).digest("hex")]));
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("filenameProvider", function () {
  this.timeout(120_000);
  before(() => { tmp = tempDir("rdpipe-names-"); });
  after(() => {
    rd.DataContext.reset();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("files take the provider's names (with the partition values under partitionCols), and the result names them", async () => {
    const out = path.join(tmp, "named");
    const result = await rd.range(1000, { overrideNumBlocks: 4 }).writeParquet(out, { filenameProvider: new Namer("sales_"), maxRowsPerFile: 100 }).run();
    const names = fs.readdirSync(out).sort();
    assert.equal(names.length, 12, "4 blocks of 250 rows, each cut into files of 100, 100 and 50 rows");
    assert.ok(names.every((n) => /^sales_[0-9a-z]{6}_\d_\d\.parquet$/.test(n)), names.join(", "));
    assert.deepEqual(result.written.map((w) => path.basename(w.path)).sort(), names);
    assertExactlyOnce(await outputIds(out), ids(1000));

    const parts = path.join(tmp, "named-parts");
    await rd.range(600, { overrideNumBlocks: 3 }).withColumn("bucket", rd.col("id").mod(rd.lit(3)))
      .writeCsv(parts, { partitionCols: ["bucket"], filenameProvider: new Namer("b") }).run();
    const files = listFilesRecursive(parts).map((f) => path.relative(parts, f));
    assert.equal(files.length, 9, files.join(", "));
    for (const file of files) {
      const [folder, name] = file.split(path.sep);
      assert.match(name, new RegExp(`^b${folder.slice("bucket=".length)}_[0-9a-z]{6}_\\d_0\\.csv$`), file);
    }
    const back = await rd.readCsv(parts).takeAll();
    assert.equal(back.length, 600);
    assert.ok(back.every((r) => Number(r.bucket) === Number(r.id) % 3));
  });

  it("a provider defined in a pipeline file reaches the workers through its bundle (outer variables and all)", () => {
    const dir = tempDir("rdpipe-names-pipeline-");
    const out = path.join(dir, "out");
    const file = writePipeline(dir, "named.rdpipe.ts", `import * as rd from "rdpipe";
const STEM = ["from", "the", "bundle"].join("-");
class Named {
  getFilenameForBlock(block: rd.Block, uuid: string, task: number, index: number, details: rd.FilenameDetails) {
    return \`\${STEM}-\${block.numRows}-\${uuid.slice(-4)}-\${task}-\${index}\${details.extension}\`;
  }
}
export default rd.range(300, { overrideNumBlocks: 3 }).writeJson(${JSON.stringify(out)}, { filenameProvider: new Named() });
`);
    const run = runCli(["run", file, "--quiet"]);
    assert.equal(run.code, 0, run.stderr);
    const names = fs.readdirSync(out).sort();
    assert.equal(names.length, 3);
    assert.ok(names.every((n) => /^from-the-bundle-100-[0-9a-z]{4}-\d-0\.json$/.test(n)), names.join(", "));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a bad name, a repeated name or a name an earlier file holds fails the job naming it, and leaves the folder as it was", async () => {
    const out = path.join(tmp, "bad");
    await rd.range(10).writeParquet(out, { filenameProvider: new Constant("kept.parquet") }).run();
    const before = snapshot(out);
    assert.deepEqual(Object.keys(before), ["kept.parquet"]);
    const write = (provider: rd.FilenameProvider) => rd.range(400, { overrideNumBlocks: 4 }).writeParquet(out, { filenameProvider: provider }).run();
    await assert.rejects(write(new Constant("../escape.parquet")),
      /WriteParquet: filenameProvider.getFilenameForBlock for block 0 of write task \d returned "\.\.\/escape\.parquet", which has a path separator/);
    await assert.rejects(write(new Constant("")), /returned an empty name/);
    await assert.rejects(write(new Constant(".hidden")), /returned "\.hidden", a hidden name/);
    await assert.rejects(write(new Constant("same.parquet")),
      /WriteParquet to .*bad: filenameProvider gave two files the name "same\.parquet": block 0 of write task \d \(written as \S+_00000\d_000000\.parquet\) and block 0 of write task \d/);
    await assert.rejects(write(new Constant("kept.parquet")), /gave two files the name "kept\.parquet"/);
    await assert.rejects(rd.range(10).writeParquet(out, { filenameProvider: new Constant("kept.parquet") }).run(),
      /filenameProvider named block 0 of write task 0 .* "kept\.parquet", but .*kept\.parquet exists already \(mode "append" replaces no file/);
    assert.deepEqual(snapshot(out), before);
    assert.throws(() => rd.range(1).writeParquet(out, { filenameProvider: (() => "x") as unknown as rd.FilenameProvider }), /filenameProvider must be an object with a getFilenameForBlock/);
    // mode "overwrite" replaces the file of that name, as the rest of the folder.
    await rd.range(5).writeParquet(out, { mode: "overwrite", filenameProvider: new Constant("kept.parquet") }).run();
    assert.deepEqual(fs.readdirSync(out), ["kept.parquet"]);
    assertExactlyOnce(await outputIds(out), ids(5));
  });

  it("a checkpointed job resumed with a provider writes every ID once, removes the uncommitted file and renames every attempt's files", async () => {
    const input = path.join(tmp, "ck-input");
    await rd.range(3000, { overrideNumBlocks: 6 }).writeParquet(input).run();
    const out = path.join(tmp, "ck-out");
    const checkpointPath = path.join(tmp, "ck");
    rd.DataContext.reset().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath });
    const job = (failAt: number) => rd.readParquet(input)
      .withColumn("bucket", rd.col("id").mod(rd.lit(2)))
      .map(new Function(`return function strict(r) { if (Number(r.id) === ${failAt}) throw new Error("bad row ${failAt}"); return r; }`)() as rd.RowFn)
      .writeParquet(out, { partitionCols: ["bucket"], maxRowsPerFile: 200, filenameProvider: new Namer("ck_") });
    await assert.rejects(job(2600).run(), /bad row 2600/);
    const committed = listFilesRecursive(out);
    assert.ok(committed.length > 0, "the failed attempt committed files");
    assert.ok(committed.every((f) => !path.basename(f).startsWith("ck_")), "files keep their job names until the job succeeds");
    // What a crash between a block's files and its commit leaves: a file of the attempt, uncommitted.
    const attempt = path.basename(committed[0]).split("_")[0];
    const stray = path.join(path.dirname(committed[0]), `${attempt}_000999_000000.parquet`);
    fs.copyFileSync(committed[0], stray);
    await job(-1).run();
    assert.ok(!fs.existsSync(stray));
    const files = listFilesRecursive(out).map((f) => path.relative(out, f));
    assert.ok(files.every((f) => /^bucket=[01]\/ck_[01]_[0-9a-z]{6}_\d+_\d+\.parquet$/.test(f.split(path.sep).join("/"))), files.join(", "));
    assert.equal(new Set(files.map((f) => path.basename(f).split("_")[2])).size, 2, "both attempts' files took their names");
    assertExactlyOnce(await outputIds(out), ids(3000));
    assert.ok(!fs.existsSync(checkpointPath), "the checkpoint is deleted on success");
    rd.DataContext.reset();
  });

  it("a kept checkpoint shows the files under their provider's names in their partition folders; running the finished job again (also after a crash among the renames) keeps every ID once", async () => {
    const out = path.join(tmp, "kept-out");
    const checkpointPath = path.join(tmp, "kept-ck");
    rd.DataContext.reset().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath, deleteCheckpointOnSuccess: false });
    const job = () => rd.range(900, { overrideNumBlocks: 3 }).withColumn("bucket", rd.col("id").mod(rd.lit(3)))
      .writeParquet(out, { partitionCols: ["bucket"], filenameProvider: new Namer("kept_") });
    await job().run();
    const files = listFilesRecursive(out);
    assert.equal(files.length, 9);
    assert.ok(files.every((f) => path.basename(f).startsWith("kept_")), files.join(", "));
    const reader = await CheckpointReader.open(checkpointPath);
    const summary = await reader.summary();
    assert.deepEqual(summary.committedFiles.map((f) => f.output).sort(), files);
    assert.equal(summary.committedFiles.reduce((n, f) => n + f.ids, 0), 900);
    const { rows } = await reader.rows(0, 1000);
    assert.equal(rows.length, 900);
    assert.ok(rows.every(({ file, row }) => files.includes(file) && Number(row.bucket) === Number(row.id) % 3));
    await job().run();
    assert.deepEqual(listFilesRecursive(out), files, "the renamed files count as committed: nothing is written again");
    assertExactlyOnce(await outputIds(out), ids(900));
    // What a crash among the renames leaves: some files still under their job names.
    const names = fs.readdirSync(path.join(checkpointPath, "names")).map((n) => JSON.parse(fs.readFileSync(path.join(checkpointPath, "names", n), "utf8")) as { renames: [string, string][] });
    const undone = names.flatMap((n) => n.renames).slice(0, 4);
    for (const [from, to] of undone) fs.renameSync(path.join(out, to), path.join(out, from));
    await job().run();
    assert.deepEqual(listFilesRecursive(out), files, "the next run finishes the renames and writes nothing again");
    assertExactlyOnce(await outputIds(out), ids(900));
    rd.DataContext.reset();
  });

  it("a checkpointed job whose provider repeats a name across attempts fails at the end, uncommits that file, and a mended provider finishes it exactly once", async () => {
    const input = path.join(tmp, "rep-input");
    await rd.range(2000, { overrideNumBlocks: 4 }).writeParquet(input).run();
    const out = path.join(tmp, "rep-out");
    rd.DataContext.reset().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(tmp, "rep-ck") });
    const job = (failAt: number, provider: rd.FilenameProvider) => rd.readParquet(input)
      .map(new Function(`return function strict(r) { if (Number(r.id) === ${failAt}) throw new Error("bad row ${failAt}"); return r; }`)() as rd.RowFn)
      .writeParquet(out, { maxRowsPerFile: 250, filenameProvider: provider });
    await assert.rejects(job(1900, new ByIndex()).run(), /bad row 1900/);
    const first = listFilesRecursive(out);
    // The resume's task 0 writes part-0-0 again: the earlier attempt's file holds that name.
    await assert.rejects(job(-1, new ByIndex()).run(),
      /filenameProvider gave two files the name "part-\d-\d\.parquet": block \d of write task \d \(written as \S+\) and block \d of write task \d .*; (that file is|those files are) uncommitted again: mend the filenameProvider/);
    assert.ok(listFilesRecursive(out).every((f) => !path.basename(f).startsWith("part-")), "nothing was renamed");
    assert.ok(first.every((f) => fs.existsSync(f)), "the later attempt's files are uncommitted, not the earlier one's");
    await job(-1, new Namer("mended_")).run();
    assertExactlyOnce(await outputIds(out), ids(2000));
    rd.DataContext.reset();
  });

  it("a resume after the renames whose provider repeats a renamed file's name uncommits its own file, never the renamed one", async () => {
    const dir = path.join(tmp, "again");
    const input = path.join(dir, "input");
    rd.DataContext.reset();
    await rd.range(1000, { overrideNumBlocks: 2 }).writeParquet(input).run();
    const out = path.join(dir, "out");
    const checkpointPath = path.join(dir, "ck");
    rd.DataContext.reset().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath, deleteCheckpointOnSuccess: false });
    const job = (failAt: number, provider: rd.FilenameProvider) => rd.readParquet(input)
      .map(new Function(`return function strict(r) { if (Number(r.id) === ${failAt}) throw new Error("bad row ${failAt}"); return r; }`)() as rd.RowFn, { onError: "skip" })
      .writeParquet(out, { maxRowsPerFile: 250, filenameProvider: provider });
    // Row 999 is skipped: the other rows' files take their names.
    await job(999, new ByIndex()).run();
    const renamed = snapshot(out);
    assert.ok(Object.keys(renamed).includes("part-0-0.parquet"), Object.keys(renamed).join(", "));
    await assert.rejects(job(-1, new ByIndex()).run(), /filenameProvider gave two files the name "part-0-0\.parquet"/);
    assert.deepEqual(snapshot(out), renamed, "the renamed files stay as they were");
    const committed = (await (await CheckpointReader.open(checkpointPath)).summary()).committedFiles.map((f) => path.relative(out, f.output)).sort();
    assert.deepEqual(committed, Object.keys(renamed).sort(), "the renamed files stay committed; the resume's file is not");
    await job(-1, new Namer("again_")).run();
    assertExactlyOnce(await outputIds(out), ids(1000));
    rd.DataContext.reset();
  });

  for (const partitioned of [false, true]) {
    it(`a renamed file lost after a later attempt read past its rows is written again${partitioned ? " (partitionCols)" : ""}`, async () => {
      const dir = path.join(tmp, `lost-${partitioned}`);
      const input = path.join(dir, "input");
      rd.DataContext.reset();
      await rd.range(1000, { overrideNumBlocks: 2 }).writeParquet(input).run();
      const out = path.join(dir, "out");
      rd.DataContext.reset().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(dir, "ck"), deleteCheckpointOnSuccess: false });
      const job = (failAt: number) => rd.readParquet(input)
        .withColumn("bucket", rd.col("id").mod(rd.lit(2)))
        .map(new Function(`return function strict(r) { if (Number(r.id) === ${failAt}) throw new Error("bad row ${failAt}"); return r; }`)() as rd.RowFn, { onError: "skip" })
        .writeParquet(out, { maxRowsPerFile: 100, filenameProvider: new Namer("lost_"), ...(partitioned && { partitionCols: ["bucket"] }) });
      // Row 999 is skipped: every other row is committed (and renamed), and only the second input is not done.
      await job(999).run();
      const firstFiles = listFilesRecursive(out);
      // The mended run reads the second input again, drops its committed rows, writes row 999 and records that input done.
      await job(-1).run();
      assertExactlyOnce(await outputIds(out), ids(1000));
      const added = listFilesRecursive(out).filter((f) => !firstFiles.includes(f));
      assert.equal(added.length, 1, "the mended run wrote row 999 alone");
      // The first run's committed files with rows of the second input are lost (all of a block's partition files: they are committed together).
      const lost = [];
      for (const file of firstFiles) if ((await outputIds(file)).some((id) => id >= 500)) lost.push(file);
      assert.ok(lost.length > 0 && lost.every((f) => path.basename(f).startsWith("lost_")), lost.join(", "));
      for (const file of lost) fs.rmSync(file);
      assert.ok((await outputIds(out)).length < 1000);
      await job(-1).run();
      assertExactlyOnce(await outputIds(out), ids(1000));
      rd.DataContext.reset();
    });
  }
});
