// The execution server over real HTTP: a real `rdpipe serve` process, real job-runner processes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import fc from "fast-check";
import * as rd from "../server/src/api";
import { RemoteClient, type JobEvent } from "../server/src/contract";
import { REPO, listFilesRecursive, runCli, tempDir, writePipeline } from "./helpers";
import { type ServerProcess, collectEvents, json, raw, startServer, waitForState } from "./server-helpers";

/** A job that runs for minutes unless cancelled: every row busy-waits 2 ms. */
const SLOW_PIPELINE = `import * as rd from "rdpipe";
console.log("slow pipeline loaded");
export default rd.range(100000).map(function slow(row) {
  const end = Date.now() + 2;
  while (Date.now() < end) { /* busy */ }
  return row;
});
`;

describe("execution server (HTTP)", function () {
  this.timeout(120_000);
  let root: string;
  let outside: string;
  let stateDir: string;
  let server: ServerProcess;
  let client: RemoteClient;

  before(async () => {
    root = tempDir("rdpipe-root-");
    outside = tempDir("rdpipe-outside-");
    stateDir = tempDir("rdpipe-state-");
    fs.writeFileSync(path.join(outside, "secret.rdpipe.ts"), `import * as rd from "rdpipe";\nexport default rd.range(1);\n`);
    writePipeline(root, "write.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(50000).map(function double(r) { return { id: r.id, twice: (r.id as number) * 2 }; }).writeParquet("out", { mode: "overwrite" });
`);
    writePipeline(root, "slow.rdpipe.ts", SLOW_PIPELINE);
    writePipeline(root, "broken.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(10).map(function explode(r) { if (r.id === 7) throw new Error("malformed row"); return r; });
`);
    fs.symlinkSync(path.join(outside, "secret.rdpipe.ts"), path.join(root, "link.rdpipe.ts"));
    fs.symlinkSync(outside, path.join(root, "linked-dir"));
    // A Parquet folder inside the root, and a copy of its file outside, behind a symlinked folder in it.
    await rd.range(40).map((r) => ({ id: r.id, name: `n${r.id}` })).writeParquet(path.join(root, "table")).run();
    fs.copyFileSync(listFilesRecursive(path.join(root, "table"))[0], path.join(outside, "leak.parquet"));
    fs.symlinkSync(outside, path.join(root, "table", "linked"));
    server = await startServer(["--root", root, "--state-dir", stateDir]);
    client = new RemoteClient(server.url);
  });
  after(async () => {
    await server?.stop();
    for (const dir of [root, outside, stateDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs a submitted job: state first, live progress, then finished with the result; output written", async () => {
    const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "write.rdpipe.ts" } });
    assert.ok(["queued", "running"].includes(job.state));
    const events = await collectEvents(client, job.id);
    assert.equal(events[0].type, "state", "the first event is the current state");
    assert.ok(events.some((e) => e.type === "progress" && e.progress.operators.length > 0), "live progress events");
    const last = events.at(-1)!;
    assert.equal(last.type, "finished");
    const finished = (last as Extract<JobEvent, { type: "finished" }>).job;
    assert.equal(finished.state, "succeeded", JSON.stringify(finished.error));
    assert.equal(finished.result!.rowsOut, 50000);
    assert.equal(finished.result!.written!.path, path.join(root, "out"));
    assert.ok(listFilesRecursive(path.join(root, "out")).some((f) => f.endsWith(".parquet")));
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(seqs.slice(1), [...seqs.slice(1)].sort((a, b) => a - b), "event ids increase");
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    assert.ok(jobs.some((j) => j.id === job.id && j.state === "succeeded"));
  });

  it("runs a plan up to one operator (Run to here): that operator's first rows, nothing written; a bad index fails clearly", async () => {
    const outDir = path.join(root, "out-to-here");
    writePipeline(root, "to-here.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(1000).map(function double(r) { return { id: r.id, twice: (r.id as number) * 2 }; })
  .filter(function odd(r) { return (r.id as number) % 2 === 1; }).writeParquet("out-to-here");
`);
    const finishedJob = async (options: object) => {
      const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "to-here.rdpipe.ts" }, options });
      return (((await collectEvents(client, job.id)).at(-1)) as Extract<JobEvent, { type: "finished" }>).job;
    };
    // Canonical order: 0 ReadRange, 1 Map(double), 2 Filter(odd), 3 WriteParquet.
    const atMap = await finishedJob({ untilOperator: 1, preview: 3 });
    assert.equal(atMap.state, "succeeded", JSON.stringify(atMap.error));
    assert.deepEqual(atMap.result!.preview!.fields.map((field) => field.name), ["id", "twice"]);
    assert.deepEqual(atMap.result!.preview!.rows, [[0, 0], [1, 2], [2, 4]]);
    const atWrite = await finishedJob({ untilOperator: 3, preview: 2 });
    assert.deepEqual(atWrite.result!.preview!.rows, [[1, 2], [3, 6]], "at the write: what it would write");
    assert.equal(fs.existsSync(outDir), false, "nothing was written");
    const past = await finishedJob({ untilOperator: 9 });
    assert.equal(past.state, "failed");
    assert.match(past.error!.message, /options.untilOperator 9 is past the plan's last operator \(3: WriteParquet\)/);
    await assert.rejects(client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "to-here.rdpipe.ts" }, options: { untilOperator: -1 } }),
      /options.untilOperator must be an operator index/);
  });

  it("reports a failing UDF with operator, row and stack", async () => {
    const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "broken.rdpipe.ts" } });
    const events = await collectEvents(client, job.id);
    const final = events.at(-1) as Extract<JobEvent, { type: "finished" }>;
    assert.equal(final.job.state, "failed");
    assert.match(final.job.error!.message, /Map\(explode\) failed on row 7: Error: malformed row/);
    assert.equal(final.job.error!.operator, "Map(explode)");
    assert.match(final.job.error!.stack!, /explode/);
  });

  it("cancels a running job, and lets a client detach and reattach to get the current state", async () => {
    const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "slow.rdpipe.ts" } });
    // Detach after the first live progress event; the job keeps running without any client.
    const firstVisit = await collectEvents(client, job.id, (e) => e.type === "progress");
    assert.equal(firstVisit.at(-1)!.type, "progress");
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await client.request("GET", `/jobs/${job.id}`, "job")).job.state, "running");
    const reattached = await collectEvents(client, job.id, (e) => e.type === "state", 0);
    const logs = reattached.filter((e) => e.type === "log");
    assert.equal(reattached.length, logs.length + 1, "only state, no other event, before the live stream");
    assert.match(logs.map((e) => (e as Extract<JobEvent, { type: "log" }>).text).join(""), /slow pipeline loaded/, "missed logs replayed");
    const state = reattached.at(-1) as Extract<JobEvent, { type: "state" }>;
    assert.equal(state.type, "state");
    assert.equal(state.job.state, "running");
    assert.ok(state.progress && state.progress.operators[0].rowsDone >= 0, "the reattached client gets the latest progress");

    const watching = collectEvents(client, job.id);
    const started = Date.now();
    const cancelled = await client.request("POST", `/jobs/${job.id}/cancel`, "job");
    assert.equal(cancelled.job.id, job.id);
    const events = await watching;
    const final = events.at(-1) as Extract<JobEvent, { type: "finished" }>;
    assert.equal(final.job.state, "cancelled");
    assert.ok(Date.now() - started < 10_000, "cancel took too long");
    await assert.rejects(client.request("POST", `/jobs/${job.id}/cancel`, "job"), /already finished/);
  });

  it("starts a job's runner with the engine's malloc tunables (huge pages, one arena, a fixed mmap threshold)", async () => {
    const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "slow.rdpipe.ts" } });
    await collectEvents(client, job.id, (e) => e.type === "progress");
    const serverPid = server.child.pid!;
    const runners = fs.readFileSync(`/proc/${serverPid}/task/${serverPid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    assert.equal(runners.length, 1, "one runner process for the one running job");
    const environ = fs.readFileSync(`/proc/${runners[0]}/environ`, "utf8").split("\0");
    // glibc cuts the variable at each ":" in place as it reads it: the tunables follow as entries of their own.
    const at = environ.findIndex((v) => v.startsWith("GLIBC_TUNABLES="));
    assert.ok(at >= 0, "no GLIBC_TUNABLES in the runner's environment");
    const tunables = [environ[at]];
    for (let i = at + 1; environ[i]?.startsWith("glibc."); i++) tunables.push(environ[i]);
    assert.equal(tunables.join(":"), "GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432");
    await client.request("POST", `/jobs/${job.id}/cancel`, "job");
    await waitForState(client, job.id, "cancelled");
  });

  it("says clearly that resume and checkpoint contents need a checkpointConfig, for a job that runs without one", async () => {
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    const finished = jobs.find((j) => j.state === "failed" && j.pipeline.endsWith("broken.rdpipe.ts"))!;
    assert.deepEqual(finished.checkpoint, {
      available: false, reason: "this job runs without checkpointing: its pipeline sets no DataContext.getCurrent().checkpointConfig",
    });
    const resume = await raw(`${server.url}/jobs/${finished.id}/resume`, json({ type: "resumeJob" }));
    assert.equal(resume.status, 409);
    assert.match((resume.body as { error: { message: string } }).error.message,
      /cannot resume job .*: resume continues from a job-level checkpoint and this job has none \(this job runs without checkpointing.*\)\. Set DataContext\.getCurrent\(\)\.checkpointConfig/);
    for (const route of ["checkpoint", "checkpoint/ids?offset=0&limit=10", "checkpoint/rows", "checkpoint/errors"]) {
      const r = await raw(`${server.url}/jobs/${finished.id}/${route}`);
      assert.equal(r.status, 404, route);
      assert.match((r.body as { error: { message: string } }).error.message, /has no checkpoint: this job runs without checkpointing/);
    }
    const wrongType = await raw(`${server.url}/jobs/${finished.id}/resume`, json({}));
    assert.equal(wrongType.status, 400);
  });

  it("inspects a plan with each operator's schema, in a runner process", async () => {
    const plan = await client.request("POST", "/plan", "plan", { type: "inspectPlan", source: { kind: "path", path: "write.rdpipe.ts" } });
    assert.deepEqual(plan.operators.map((o) => o.name), ["ReadRange", "Map(double)", "WriteParquet"]);
    assert.deepEqual(plan.operators.map((o) => o.inputs), [[], [0], [1]]);
    assert.deepEqual(plan.operators[1].schema!.map((f) => f.name), ["id", "twice"]);
    assert.deepEqual(plan.operators[2].schema, plan.operators[1].schema);
    assert.deepEqual(plan.problems, [], "nothing the engine would refuse");
    const schema = await client.request("GET", "/schema?path=table", "schema");
    assert.equal(schema.rows, 40, "only the files inside the root count; the one behind the symlinked folder is never read");
    assert.deepEqual(schema.schema!.map((f) => f.name), ["id", "name"]);
  });

  it("a cancelled overwrite job leaves the previous output byte-identical and nothing beside it", async () => {
    const parent = path.join(root, "ow");
    await rd.range(30, { overrideNumBlocks: 3 }).writeParquet(path.join(parent, "out")).run();
    const bytes = () => Object.fromEntries(listFilesRecursive(parent).map((f) => [f, fs.readFileSync(f).toString("base64")]));
    const before = bytes();
    writePipeline(root, "slow-overwrite.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(4000, { overrideNumBlocks: 40 }).map(function slow(row) {
  const end = Date.now() + 2;
  while (Date.now() < end) { /* busy */ }
  return row;
}).writeParquet("ow/out", { mode: "overwrite" });
`);
    const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "slow-overwrite.rdpipe.ts" } });
    // Cancelled once the job has written some of its new files.
    while (listFilesRecursive(parent).length <= Object.keys(before).length) await new Promise((r) => setTimeout(r, 20));
    await client.request("POST", `/jobs/${job.id}/cancel`, "job");
    await waitForState(client, job.id, "cancelled");
    assert.deepEqual(bytes(), before);
    assert.deepEqual(fs.readdirSync(parent), ["out"]);
  });

  it("answers a plan of a file with a syntax error with 422 pipeline_error naming the user's file, line and column", async () => {
    fs.mkdirSync(path.join(root, "sub", "dir"), { recursive: true });
    const file = writePipeline(path.join(root, "sub", "dir"), "x.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(3).map((r) => r.id +);\n`);
    const r = await raw(`${server.url}/plan`, json({ type: "inspectPlan", source: { kind: "path", path: "sub/dir/x.rdpipe.ts" } }));
    assert.equal(r.status, 422);
    const { error } = r.body as { error: { code: string; message: string } };
    assert.equal(error.code, "pipeline_error");
    assert.ok(error.message.includes(`${fs.realpathSync(file)}:2:45: Unexpected ")"`), error.message);
    assert.ok(!error.message.includes(stateDir), error.message);
  });

  it("never reads or lists outside its roots: .., absolute paths, symlinks, encoded and backslash separators", async () => {
    const attempts = [
      "../" + path.basename(outside) + "/secret.rdpipe.ts", `${outside}/secret.rdpipe.ts`, "/etc/passwd", "link.rdpipe.ts",
      "linked-dir/secret.rdpipe.ts", "..%2f..%2fetc%2fpasswd", "%2e%2e/etc/passwd", "..\\..\\etc\\passwd", "a/../../etc/passwd", "ok\u0000.ts",
    ];
    for (const attempt of attempts) {
      for (const [label, request] of [
        ["submit", json({ type: "submitJob", source: { kind: "path", path: attempt } })],
        ["plan", json({ type: "inspectPlan", source: { kind: "path", path: attempt } })],
      ] as const) {
        const r = await raw(`${server.url}/${label === "submit" ? "jobs" : "plan"}`, request);
        assert.ok([400, 403].includes(r.status), `${label} ${attempt}: ${r.status} ${JSON.stringify(r.body)}`);
      }
      const schema = await raw(`${server.url}/schema?path=${encodeURIComponent(attempt)}`);
      assert.ok([400, 403].includes(schema.status), `schema ${attempt}: ${schema.status}`);
    }
    const direct = await raw(`${server.url}/schema?path=table/linked/leak.parquet`);
    assert.equal(direct.status, 403);
  });

  it("closes CORS, limits bodies and rejects non-JSON posts", async () => {
    const preflight = await raw(`${server.url}/jobs`, { method: "OPTIONS", headers: { origin: "http://evil.example", "access-control-request-method": "POST" } });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get("access-control-allow-origin"), null);
    const crossOrigin = await raw(`${server.url}/jobs`, { headers: { origin: "http://evil.example" } });
    assert.equal(crossOrigin.status, 403);
    // fetch ignores a Host header, so DNS rebinding is played with node:http.
    const rebinding = await new Promise<number>((resolve, reject) => {
      http.get(`${server.url}/jobs`, { headers: { host: "evil.example" } }, (res) => { res.resume(); resolve(res.statusCode!); }).on("error", reject);
    });
    assert.equal(rebinding, 403);
    const huge = await raw(`${server.url}/jobs`, json({ type: "submitJob", source: { kind: "bundle", filename: "x.rdpipe.ts", code: "x".repeat(11 * 2 ** 20) } }));
    assert.equal(huge.status, 413);
    const text = await raw(`${server.url}/jobs`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
    assert.equal(text.status, 415);
    const malformed = await raw(`${server.url}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    assert.equal(malformed.status, 400);
    assert.equal((malformed.body as { type: string }).type, "error");
  });

  it("answers any malformed request with a 4xx JSON error, never a 5xx, and stays up (property)", async () => {
    const jobIds = (await client.request("GET", "/jobs", "jobs")).jobs.map((j) => j.id);
    const segment = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(
      "..", "%2e%2e", "%2f", "jobs", "cancel", "resume", "events", "checkpoint", "ids", "rows", "errors", "00000000-0000-0000-0000-000000000000", ...jobIds,
    ));
    const route = fc.oneof(
      fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.map(encodeURIComponent).join("/")}`),
      fc.constantFrom("/jobs", "/plan", "/jobs/00000000-0000-0000-0000-000000000000/cancel", "/jobs/x/resume", "/schema"),
      fc.tuple(fc.constantFrom(...jobIds), fc.constantFrom("resume", "checkpoint", "checkpoint/ids", "checkpoint/rows", "checkpoint/errors")).map(([id, view]) => `/jobs/${id}/${view}`),
    );
    const source = fc.oneof(fc.jsonValue(), fc.record({ kind: fc.constantFrom("path", "bundle", "other"), path: fc.jsonValue(), filename: fc.jsonValue(), code: fc.jsonValue() }, { requiredKeys: ["kind"] }));
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ type: fc.constantFrom("submitJob", "inspectPlan", "resumeJob", "nope"), source, options: fc.jsonValue() }, { requiredKeys: ["type"] }).map((v) => JSON.stringify(v)),
    );
    const page = fc.oneof(fc.string({ maxLength: 8 }), fc.integer({ min: -5, max: 5000 }).map(String), fc.constant("1e3"));
    await fc.assert(fc.asyncProperty(fc.constantFrom("GET", "POST", "PUT", "DELETE"), route, body, fc.string({ maxLength: 20 }), page, page, async (method, url, payload, query, offset, limit) => {
      if (url.endsWith("/events")) return;
      const init: RequestInit = { method, headers: { "content-type": "application/json" } };
      if (method !== "GET") init.body = payload;
      const r = await raw(`${server.url}${url}?path=${encodeURIComponent(query)}&offset=${encodeURIComponent(offset)}&limit=${encodeURIComponent(limit)}`, init);
      assert.ok(r.status < 500, `${method} ${url} ${payload.slice(0, 100)} -> ${r.status} ${JSON.stringify(r.body)}`);
      if (r.status >= 400) {
        const error = (r.body as { type?: string; error?: { message?: string } });
        assert.equal(error.type, "error", `${method} ${url}: not a JSON error: ${JSON.stringify(r.body)}`);
        assert.ok(error.error?.message, "a clear message");
      }
    }), { numRuns: 300 });
    assert.equal((await client.request("GET", "/health", "health")).ok, true);
  });

  it("runs a file from another machine's view: rdpipe run --server uploads the bundle, shows progress, exits like a local run", () => {
    const elsewhere = tempDir("rdpipe-client-");
    try {
      const ok = writePipeline(elsewhere, "preview.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(1000).map((r) => ({ id: r.id, tenfold: (r.id as number) * 10 }));\n`);
      const run = runCli(["run", ok, "--server", server.url, "--preview", "3"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /\{id: \d+, tenfold: \d+\}\n\{id: \d+, tenfold: \d+\}\n\{id: \d+, tenfold: \d+\}\n\(3 rows shown\)/);
      assert.match(run.stderr, /done .*workers/);
      const bad = writePipeline(elsewhere, "bad.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(5).map(function choke(r) { if (r.id === 3) throw new Error("bad input"); return r; });\n`);
      const failed = runCli(["run", bad, "--server", server.url, "--quiet"]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /Map\(choke\) failed on row 3: Error: bad input/);
      assert.ok(failed.stderr.includes(`${bad}:2:`), `the stack points at the client's file: ${failed.stderr}`);
      const unreachable = runCli(["run", ok, "--server", "http://127.0.0.1:9", "--quiet"]);
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /cannot reach the rdpipe server/);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  for (const signal of ["SIGKILL", "SIGTERM"] as const) it(`shows unfinished jobs as interrupted after a restart (server stopped with ${signal})`, async () => {
    const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "slow.rdpipe.ts" } });
    await waitForState(client, job.id, "running");
    await server.stop(signal);
    server = await startServer(["--root", root, "--state-dir", stateDir]);
    client = new RemoteClient(server.url);
    const after = await client.request("GET", `/jobs/${job.id}`, "job");
    assert.equal(after.job.state, "interrupted");
    assert.match(after.job.error!.message, /server stopped/);
    const events = await collectEvents(client, job.id, () => false);
    assert.equal(events.length, 1, "the stream of a finished job is its state, then it ends");
    const resume = await raw(`${server.url}/jobs/${job.id}/resume`, json({ type: "resumeJob" }));
    assert.equal(resume.status, 409, "the slow pipeline has no checkpointConfig: nothing to resume from");
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    assert.ok(jobs.some((j) => j.state === "succeeded"), "finished jobs survive the restart");
  });
});

