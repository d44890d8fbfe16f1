// A user-defined Datasink (samples/jsonl-datasink.ts) run by `rdpipe run` in real workers: every row
// arrives exactly once, commit runs once with every write's result, and a failed job aborts (its pending
// files go, earlier output stays) without a commit. The sink is instrumented by a subclass that logs calls.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { REPO, assertExactlyOnce, runCli, tempDir, writePipeline } from "./helpers";

const ROWS = 10_000;
const TASKS = 4;

interface LogEntry { call: "write" | "commit" | "abort"; jobId: string; context?: rd.WriteContext; path?: string; results?: rd.WriteResult[] }

/** A pipeline writing range(ROWS) in TASKS tasks through the sample sink, logged; `map` is the body of a row UDF. */
function pipeline(dir: string, name: string, out: string, log: string, map = "return row;", sinkExtra = ""): string {
  return writePipeline(dir, name, `
import fs from "node:fs";
import * as rd from "rdpipe";
import { JsonLinesDatasink } from ${JSON.stringify(path.join(REPO, "samples", "jsonl-datasink"))};

const log = (entry: object) => fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(entry) + "\\n");

class LoggedDatasink extends JsonLinesDatasink {
  write(block: rd.Block, context: rd.WriteContext) {
    ${sinkExtra}
    const result = super.write(block, context);
    log({ call: "write", jobId: context.jobId, context, path: result.path });
    return result;
  }
  commit(results: rd.WriteResult[], jobId: string) {
    log({ call: "commit", jobId, results });
    return super.commit(results, jobId);
  }
  abort(jobId: string) {
    log({ call: "abort", jobId });
    super.abort(jobId);
  }
}

export default rd.range(${ROWS}, { overrideNumBlocks: ${TASKS} })
  .map(async (row) => { ${map} })
  .writeDatasink(new LoggedDatasink(${JSON.stringify(out)}));
`);
}

const readLog = (log: string): LogEntry[] => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").map((line) => JSON.parse(line) as LogEntry) : []);

/** The committed (visible) JSON Lines files in dir and their contents. */
function snapshot(dir: string): Map<string, string> {
  return new Map(fs.readdirSync(dir).sort().map((name) => [name, fs.readFileSync(path.join(dir, name), "utf8")]));
}

