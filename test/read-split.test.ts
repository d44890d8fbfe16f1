// Parquet reads split by row groups (issue 21: two workers end together): the last files of a short
// listing are read a range of row groups per task — every row once, in file order, rows named by their
// place in their file — while small files and checkpointed jobs keep one task per file as before.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import * as rd from "../server/src/api";
import { ExecutionError } from "../server/src/exec";
import { tempDir } from "./helpers";

const GROUP_ROWS = 2048;
const GROUPS = 5;
const FILE_ROWS = GROUP_ROWS * GROUPS;

async function duck<T>(fn: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(":memory:");
  const conn = await instance.connect();
  try {
    return await fn(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[]);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** The ids of the Parquet files in `dir`, file by file in name order, each file's in its row order. */
async function idsByFile(dir: string): Promise<number[][]> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".parquet")).sort();
  return duck(async (run) => {
    const out: number[][] = [];
    for (const file of files) out.push((await run(`SELECT id FROM read_parquet('${path.join(dir, file)}')`)).map((r) => Number(r.id)));
    return out;
  });
}

describe("Parquet reads split by row groups", function () {
  this.timeout(120_000);
  let dir: string;
  let big: string;
  let small: string;

  before(async () => {
    dir = tempDir();
    big = path.join(dir, "big");
    small = path.join(dir, "small");
    fs.mkdirSync(big);
    fs.mkdirSync(small);
    await duck(async (run) => {
      for (let f = 0; f < 2; f++) {
        await run(`COPY (SELECT (${f * FILE_ROWS} + i)::BIGINT AS id, (i % 7)::INTEGER AS v FROM range(${FILE_ROWS}) t(i) ORDER BY i)
          TO '${path.join(big, `part-${f}.parquet`)}' (FORMAT parquet, ROW_GROUP_SIZE ${GROUP_ROWS})`);
      }
      for (let f = 0; f < 6; f++) {
        await run(`COPY (SELECT (${f * 100} + i)::BIGINT AS id, (i % 7)::INTEGER AS v FROM range(100) t(i) ORDER BY i) TO '${path.join(small, `part-${f}.parquet`)}' (FORMAT parquet)`);
      }
      const groups = await run(`SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path.join(big, "part-0.parquet")}')`);
      assert.equal(Number(groups[0].n), GROUPS, "the input files have the row groups the test needs");
    });
  });

  beforeEach(() => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits.cpu = 2;
  });

  // The last test sets a checkpointConfig: later files' jobs must not open its checkpoint.
  after(() => {
    rd.DataContext.reset();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reads the last files a range of row groups per task: every row once, in file and row order, one output file per part", async () => {
    const out = path.join(dir, "out-split");
    const result = await rd.readParquet(big).map((r) => ({ ...r, w: Number(r.v) * 2 })).writeParquet(out).run();
    assert.equal(result.progress.operators[0].tasksDone, 2 * GROUPS);
    const byFile = await idsByFile(out);
    assert.equal(byFile.length, 2 * GROUPS, `one output file per row group of the 2 files: ${byFile.map((ids) => ids.length).join(", ")}`);
    assert.ok(byFile.every((ids) => ids.length === GROUP_ROWS));
    assert.deepEqual(byFile.flat(), Array.from({ length: 2 * FILE_ROWS }, (_, i) => i), "the files' names put the rows in input order, each once");
  });

  it("cuts files only where a batch UDF's batches keep their rows: parts of whole batches, the batches a whole-file read gives", async () => {
    const batchRows = 2 * GROUP_ROWS;
    const result = await rd.readParquet(big).mapBatches((b: rd.Columns) => ({ n: new Float64Array((b.id as BigInt64Array).length).fill((b.id as BigInt64Array).length) }), { batchSize: batchRows })
      .writeParquet(path.join(dir, "out-batches")).run();
    // Cuts after 2 and 4 of the 5 row groups: 3 parts a file.
    assert.equal(result.progress.operators[0].tasksDone, 2 * 3);
    const sizes = await duck(async (run) => (await run(`SELECT n, count(*) AS c FROM read_parquet('${path.join(dir, "out-batches")}/*.parquet') GROUP BY n ORDER BY n`))
      .map((r) => `${Number(r.n)}x${Number(r.c) / Number(r.n)}`));
    assert.deepEqual(sizes, [`${GROUP_ROWS}x2`, `${batchRows}x4`], "per file: two full batches and the rest, as from the whole file");
  });

  it("names a failing row by its place in its file, in a task that read only a later range of that file's row groups", async () => {
    const badId = FILE_ROWS + 3 * GROUP_ROWS + 17; // second file, fourth row group
    // A UDF outside a pipeline file travels as source text: the id is in it.
    const check = new Function(`return function check(r) { if (Number(r.id) === ${badId}) throw new Error("bad row"); return r; }`)() as rd.RowFn;
    const error = await rd.readParquet(big).map(check).takeAll().catch((e: ExecutionError) => e);
    assert.ok(error instanceof Error, `the run failed: ${String(error).slice(0, 200)}`);
    assert.match(error.message, new RegExp(`Map\\(check\\) failed on row ${3 * GROUP_ROWS + 17} of ${path.join(big, "part-1.parquet").replace(/[.]/g, "\\.")}`));
  });

  it("keeps one task per file for files of one row group, and in a checkpointed job", async () => {
    const smallOut = path.join(dir, "out-small");
    const result = await rd.readParquet(small).writeParquet(smallOut).run();
    assert.equal(result.progress.operators[0].tasksDone, 3, "the ramp of the first tasks, as before: 1 file, 2, then the 3 left");
    assert.deepEqual((await idsByFile(smallOut)).map((ids) => ids.length), [100, 100, 100, 100, 100, 100], "as before: a file per input file");

    const context = rd.DataContext.getCurrent();
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(dir, "ckpt") });
    const checkpointedOut = path.join(dir, "out-checkpointed");
    const checkpointed = await rd.readParquet(big).writeParquet(checkpointedOut).run();
    assert.equal(checkpointed.progress.operators[0].tasksDone, 2, "a checkpoint counts files done whole: a task per file");
    assert.deepEqual((await idsByFile(checkpointedOut)).flat().sort((a, b) => a - b), Array.from({ length: 2 * FILE_ROWS }, (_, i) => i));
  });
});