describe("execution server: token", function () {
  this.timeout(60_000);
  let stateDir: string;
  before(() => { stateDir = tempDir("rdpipe-state-"); });
  after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  it("refuses to listen beyond loopback without a token", () => {
    const r = spawnSync(process.execPath, [path.join(REPO, "dist", "cli.js"), "serve", "--host", "0.0.0.0", "--port", "0", "--state-dir", stateDir],
      { encoding: "utf8", env: { ...process.env, RDPIPE_TOKEN: "" }, timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /requires a token/);
  });

  for (const [label, args, env] of [
    ["--token", ["--token", "s3cret-token"], {}],
    ["RDPIPE_TOKEN, listening on all interfaces", ["--host", "0.0.0.0"], { RDPIPE_TOKEN: "s3cret-token" }],
  ] as const) {
    it(`enforces the token (${label})`, async () => {
      const server = await startServer([...args, "--state-dir", stateDir], env);
      try {
        const url = server.url.replace("0.0.0.0", "127.0.0.1");
        for (const authorization of [undefined, "Bearer wrong", "Bearer s3cret-toke", "s3cret-token", "Bearer s3cret-token2"]) {
          const r = await raw(`${url}/jobs`, { headers: authorization ? { authorization } : {} });
          assert.equal(r.status, 401, String(authorization));
        }
        const ok = await new RemoteClient(url, "s3cret-token").request("GET", "/jobs", "jobs");
        assert.ok(Array.isArray(ok.jobs));
        const run = runCli(["run", path.join(REPO, "samples", "make-data.rdpipe.ts"), "--server", url, "--quiet"], { timeoutMs: 30_000 });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /missing or wrong token/);
      } finally {
        await server.stop();
      }
    });
  }
});

describe("rdpipe serve --idle-exit (the editor's local server)", function () {
  this.timeout(60_000);

  it("stays up while a job runs or a client follows it, and exits once idle that long", async () => {
    const dir = tempDir("rdpipe-idle-");
    const server = await startServer(["--root", dir, "--state-dir", path.join(dir, ".state"), "--idle-exit", "1"]);
    try {
      writePipeline(dir, "slow.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(40, { overrideNumBlocks: 2 }).map(async (row: rd.Row) => { await new Promise((r) => setTimeout(r, 100)); return row; });
`);
      const client = new RemoteClient(server.url);
      const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "slow.rdpipe.ts" } });
      const exited = new Promise<number | null>((resolve) => server.child.once("exit", (code) => resolve(code)));
      const events = await collectEvents(client, job.id); // a client on the job's events for the whole ~2 s run
      assert.equal(events.at(-1)?.type, "finished");
      assert.equal(server.child.exitCode, null, "busy the whole time, more than the 1 s idle limit");
      const idleSince = Date.now();
      assert.equal(await exited, 0);
      const idleFor = Date.now() - idleSince;
      assert.ok(idleFor >= 800 && idleFor < 5000, `exited ${idleFor} ms after the job and its client were done`);
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
