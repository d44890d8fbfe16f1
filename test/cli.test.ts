import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { REPO, listFilesRecursive, runCli, tempDir, writePipeline } from "./helpers";

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
  });

  it("prints the first rows of a plan that does not end in a write", () => {
    const file = writePipeline(dir, "preview.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(1000).map((r) => ({ id: r.id, tenfold: (r.id as number) * 10 }));\n`);
    const run = runCli(["run", file, "--preview", "3"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\{id: \d+, tenfold: \d+\}\n\{id: \d+, tenfold: \d+\}\n\{id: \d+, tenfold: \d+\}\n\(3 rows shown\)/);
    assert.match(run.stderr, /done .*workers/, "no final progress line on a non-TTY");
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

  it("reports a missing input path and writes nothing", () => {
    const out = path.join(dir, "never");
    const file = writePipeline(dir, "missing.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.readParquet("no/such/dir").writeParquet(${JSON.stringify(out)});\n`);
    const run = runCli(["run", file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /no such file or directory: .*no\/such\/dir/);
    assert.deepEqual(listFilesRecursive(out), []);
  });
});
