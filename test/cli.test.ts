import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { formatBytes } from "../server/src/exec";
import { REPO, listFilesRecursive, runCli, tempDir, writePipeline } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

async function duckdbRows(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(":memory:");
  const connection = await db.connect();
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS() as Record<string, unknown>[];
}

describe("rdpipe run (CLI)", function () {
  this.timeout(180_000);
  let dir: string;
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs the quickstart: generator then pipeline, output readable by DuckDB", async () => {
    const make = runCli(["run", "samples/make-data.rdpipe.ts", "--quiet"]);
    assert.equal(make.code, 0, make.stderr);
    assert.match(make.stdout, /Wrote 200,000 rows in \d+ files/);
    const input = path.join(REPO, "samples/data/reviews");
    const [{ n: inputRows, ids }] = await duckdbRows(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS ids FROM read_parquet('${input}/*.parquet')`);
    assert.equal(inputRows, 200_000);
    assert.equal(ids, 200_000);

    const run = runCli(["run", "samples/quickstart.rdpipe.ts"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /ReadParquet->Map\(normalize\)->MapBatches\(scoreSentiment\)->Filter\(<lambda>\)->WriteParquet/);
    assert.match(run.stderr, /Operator 0 .*rows\/s/);
    const output = path.join(REPO, "samples/out/positive-reviews");
    const [stats] = await duckdbRows(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS ids, min(sentiment) AS minS,
      sum(CASE WHEN text <> lower(trim(text)) THEN 1 ELSE 0 END)::INT AS unnormalized FROM read_parquet('${output}/*.parquet')`);
    assert.ok((stats.n as number) > 0 && (stats.n as number) < 200_000, `output rows ${stats.n}`);
    assert.equal(stats.ids, stats.n);
    assert.ok((stats.minS as number) > 0);
    assert.equal(stats.unnormalized, 0);
    // The fused read -> write stage's bytes are its files' (not 0 B), as the "Wrote" line says.
    const onDisk = fs.readdirSync(output).reduce((sum, f) => sum + fs.statSync(path.join(output, f)).size, 0);
    assert.match(run.stdout, new RegExp(`Wrote [\\d,]+ rows in \\d+ files \\(${formatBytes(onDisk)}\\)`));
    assert.match(run.stderr, new RegExp(`Operator 0 .*->WriteParquet: .* rows written, ${formatBytes(onDisk)} written, `));
  });

  it("prints the first rows of a plan that does not end in a write", () => {
    const file = writePipeline(dir, "preview.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(1000).map((r) => ({ id: r.id, tenfold: (r.id as number) * 10 }));\n`);
    const run = runCli(["run", file, "--preview", "3"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\{id: \d+, tenfold: \d+\}\n\{id: \d+, tenfold: \d+\}\n\{id: \d+, tenfold: \d+\}\n\(3 rows shown\)/);
    assert.match(run.stderr, /done .*workers/, "no final progress line on a non-TTY");
  });

  it("gives a pipeline the engine's own Arrow: a batch is its Table, a Table it makes is taken as made", () => {
    const file = writePipeline(dir, "arrow-identity.rdpipe.ts", `import * as rd from "rdpipe";
import { Table, tableFromArrays } from "apache-arrow";
export default rd.range(5).mapBatches((b: rd.Batch) => {
  if (!(b instanceof Table)) throw new Error("the batch is not the pipeline's apache-arrow Table");
  return tableFromArrays({ id: Float64Array.from(b.getChild("id")!.toArray() as BigInt64Array, Number), half: Float64Array.from({ length: b.numRows }, () => 0.5) });
}, { batchFormat: "arrow" });
`);
    const run = runCli(["run", file, "--preview", "5"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.match(/\{id: \d+, half: 0\.5\}/g)?.length, 5, run.stdout);
  });

  it("has its workers load parquet-wasm as a Parquet job starts, before its first task; a job without Parquet loads none", () => {
    const parquetJob = writePipeline(dir, "to-parquet.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(10).writeParquet(${JSON.stringify(path.join(dir, "prepared-out"))});
`);
    const jsonJob = writePipeline(dir, "to-json.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(10).writeJson(${JSON.stringify(path.join(dir, "unprepared-out"))});
`);
    const loadedAhead = /parquet-wasm loaded before the job's first task/g;
    const parquet = runCli(["run", parquetJob, "--workers", "2"], { env: { NODE_DEBUG: "rdpipe" } });
    assert.equal(parquet.code, 0, parquet.stderr);
    assert.equal(parquet.stderr.match(loadedAhead)?.length, 2, `each of the 2 workers: ${parquet.stderr}`);
    const json = runCli(["run", jsonJob, "--workers", "2"], { env: { NODE_DEBUG: "rdpipe" } });
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stderr.match(loadedAhead), null, json.stderr);
  });

  it("exits soon after a preview even when a task it no longer needs is stuck in a UDF", () => {
    const file = writePipeline(dir, "stuck.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(20_000, { overrideNumBlocks: 2 }).map(async (r) => ((r.id as number) >= 10_000 ? new Promise<rd.Row>(() => undefined) : r));
`);
    const started = Date.now();
    const run = runCli(["run", file, "--preview", "3", "--quiet"], { timeoutMs: 30_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\(3 rows shown\)/);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  });

  it("exits 1 naming the operator, file and row when a UDF throws on a malformed row", async () => {
    const data = path.join(dir, "events.jsonl");
    fs.writeFileSync(data, ['{"id": 1, "text": "ok"}', '{"id": 2, "text": null}', '{"id": 3, "text": "fine"}'].join("\n"));
    const file = writePipeline(dir, "malformed.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.readJson("events.jsonl").map(function clean(row) {
  return { ...row, text: (row.text as string).trim() };
});
`);
    const run = runCli(["run", file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Map\(clean\) failed on row 1 of .*events\.jsonl: TypeError: Cannot read properties of null/);
    assert.match(run.stderr, /row: \{"id":2,"text":null\}/);
    assert.match(run.stderr, /malformed\.rdpipe\.ts:3:/, "the stack should point into the pipeline file");
  });

  it("exits 1 on a syntax error with file and line, 2 on bad usage", () => {
    const file = writePipeline(dir, "broken.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(3).map((r) => {\n`);
    const run = runCli(["run", file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /\/broken\.rdpipe\.ts:3:\d+: Unexpected end of file/);
    assert.equal(runCli(["run"]).code, 2);
    assert.equal(runCli(["frobnicate", file]).code, 2);
    assert.equal(runCli(["run", file, "--workers", "zero"]).code, 2);
  });

  it("names the pipeline file itself, with line and column, for a syntax error in a file below the working directory", () => {
    fs.mkdirSync(path.join(dir, "sub", "dir"), { recursive: true });
    const file = writePipeline(path.join(dir, "sub", "dir"), "x.rdpipe.ts",
      `import * as rd from "rdpipe";\nexport default rd.range(3).map((r) => r.id +);\n`);
    const run = runCli(["run", path.join("sub", "dir", "x.rdpipe.ts")], { cwd: dir });
    assert.equal(run.code, 1);
    assert.ok(run.stderr.includes(`${file}:2:`), run.stderr);
    assert.match(run.stderr, /sub\/dir\/x\.rdpipe\.ts:2:\d+: Unexpected "\)"/);
  });

  it("reports a missing input path and writes nothing", () => {
    const out = path.join(dir, "never");
    const file = writePipeline(dir, "missing.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.readParquet("no/such/dir").writeParquet(${JSON.stringify(out)});\n`);
    const run = runCli(["run", file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /no such file or directory: .*no\/such\/dir/);
    assert.deepEqual(listFilesRecursive(out), []);
  });
});

/** Four JSON Lines files of 100 events (ids 0..399); the text of ids 0, 37, …, 296 is "bad" (9 rows), so part-3 has none. */
function writeEvents(dir: string): string {
  const events = path.join(dir, "events");
  fs.mkdirSync(events, { recursive: true });
  for (let f = 0; f < 4; f++) {
    const lines = Array.from({ length: 100 }, (_, i) => f * 100 + i).map((id) => JSON.stringify({ id, text: id % 37 === 0 && id < 300 ? "bad" : `text ${id}` }));
    fs.writeFileSync(path.join(events, `part-${f}.jsonl`), lines.join("\n"));
  }
  return events;
}

const BAD_IDS = [0, 37, 74, 111, 148, 185, 222, 259, 296];

/** A checkpointed pipeline: events → Map(strict) (throws on "bad" unless fixed) → Parquet in out/. */
function checkpointedPipeline(dir: string, options: { checkpointPath: string; onError?: "skip"; fixed?: boolean }): string {
  return writePipeline(dir, "job.rdpipe.ts", `import * as rd from "rdpipe";
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ${JSON.stringify(options.checkpointPath)} });
export default rd.readJson("events").map(function strict(row) {
  if (row.text === "bad" && ${!options.fixed}) throw new Error(\`malformed text in row \${row.id}\`);
  return { ...row, upper: String(row.text).toUpperCase() };
}${options.onError ? `, { onError: "${options.onError}" }` : ""}).writeParquet("out");
`);
}

interface ShownCheckpoint {
  path: string;
  manifest: { idColumn: string; output: { path: string; format: string } };
  attempts: string[];
  committedIds: number;
  committedFiles: { output: string; record: string; ids: number }[];
  doneInputFiles: string[];
  erroredRows: { id: unknown; operator: string; file: string; row: number; input: string; error: string; stack: string }[];
}

function showJson(location: string, cwd: string): ShownCheckpoint {
  const show = runCli(["checkpoint", "show", location, "--json"], { cwd });
  assert.equal(show.code, 0, show.stderr);
  return JSON.parse(show.stdout) as ShownCheckpoint;
}

describe("rdpipe checkpoint show, and checkpoint counters in rdpipe run (CLI)", function () {
  this.timeout(180_000);
  let dir: string;
  beforeEach(() => { dir = tempDir(); writeEvents(dir); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("skip → show → fix → resume: the run summarizes the checkpoint, show lists committed files, done files and errored rows", () => {
    const ckpt = path.join(dir, "ckpt");
    checkpointedPipeline(dir, { checkpointPath: "ckpt", onError: "skip" });
    const first = runCli(["run", "job.rdpipe.ts"], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Wrote 391 rows in \d+ files/);
    assert.match(first.stdout, /\nCheckpoint: nothing committed before this run; this run committed \d+ files, 391 rows, 9 errored rows; checkpoint kept at .*\/ckpt \(9 errored rows: fix the UDF and run again/);
    assert.match(first.stderr, /\] checkpoint: nothing committed before this run; this run committed \d+ files, 391 rows, 9 errored rows; checkpoint kept at/, "the progress view shows the checkpoint");

    const text = runCli(["checkpoint", "show", "ckpt"], { cwd: dir });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^Checkpoint ${ckpt}\n  job: ID column 'id', writes parquet to ${path.join(dir, "out")} `));
    assert.match(text.stdout, /\n  attempts: 1 \([0-9a-f]{8}\)\n  committed IDs: 391\n  committed files: \d+\n/);
    const fileLines = [...text.stdout.matchAll(/^    (\S+\.parquet)  (\d+) IDs$/gm)];
    assert.ok(fileLines.length > 0);
    assert.equal(fileLines.reduce((sum, m) => sum + Number(m[2]), 0), 391);
    for (const [, file] of fileLines) assert.ok(fs.existsSync(file), `${file} is listed as committed`);
    assert.match(text.stdout, /\n  done input files: 1\n  errored rows: 9 \(a resume processes exactly these\)\n/);
    assert.match(text.stdout, /\n    id 37  Map\(strict\)  \S+\/events\/part-0\.jsonl row 37: Error: malformed text in row 37\n/);

    const shown = showJson(ckpt, REPO);
    assert.equal(shown.path, ckpt);
    assert.equal(shown.manifest.idColumn, "id");
    assert.equal(shown.attempts.length, 1);
    assert.equal(shown.committedIds, 391);
    assert.equal(shown.committedFiles.reduce((sum, f) => sum + f.ids, 0), 391);
    assert.deepEqual(shown.committedFiles.map((f) => f.output), fileLines.map((m) => m[1]));
    assert.ok(shown.committedFiles.every((f) => fs.existsSync(f.record)));
    assert.deepEqual(shown.doneInputFiles, [path.join(dir, "events", "part-3.jsonl")]);
    assert.deepEqual(shown.erroredRows.map((r) => Number(r.id)).sort((a, b) => a - b), BAD_IDS);
    const row = shown.erroredRows.find((r) => Number(r.id) === 111)!;
    assert.equal(row.operator, "Map(strict)");
    assert.equal(row.file, path.join(dir, "events", "part-1.jsonl"));
    assert.equal(row.row, 11);
    assert.deepEqual(JSON.parse(row.input), { id: 111, text: "bad" });
    assert.match(row.error, /malformed text in row 111/);
    assert.match(row.stack, /^Error: malformed text in row 111\n\s+at .*job\.rdpipe\.ts:4:/);

    // debug-row replays that row through the operator, failing fast although the plan says skip.
    const debugged = runCli(["debug-row", "job.rdpipe.ts", "--operator", row.operator, "--row", row.input], { cwd: dir });
    assert.equal(debugged.code, 1);
    assert.match(debugged.stderr, /Map\(strict\) failed on row 0: Error: malformed text in row 111\n.*\n\s+at .*job\.rdpipe\.ts:4:/);
    const unknown = runCli(["debug-row", "job.rdpipe.ts", "--operator", "Map(gone)", "--row", row.input], { cwd: dir });
    assert.match(unknown.stderr, /has no operator named 'Map\(gone\)' \(it has: ReadJSON, Map\(strict\), WriteParquet\)/);

    checkpointedPipeline(dir, { checkpointPath: "ckpt", onError: "skip", fixed: true });
    const fixedRow = runCli(["debug-row", "job.rdpipe.ts", "--operator", row.operator, "--row", row.input], { cwd: dir });
    assert.equal(fixedRow.code, 0, fixedRow.stderr);
    assert.match(fixedRow.stdout, /^\{ id: 111, text: 'bad', upper: 'BAD' \}\n\(Map\(strict\) gave 1 row\)\n$/);
    const resumed = runCli(["run", "job.rdpipe.ts", "--quiet"], { cwd: dir });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /Wrote 9 rows/);
    assert.match(resumed.stdout, /\nCheckpoint: resumed with 391 IDs committed \(\d+ files\): 1 input files skipped, 291 rows already done; this run committed \d+ files, 9 rows; checkpoint deleted\n/);
    assert.equal(resumed.stderr, "", "--quiet prints no progress");
    assert.equal(fs.existsSync(ckpt), false);

    const gone = runCli(["checkpoint", "show", "ckpt"], { cwd: dir });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^rdpipe: cannot show the checkpoint at .*\/ckpt: no checkpoint at .*\/ckpt\n$/);
  });

  it("debug-row replays a failed job's row from the transform it entered: earlier operators do not run again, a long row is whole", () => {
    const long = "x".repeat(2000);
    writePipeline(dir, "chain.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.fromItems(Array.from({ length: 20 }, (_, n) => ({ n, text: n === 12 ? ${JSON.stringify(long)} : "short" })))
  .map(function inc(row) { return { ...row, n: (row.n as number) + 10 }; })
  .addColumn("m", function one(batch) { return (batch.n as ArrayLike<number>).length ? Array.from(batch.n as ArrayLike<number>, () => 1) : []; })
  .map(function boom(row) {
    if (row.n === 22 && process.env.FIXED !== "1") throw new Error("boom on " + row.n);
    return { n: row.n, m: row.m, size: String(row.text).length };
  });
`);
    const failed = runCli(["run", "chain.rdpipe.ts", "--quiet"], { cwd: dir });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Map\(boom\) failed on row 12: Error: boom on 22/);
    const rowJson = JSON.stringify({ n: 22, text: long, m: 1 });
    const replay = runCli(["debug-row", "chain.rdpipe.ts", "--operator", "Map(boom)", "--row", rowJson], { cwd: dir });
    assert.equal(replay.code, 1, "the row fails again: inc does not run a second time");
    assert.match(replay.stderr, /Map\(boom\) failed on row 0: Error: boom on 22/);
    assert.match(replay.stderr, /at (Object\.)?boom \(.*chain\.rdpipe\.ts:6:/);
  });

  it("a failed checkpointed run says where its checkpoint is kept and what it committed", () => {
    checkpointedPipeline(dir, { checkpointPath: "ckpt" });
    const failed = runCli(["run", "job.rdpipe.ts", "--quiet"], { cwd: dir });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Map\(strict\) failed on row \d+ \(id \d+\)/);
    assert.match(failed.stderr, /\ncheckpoint: nothing committed before this run; this run committed \d+ files, \d+ rows; checkpoint kept at .*\/ckpt: run the job again to resume\n/);
    assert.ok(fs.existsSync(path.join(dir, "ckpt", "manifest.json")));
  });

  it("exits 1 for a folder that is not a checkpoint, 2 on bad usage; --help lists the command", () => {
    const notCheckpoint = runCli(["checkpoint", "show", "events"], { cwd: dir });
    assert.equal(notCheckpoint.code, 1);
    assert.match(notCheckpoint.stderr, /events is not a checkpoint \(no manifest\.json, attempts or committed records\)/);
    assert.equal(runCli(["run", "job.rdpipe.ts", "--json"], { cwd: dir }).code, 2, "--json is for checkpoint show only");
    for (const args of [["checkpoint"], ["checkpoint", "show"], ["checkpoint", "show", "a", "b"], ["checkpoint", "list", "ckpt"]]) {
      const usage = runCli(args, { cwd: dir });
      assert.equal(usage.code, 2, args.join(" "));
      assert.match(usage.stderr, /rdpipe checkpoint show PATH/);
    }
    const help = runCli(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /rdpipe checkpoint show PATH .*\n.*\n\s+--json /);
  });

  describe("on S3 (the environment's endpoint)", () => {
    let server: S3Server;
    before(async () => {
      server = await startS3Server(["ckpt"]);
      process.env.AWS_ENDPOINT_URL_S3 = server.endpoint;
    });
    after(async () => {
      delete process.env.AWS_ENDPOINT_URL_S3;
      await server.stop();
    });

    it("shows a checkpoint kept under s3://; a prefix without one exits 1", () => {
      checkpointedPipeline(dir, { checkpointPath: "s3://ckpt/jobs/events", onError: "skip" });
      const run = runCli(["run", "job.rdpipe.ts", "--quiet"], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /checkpoint kept at s3:\/\/ckpt\/jobs\/events \(9 errored rows/);
      const shown = showJson("s3://ckpt/jobs/events", dir);
      assert.equal(shown.path, "s3://ckpt/jobs/events");
      assert.equal(shown.committedIds, 391);
      assert.equal(shown.committedFiles.reduce((sum, f) => sum + f.ids, 0), 391);
      assert.ok(shown.committedFiles.every((f) => f.record.startsWith("s3://ckpt/jobs/events/committed/")));
      assert.deepEqual(shown.doneInputFiles, [path.join(dir, "events", "part-3.jsonl")]);
      assert.deepEqual(shown.erroredRows.map((r) => Number(r.id)).sort((a, b) => a - b), BAD_IDS);
      const text = runCli(["checkpoint", "show", "s3://ckpt/jobs/events"], { cwd: dir });
      assert.match(text.stdout, /committed IDs: 391\n/);

      const missing = runCli(["checkpoint", "show", "s3://ckpt/jobs/none"], { cwd: dir });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no checkpoint at s3:\/\/ckpt\/jobs\/none/);
    });
  });
});
