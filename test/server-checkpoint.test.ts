// Resume and checkpoint inspection over real HTTP: a real `rdpipe serve` process and real job-runner
// processes running checkpointed pipelines; output checked by reading the Parquet files written.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import * as rd from "../server/src/api";
import {
  RemoteClient, type CheckpointErrorsResponse, type CheckpointIdsResponse, type CheckpointRowsResponse, type CheckpointStatus,
  type CheckpointSummaryResponse, type JobEvent, type JobSummary,
} from "../server/src/contract";
import { compilePipeline } from "../server/src/loader";
import { assertExactlyOnce, listFilesRecursive, outputIds, runCli, tempDir, writePipeline } from "./helpers";
import { type ServerProcess, collectEvents, json, raw, startServer } from "./server-helpers";

const ROWS = 4000;
const FILES = 8;
const ALL_IDS = Array.from({ length: ROWS }, (_, i) => i);
/** Rows whose `value` is "bad": the malformed rows a strict UDF throws on. */
const BAD_IDS = [1234, 3700];

/** A pipeline file: reads `input`, maps with a strict or a tolerant UDF, writes `out`, checkpointed at `ckpt` (paths as given). */
function pipelineSource(paths: { input: string; out: string; ckpt: string }, udf: "strict" | "tolerant", mapOptions = "{}", slowMs = 0): string {
  const check = udf === "strict" ? `if (row.value === "bad") throw new Error(\`malformed value in row \${row.id}\`);` : "";
  const wait = slowMs > 0 ? `const end = Date.now() + ${slowMs}; while (Date.now() < end) { /* busy */ }` : "";
  return `import * as rd from "rdpipe";
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: ${JSON.stringify(paths.ckpt)} });
function clean(row: rd.Row) {
  ${check}
  ${wait}
  return { ...row, upper: String(row.value).toUpperCase() };
}
export default rd.readParquet(${JSON.stringify(paths.input)}).map(clean, ${mapOptions}).writeParquet(${JSON.stringify(paths.out)});
`;
}

const errorOf = (r: { body: unknown }) => (r.body as { error: { message: string } }).error.message;
const finishedJob = (events: JobEvent[]) => (events.at(-1) as Extract<JobEvent, { type: "finished" }>).job;
const checkpointEvents = (events: JobEvent[]) => events.flatMap((e) => (e.type === "checkpoint" ? [e.checkpoint] : []));

function available(status: CheckpointStatus): Extract<CheckpointStatus, { available: true }> {
  assert.ok(status.available, `checkpoint not available: ${JSON.stringify(status)}`);
  return status;
}