describe("Datasink: a user-defined sink in a pipeline file", function () {
  this.timeout(180_000);
  const dir = tempDir("rdpipe-datasink-");
  const out = path.join(dir, "out");
  let firstJob: string;

  it("writes every row exactly once in the workers and commits once, with every write's result", () => {
    const log = path.join(dir, "ok.log");
    const run = runCli(["run", pipeline(dir, "ok.rdpipe.ts", out, log), "--quiet"], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Wrote 10,000 rows in \d+ files .* to WriteLogged/);

    const entries = readLog(log);
    const writes = entries.filter((e) => e.call === "write");
    const commits = entries.filter((e) => e.call === "commit");
    assert.equal(commits.length, 1, "commit runs once");
    assert.equal(entries.filter((e) => e.call === "abort").length, 0, "a job that succeeded is not aborted");
    firstJob = commits[0].jobId;
    assert.ok(writes.every((w) => w.jobId === firstJob), "every write got the job's id");
    assert.equal(new Set(writes.map((w) => w.context!.taskIndex)).size, TASKS, `writes of every one of the ${TASKS} tasks`);
    const committed = commits[0].results!;
    assert.deepEqual(committed.map((r) => r.path).sort(), writes.map((w) => w.path).sort(), "commit got the result of every write");
    assert.equal(committed.reduce((sum, r) => sum + r.rows, 0), ROWS);

    const files = snapshot(out);
    assert.deepEqual([...files.keys()].filter((name) => name.startsWith(".pending-")), [], "commit made every file visible");
    const manifest = JSON.parse(files.get(`_manifest-${firstJob}.json`)!) as rd.WriteResult[];
    assert.deepEqual(manifest.map((r) => path.basename(r.path)).sort(), [...files.keys()].filter((name) => name.endsWith(".jsonl")));
    const rows = [...files].filter(([name]) => name.endsWith(".jsonl"))
      .flatMap(([, text]) => text.trim().split("\n").map((line) => JSON.parse(line) as { id: number }));
    assertExactlyOnce(rows.map((row) => row.id), Array.from({ length: ROWS }, (_, i) => i));
  });

  it("aborts a job whose UDF throws: no commit, its pending files removed, the earlier output intact", () => {
    const before = snapshot(out);
    const log = path.join(dir, "failed.log");
    // The bad row waits (at most 20 s) until other blocks are written, so the abort has pending files to remove.
    const map = `if (Number(row.id) !== ${ROWS - 1}) return row;
      for (let i = 0; i < 200 && (fs.existsSync(${JSON.stringify(log)}) ? fs.readFileSync(${JSON.stringify(log)}, "utf8").split("\\n").length : 0) < 3; i++) await new Promise((r) => setTimeout(r, 100));
      throw new Error("bad row ${ROWS - 1}");`;
    const run = runCli(["run", pipeline(dir, "failing.rdpipe.ts", out, log, map), "--quiet"], { cwd: dir });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /bad row 9999/);

    const entries = readLog(log);
    const writes = entries.filter((e) => e.call === "write");
    assert.ok(writes.length >= 2, `${writes.length} blocks written before the failure`);
    const jobId = writes[0].jobId;
    assert.notEqual(jobId, firstJob);
    assert.deepEqual(entries.filter((e) => e.call !== "write").map((e) => [e.call, e.jobId]), [["abort", jobId]], "abort once, and no commit");
    assert.ok(writes.every((w) => !fs.existsSync(w.path!)), "abort removed every file the job wrote");
    assert.deepEqual(snapshot(out), before, "the earlier job's output is as it was");
  });

  it("a write that throws fails the job with the write named, and aborts it", () => {
    const before = snapshot(out);
    const log = path.join(dir, "write-fails.log");
    const run = runCli(["run", pipeline(dir, "write-fails.rdpipe.ts", out, log, "return row;",
      `if (context.taskIndex === 2) throw new Error("no room for block " + context.blockIndex);`), "--quiet"], { cwd: dir });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /ReadRange->Map\(<lambda>\)->WriteLogged: writing block 0 of write task 2 failed: Error: no room for block 0/);
    const entries = readLog(log);
    assert.deepEqual(entries.filter((e) => e.call !== "write").map((e) => e.call), ["abort"]);
    assert.deepEqual(snapshot(out), before);
  });

  it("on one worker, starts the next write task while the last write of the one before is still going, each row still written once", () => {
    // Each write takes 300 ms; the worker is free for the next task once a task has made its last block.
    const log = path.join(dir, "overlap.log");
    const overlapOut = path.join(dir, "overlap-out");
    const file = pipeline(dir, "overlap.rdpipe.ts", overlapOut, log, "return row;",
      "const startedAt = Date.now(); log({ call: 'span', jobId: context.jobId, taskIndex: context.taskIndex, startedAt }); return new Promise((resolve) => setTimeout(resolve, 300)).then(() => { log({ call: 'spanEnd', jobId: context.jobId, taskIndex: context.taskIndex, at: Date.now() }); return super.write(block, context); });");
    const run = runCli(["run", file, "--workers", "1", "--quiet"], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    const entries = readLog(log) as (LogEntry & { taskIndex?: number; startedAt?: number; at?: number })[];
    const spans = new Map<number, { start: number; end: number }>();
    for (const e of entries) {
      if ((e.call as string) === "span") spans.set(e.taskIndex!, { start: e.startedAt!, end: Infinity });
      if ((e.call as string) === "spanEnd") spans.get(e.taskIndex!)!.end = e.at!;
    }
    assert.equal(spans.size, TASKS, `a write in each of the ${TASKS} tasks: ${JSON.stringify([...spans])}`);
    const ordered = [...spans.values()].sort((a, b) => a.start - b.start);
    const overlapping = ordered.slice(1).filter((span, i) => span.start < ordered[i].end).length;
    assert.ok(overlapping > 0, `one worker, yet no write began before the one before it ended: ${JSON.stringify(ordered)}`);
    const commits = entries.filter((e) => e.call === "commit");
    assert.equal(commits.length, 1);
    const rows = fs.readdirSync(overlapOut).filter((f) => f.endsWith(".jsonl")).flatMap((f) => fs.readFileSync(path.join(overlapOut, f), "utf8").trim().split("\n")).map((l) => (JSON.parse(l) as { id: number }).id);
    assert.equal(rows.length, ROWS);
    assert.equal(new Set(rows).size, ROWS, "every row once");
  });

  it("refuses a datasink outside a pipeline file, which workers could not load", async () => {
    const sink: rd.Datasink = { write: (block) => ({ path: "nowhere", rows: block.numRows, bytes: 0 }) };
    await assert.rejects(rd.range(10).writeDatasink(sink).run(), /WriteDatasink: a Datasink reaches the write tasks only from a pipeline file/);
  });

  it("refuses checkpointing, which commits files, with a datasink of another kind", async () => {
    const context = rd.DataContext.reset();
    try {
      context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(dir, "checkpoint") });
      const sink: rd.Datasink = { name: "WriteRows", write: (block) => ({ path: "nowhere", rows: block.numRows, bytes: 0 }) };
      await assert.rejects(rd.range(10).writeDatasink(sink).run(),
        /checkpointing \(idColumn 'id'\) needs a file write \(writeParquet, writeCsv, writeJson\), whose files it commits; WriteRows writes to another Datasink/);
    } finally {
      rd.DataContext.reset();
    }
  });
});