/** The processes whose parent is `pid` (from /proc). */
function childPids(pid: number): number[] {
  return fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    try {
      const stat = fs.readFileSync(`/proc/${n}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid ? [Number(n)] : [];
    } catch {
      return [];
    }
  });
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe("execution server: resume and checkpoint contents (HTTP)", function () {
  this.timeout(180_000);
  let root: string;
  let outside: string;
  let stateDir: string;
  let input: string;
  let server: ServerProcess;
  let client: RemoteClient;

  const submitPath = async (file: string, options = {}) =>
    (await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: file }, options })).job;
  const resume = async (id: string, body: object = {}) => (await client.request("POST", `/jobs/${id}/resume`, "job", { type: "resumeJob", ...body })).job;
  const get = async <T>(route: string): Promise<T> => {
    const r = await raw(`${server.url}${route}`);
    assert.equal(r.status, 200, `${route}: ${JSON.stringify(r.body)}`);
    return r.body as T;
  };

  before(async () => {
    root = tempDir("rdpipe-ckroot-");
    outside = tempDir("rdpipe-ckoutside-");
    stateDir = tempDir("rdpipe-ckstate-");
    input = path.join(root, "input");
    rd.DataContext.reset();
    const bad = JSON.stringify(BAD_IDS);
    await rd.range(ROWS, { overrideNumBlocks: FILES })
      .map(new Function(`return (row) => ({ id: row.id, value: ${bad}.includes(row.id) ? "bad" : "v" + row.id })`)() as rd.RowFn)
      .writeParquet(input).run();
    server = await startServer(["--root", root, "--state-dir", stateDir]);
    client = new RemoteClient(server.url);
  });
  after(async () => {
    await server?.stop();
    for (const dir of [root, outside, stateDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a job failing on a malformed row keeps its committed files; the views show them and the failed row; fix the file, resume, every ID written once", async () => {
    const file = writePipeline(root, "fail.rdpipe.ts", pipelineSource({ input: "input", out: "out-fail", ckpt: "ckpt-fail" }, "strict"));
    const job = await submitPath("fail.rdpipe.ts", { workers: 1 });
    assert.deepEqual(job.checkpoint, { available: false, reason: "not known until the job's pipeline has loaded" });
    const events = await collectEvents(client, job.id);
    const failed = finishedJob(events);
    assert.equal(failed.state, "failed");
    assert.equal(failed.error!.operator, "Map(clean)");
    assert.match(failed.error!.message, /Map\(clean\) failed on row \d+ \(id 1234\) of .*input.*\.parquet: Error: malformed value in row 1234/);
    assert.match(failed.error!.rowPreview ?? failed.error!.message, /"value":"bad"/);
    const status = available(failed.checkpoint);
    assert.deepEqual([status.path, status.idColumn, status.backend, status.deleted], [path.join(root, "ckpt-fail"), "id", "batch", false]);
    assert.ok(checkpointEvents(events).some((c) => c.available), "a checkpoint event announced the checkpoint once the pipeline loaded");

    const summary = await get<CheckpointSummaryResponse>(`/jobs/${job.id}/checkpoint`);
    assert.equal(summary.type, "checkpoint");
    assert.equal(summary.manifest!.output.path, path.join(root, "out-fail"));
    assert.ok(summary.committedIds > 0 && summary.committedIds < ROWS, `committed ${summary.committedIds} of ${ROWS} before the failure`);
    assert.equal(summary.total, summary.files.length);
    assert.equal(summary.files.reduce((s, f) => s + f.ids, 0), summary.committedIds);
    assert.equal(summary.erroredRows, 0, "onError 'fail' records no errored rows; the failed row is in the job's error");
    assert.equal(summary.attempts.length, 1);
    assert.equal((await outputIds(path.join(root, "out-fail"))).length, summary.committedIds, "the committed output stays for the resume");

    const ids = await get<CheckpointIdsResponse>(`/jobs/${job.id}/checkpoint/ids?offset=2&limit=5`);
    assert.deepEqual([ids.total, ids.offset, ids.limit, ids.ids.length], [summary.committedIds, 2, 5, 5]);
    const allIds = await get<CheckpointIdsResponse>(`/jobs/${job.id}/checkpoint/ids?limit=1000`);
    assert.deepEqual(ids.ids, allIds.ids.slice(2, 7), "pages are slices of one order");
    assert.equal((await get<CheckpointIdsResponse>(`/jobs/${job.id}/checkpoint/ids?offset=${summary.committedIds}`)).ids.length, 0);
    const rows = await get<CheckpointRowsResponse>(`/jobs/${job.id}/checkpoint/rows?offset=1&limit=3`);
    assert.equal(rows.total, summary.committedIds);
    assert.equal(rows.rows.length, 3);
    for (const { file: outputFile, row } of rows.rows) {
      assert.ok(outputFile.startsWith(path.join(root, "out-fail")), outputFile);
      assert.deepEqual(Object.keys(row), ["id", "value", "upper"]);
      assert.equal(row.upper, String(row.value).toUpperCase());
      assert.ok(allIds.ids.includes(String(row.id)), "a row of a committed file has a committed ID");
    }
    assert.equal((await get<CheckpointErrorsResponse>(`/jobs/${job.id}/checkpoint/errors`)).total, 0);

    for (const query of ["limit=0", "limit=1001", "offset=-1", "offset=abc", "limit=1.5", "limit=", "offset=1e3", "limit=1&limit=2"]) {
      const r = await raw(`${server.url}/jobs/${job.id}/checkpoint/ids?${query}`);
      assert.equal(r.status, 400, query);
      assert.match(errorOf(r), /^(offset|limit) must be an integer from \d+ to \d+, got /, query);
    }
    assert.equal((await raw(`${server.url}/jobs/${job.id}/checkpoint/summary`)).status, 404);
    const withSource = await raw(`${server.url}/jobs/${job.id}/resume`, json({ type: "resumeJob", source: { kind: "bundle", filename: "x.rdpipe.ts", code: "x" } }));
    assert.equal(withSource.status, 400);
    assert.match(errorOf(withSource), /a path job is resumed from its pipeline file as it is on disk now/);

    fs.writeFileSync(file, pipelineSource({ input: "input", out: "out-fail", ckpt: "ckpt-fail" }, "tolerant"));
    const resumed = await resume(job.id);
    assert.notEqual(resumed.id, job.id);
    assert.equal(resumed.resumedFrom, job.id);
    assert.deepEqual(resumed.options, { workers: 1 }, "the original's options carry over");
    assert.equal((await client.request("GET", `/jobs/${job.id}`, "job")).job.resumedBy, resumed.id);
    const again = await raw(`${server.url}/jobs/${job.id}/resume`, json({ type: "resumeJob" }));
    assert.equal(again.status, 409);
    assert.match(errorOf(again), new RegExp(`it was resumed already, as job ${resumed.id}`));

    const resumedEvents = await collectEvents(client, resumed.id);
    const done = finishedJob(resumedEvents);
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    const final = available(done.checkpoint);
    assert.deepEqual(final.counters, { committedFiles: final.counters!.committedFiles, committedIds: ROWS, erroredRows: 0, rowsAlreadyDone: final.counters!.rowsAlreadyDone, inputFilesSkipped: final.counters!.inputFilesSkipped });
    assert.ok(final.counters!.inputFilesSkipped + final.counters!.rowsAlreadyDone > 0, "the resume skipped what was committed");
    assert.equal(final.deleted, true, "deleteCheckpointOnSuccess removed the checkpoint");
    assert.ok(checkpointEvents(resumedEvents).some((c) => c.available && c.counters), "checkpoint events carried the counters");
    assert.equal(done.result!.rowsOut, ROWS - summary.committedIds, "the resume wrote only what was not committed");
    assertExactlyOnce(await outputIds(path.join(root, "out-fail")), ALL_IDS);

    const gone = await raw(`${server.url}/jobs/${resumed.id}/checkpoint`);
    assert.equal(gone.status, 404);
    assert.match(errorOf(gone), /was deleted when the job succeeded \(deleteCheckpointOnSuccess\)/);
    const nothingLeft = await raw(`${server.url}/jobs/${resumed.id}/resume`, json({ type: "resumeJob" }));
    assert.equal(nothingLeft.status, 409);
    assert.match(errorOf(nothingLeft), /it succeeded and its checkpoint .* was deleted/);
  });

  it("skip → fix → resume a succeeded job: the errors view shows each bad row with input, error and stack; the resume processes exactly them", async () => {
    const file = writePipeline(root, "skip.rdpipe.ts", pipelineSource({ input: "input", out: "out-skip", ckpt: "ckpt-skip" }, "strict", `{ onError: "skip" }`));
    const job = await submitPath("skip.rdpipe.ts");
    const first = finishedJob(await collectEvents(client, job.id));
    assert.equal(first.state, "succeeded", JSON.stringify(first.error));
    const status = available(first.checkpoint);
    assert.deepEqual([status.counters!.erroredRows, status.counters!.committedIds, status.deleted], [BAD_IDS.length, ROWS - BAD_IDS.length, false]);

    const errors = await get<CheckpointErrorsResponse>(`/jobs/${job.id}/checkpoint/errors`);
    assert.equal(errors.total, BAD_IDS.length);
    assert.deepEqual(errors.rows.map((r) => Number(r.id)).sort((a, b) => a - b), BAD_IDS);
    for (const row of errors.rows) {
      assert.equal(row.operator, "Map(clean)");
      assert.match(row.error, new RegExp(`malformed value in row ${row.id}`));
      assert.match(row.stack ?? "", /malformed value in row \d+\n\s+at /);
      assert.match(row.input, /"value":"bad"/);
      assert.match(row.file ?? "", /input.*\.parquet$/);
    }
    const page = await get<CheckpointErrorsResponse>(`/jobs/${job.id}/checkpoint/errors?offset=1&limit=1`);
    assert.deepEqual(page.rows, errors.rows.slice(1, 2));
    const summary = await get<CheckpointSummaryResponse>(`/jobs/${job.id}/checkpoint`);
    assert.deepEqual([summary.erroredRows, summary.committedIds], [BAD_IDS.length, ROWS - BAD_IDS.length]);

    fs.writeFileSync(file, pipelineSource({ input: "input", out: "out-skip", ckpt: "ckpt-skip" }, "tolerant", `{ onError: "skip" }`));
    const resumed = await resume(job.id);
    const done = finishedJob(await collectEvents(client, resumed.id));
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    assert.equal(done.result!.rowsOut, BAD_IDS.length, "exactly the errored rows were processed");
    assert.equal(available(done.checkpoint).counters!.inputFilesSkipped, FILES - BAD_IDS.length, "files without errored rows were not read");
    assertExactlyOnce(await outputIds(path.join(root, "out-skip")), ALL_IDS);
  });

  it("a pipeline that no longer uses the checkpoint it resumes fails clearly instead of starting over", async () => {
    const file = writePipeline(root, "moved.rdpipe.ts", pipelineSource({ input: "input", out: "out-moved", ckpt: "ckpt-moved" }, "strict"));
    const job = await submitPath("moved.rdpipe.ts");
    assert.equal(finishedJob(await collectEvents(client, job.id)).state, "failed");
    fs.writeFileSync(file, pipelineSource({ input: "input", out: "out-moved", ckpt: "ckpt-elsewhere" }, "tolerant"));
    const resumed = await resume(job.id);
    const done = finishedJob(await collectEvents(client, resumed.id));
    assert.equal(done.state, "failed");
    assert.match(done.error!.message, /cannot resume: the job it resumes used the checkpoint at .*ckpt-moved, but the pipeline now uses checkpointPath .*ckpt-elsewhere/);
    assert.equal(fs.existsSync(path.join(root, "ckpt-elsewhere")), false, "nothing ran");
  });

  it("a bundle job is resumed with a fixed bundle; a checkpoint outside the roots (a client's path) is never read", async () => {
    const client2Dir = tempDir("rdpipe-ckclient-");
    try {
      const paths = { input, out: path.join(root, "out-bundle"), ckpt: path.join(outside, "ckpt-bundle") };
      const broken = compilePipeline(writePipeline(client2Dir, "remote.rdpipe.ts", pipelineSource(paths, "strict")));
      const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "bundle", ...broken } });
      assert.equal(finishedJob(await collectEvents(client, job.id)).state, "failed");
      assert.ok(fs.existsSync(path.join(outside, "ckpt-bundle", "manifest.json")), "the job itself wrote its checkpoint there");
      for (const view of ["", "/ids", "/rows", "/errors"]) {
        const r = await raw(`${server.url}/jobs/${job.id}/checkpoint${view}`);
        assert.equal(r.status, 403, view);
        assert.match(errorOf(r), /the checkpoint .*ckpt-bundle is outside the server's roots/);
      }
      const pathSource = await raw(`${server.url}/jobs/${job.id}/resume`, json({ type: "resumeJob", source: { kind: "path", path: "fail.rdpipe.ts" } }));
      assert.equal(pathSource.status, 400);
      assert.match(errorOf(pathSource), /a bundle job is resumed with a bundle/);

      const fixed = compilePipeline(writePipeline(client2Dir, "remote.rdpipe.ts", pipelineSource(paths, "tolerant")));
      const resumed = await resume(job.id, { source: { kind: "bundle", ...fixed }, options: { workers: 2 } });
      assert.deepEqual([resumed.sourceKind, resumed.resumedFrom, resumed.options.workers], ["bundle", job.id, 2]);
      const done = finishedJob(await collectEvents(client, resumed.id));
      assert.equal(done.state, "succeeded", JSON.stringify(done.error));
      assertExactlyOnce(await outputIds(paths.out), ALL_IDS);
    } finally {
      fs.rmSync(client2Dir, { recursive: true, force: true });
    }
  });

  it("the views list the committed files inside partition folders (partitionCols), and their rows with the partition column", async () => {
    writePipeline(root, "parts.rdpipe.ts", pipelineSource({ input: "input", out: "out-parts", ckpt: "ckpt-parts" }, "strict")
      .replace(".writeParquet(\"out-parts\")", ".withColumn(\"bucket\", rd.col(\"id\").mod(rd.lit(3))).writeParquet(\"out-parts\", { partitionCols: [\"bucket\"] })"));
    const job = await submitPath("parts.rdpipe.ts", { workers: 1 });
    assert.equal(finishedJob(await collectEvents(client, job.id)).state, "failed");
    const out = path.join(root, "out-parts");
    const summary = await get<CheckpointSummaryResponse>(`/jobs/${job.id}/checkpoint?limit=1000`);
    assert.ok(summary.committedIds > 0 && summary.committedIds < ROWS, `committed ${summary.committedIds}`);
    const onDisk = listFilesRecursive(out);
    assert.ok(onDisk.length > 0);
    assert.deepEqual(summary.files.map((f) => f.output).sort(), onDisk, "every committed file, each in its partition folder");
    assert.ok(summary.files.every((f) => /\/bucket=[012]\/[^/]+\.parquet$/.test(f.output)));
    assert.equal(summary.total, onDisk.length);
    assert.equal(summary.files.reduce((s, f) => s + f.ids, 0), summary.committedIds);
    const rows = await get<CheckpointRowsResponse>(`/jobs/${job.id}/checkpoint/rows?limit=1000`);
    assert.equal(rows.total, summary.committedIds);
    assert.ok(rows.rows.length > 0);
    for (const { file, row } of rows.rows) {
      assert.ok(onDisk.includes(file), file);
      assert.equal(`bucket=${row.bucket}`, path.basename(path.dirname(file)));
      assert.equal(Number(row.bucket), Number(row.id) % 3);
    }
  });

  it("checkpoint views answer any page request with a consistent page or a 4xx, never a 5xx (property)", async () => {
    writePipeline(root, "kept.rdpipe.ts", pipelineSource({ input: "input", out: "out-kept", ckpt: "ckpt-kept" }, "strict", `{ onError: "skip" }`));
    const job = await submitPath("kept.rdpipe.ts");
    assert.equal(finishedJob(await collectEvents(client, job.id)).state, "succeeded");
    const param = fc.oneof(fc.integer({ min: 0, max: ROWS + 10 }).map(String), fc.string({ maxLength: 6 }), fc.constantFrom("-1", "0", "1000", "1001", "99999999999999999"));
    await fc.assert(fc.asyncProperty(fc.constantFrom("", "/ids", "/rows", "/errors"), param, param, async (view, offset, limit) => {
      const r = await raw(`${server.url}/jobs/${job.id}/checkpoint${view}?offset=${encodeURIComponent(offset)}&limit=${encodeURIComponent(limit)}`);
      assert.ok(r.status < 500, `${view} ${offset} ${limit}: ${r.status} ${JSON.stringify(r.body)}`);
      if (r.status !== 200) {
        assert.equal(r.status, 400, JSON.stringify(r.body));
        return;
      }
      const body = r.body as { total: number; offset: number; limit: number; ids?: unknown[]; rows?: unknown[]; files?: unknown[] };
      const items = body.ids ?? body.rows ?? body.files!;
      assert.equal(items.length, Math.max(0, Math.min(body.limit, body.total - body.offset)), `${view} ${offset} ${limit}`);
    }), { numRuns: 25 });
  });

  it("a cancelled job is resumed from what it committed; a job still running cannot be resumed", async () => {
    writePipeline(root, "cancel.rdpipe.ts", pipelineSource({ input: "input", out: "out-cancel", ckpt: "ckpt-cancel" }, "tolerant", "{}", 1));
    const job = await submitPath("cancel.rdpipe.ts", { workers: 1 });
    await collectEvents(client, job.id, (e) => e.type === "checkpoint" && e.checkpoint.available && (e.checkpoint.counters?.committedFiles ?? 0) >= 1);
    const running = await raw(`${server.url}/jobs/${job.id}/resume`, json({ type: "resumeJob" }));
    assert.equal(running.status, 409);
    assert.match(errorOf(running), /it is still running; cancel it or wait for it to finish/);
    const watching = collectEvents(client, job.id);
    await client.request("POST", `/jobs/${job.id}/cancel`, "job");
    const cancelled = finishedJob(await watching);
    assert.equal(cancelled.state, "cancelled");
    const committed = (await get<CheckpointSummaryResponse>(`/jobs/${job.id}/checkpoint`)).committedIds;
    assert.ok(committed > 0 && committed < ROWS, `committed ${committed}`);

    const resumed = await resume(job.id, { options: { workers: 2 } });
    assert.deepEqual(resumed.options, { workers: 2 });
    const done = finishedJob(await collectEvents(client, resumed.id));
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    assert.equal(done.result!.rowsOut, ROWS - committed);
    assertExactlyOnce(await outputIds(path.join(root, "out-cancel")), ALL_IDS);
  });

  it("after the server is killed mid-job, the job shows interrupted with its checkpoint; resumed, every ID is written once", async () => {
    writePipeline(root, "slow.rdpipe.ts", pipelineSource({ input: "input", out: "out-slow", ckpt: "ckpt-slow" }, "tolerant", "{}", 1));
    const job = await submitPath("slow.rdpipe.ts", { workers: 1 });
    // Wait until some files are committed, then kill the server (and with it the runner's parent).
    const seen = await collectEvents(client, job.id, (e) => e.type === "checkpoint" && e.checkpoint.available && (e.checkpoint.counters?.committedFiles ?? 0) >= 2);
    assert.equal(seen.at(-1)!.type, "checkpoint");
    const runners = childPids(server.child.pid!);
    assert.ok(runners.length > 0, "the job runs in a child process of the server");
    await server.stop("SIGKILL");
    for (const deadline = Date.now() + 20_000; runners.some(alive);) {
      assert.ok(Date.now() < deadline, "a job runner outlived its server by 20 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    server = await startServer(["--root", root, "--state-dir", stateDir]);
    client = new RemoteClient(server.url);

    const interrupted = (await client.request("GET", `/jobs/${job.id}`, "job")).job;
    assert.equal(interrupted.state, "interrupted");
    assert.equal(available(interrupted.checkpoint).path, path.join(root, "ckpt-slow"));
    const summary = await get<CheckpointSummaryResponse>(`/jobs/${job.id}/checkpoint`);
    assert.ok(summary.committedIds > 0 && summary.committedIds < ROWS, `committed ${summary.committedIds}`);

    const resumed = await resume(job.id);
    const events = await collectEvents(client, resumed.id);
    const done = finishedJob(events);
    assert.equal(done.state, "succeeded", JSON.stringify(done.error));
    assert.ok(done.result!.rowsOut <= ROWS - summary.committedIds, "the resume did not redo committed rows");
    assertExactlyOnce(await outputIds(path.join(root, "out-slow")), ALL_IDS);
    const original: JobSummary = (await client.request("GET", `/jobs/${job.id}`, "job")).job;
    assert.equal(original.resumedBy, resumed.id, "the link survives in the record");
  });

  it("rdpipe run --server runs a checkpointed pipeline with the same progress view and exit code", async () => {
    const elsewhere = tempDir("rdpipe-ckcli-");
    try {
      const file = writePipeline(elsewhere, "cli.rdpipe.ts", pipelineSource({ input, out: path.join(root, "out-cli"), ckpt: path.join(root, "ckpt-cli") }, "tolerant"));
      const run = runCli(["run", file, "--server", server.url]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /done .*workers/);
      assert.match(run.stderr, /this run committed .* rows.*checkpoint deleted/s, "the same checkpoint summary as a local run");
      assertExactlyOnce(await outputIds(path.join(root, "out-cli")), ALL_IDS);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
