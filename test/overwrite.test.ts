// mode: "overwrite" replaces the previous output only when the job succeeds: a failed, cancelled or
// SIGKILLed job leaves it byte for byte, on local disk and on a real S3 server (s3rver), and a
// checkpointed overwrite killed mid-job resumes to exactly-once output that replaces the old.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as rd from "../server/src/api";
import { S3FileSystem } from "../server/src/io";
import { REPO, assertExactlyOnce, outputIds, runCli, tempDir, writePipeline } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

const ROWS = 4000;
const ids = Array.from({ length: ROWS }, (_, i) => i);

/** Every file below dir (hidden ones too), relative path → SHA-256 of its bytes. */
function localSnapshot(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, file)] = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  }
  return out;
}

/** Every object under prefix, key below it → SHA-256 of its bytes. */
async function s3Snapshot(s3: S3FileSystem, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const page of s3.listDirectory(prefix)) {
    for (const file of page.files) out[file.path.slice(prefix.length + 1)] = createHash("sha256").update(await s3.readAll(file.path)).digest("hex");
  }
  return out;
}

/** The previous output: ids offset by 1,000,000, so none of them may survive an overwrite that succeeded. */
function writeOld(target: string, filesystem?: S3FileSystem): Promise<rd.ExecutionResult> {
  return rd.range(300, { overrideNumBlocks: 3 }).map((r) => ({ id: (r.id as number) + 1_000_000 })).writeParquet(target, { filesystem }).run();
}

/** A pipeline (run by the CLI) that overwrites OUTPUT slowly: 8 tasks of 500 rows, each row busy for 1 ms. */
const SLOW_OVERWRITE = `import * as rd from "rdpipe";
if (process.env.CKPT) {
  rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: process.env.CKPT });
}
rd.DataContext.getCurrent().resourceLimits = { cpu: 2 };
export default rd.range(${ROWS}, { overrideNumBlocks: 8 }).map(function slow(row) {
  const until = performance.now() + (process.env.FAST ? 0 : 1);
  while (performance.now() < until);
  return { id: row.id, v: "new" };
}).writeParquet(process.env.OUTPUT!, { mode: "overwrite" });
`;

/** Runs the slow pipeline in the CLI and SIGKILLs it once `ready` says the job is mid-way. */
function runAndKill(pipeline: string, env: Record<string, string>, ready: () => Promise<boolean>): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, "bin/rdpipe.js"), "run", pipeline, "--quiet"], {
      env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let exited = false;
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    child.on("exit", (_code, signal) => { exited = true; resolve({ killed: signal === "SIGKILL", stderr }); });
    void (async () => {
      while (!exited && !(await ready())) await new Promise((r) => setTimeout(r, 10));
      child.kill("SIGKILL");
    })().catch((error: unknown) => {
      child.kill("SIGKILL");
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

/** Whether a file ending in .parquet exists below dir outside its out/ folder (the job's staging); false while files move under the walk. */
function stagedParquet(dir: string): boolean {
  try {
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
      .some((entry) => entry.isFile() && entry.name.endsWith(".parquet") && !path.relative(dir, entry.parentPath).startsWith("out"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

const failOn = (id: number) => new Function(`return function choke(r) { if (r.id === ${id}) throw new Error("bad row ${id}"); return { id: r.id, v: "new" }; }`)() as rd.RowFn;

describe("mode: \"overwrite\" replaces the previous output only on success", function () {
  this.timeout(90_000);
  let dir: string;
  let pipeline: string;
  before(() => {
    dir = tempDir("rdpipe-overwrite-");
    pipeline = writePipeline(dir, "slow.rdpipe.ts", SLOW_OVERWRITE);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => rd.DataContext.reset());

  describe("on local disk", () => {
    let parent: string;
    let target: string;
    beforeEach(async () => {
      parent = fs.mkdtempSync(path.join(dir, "case-"));
      target = path.join(parent, "out");
      await writeOld(target);
    });

    it("a UDF failing on a row fails the job and leaves the previous output byte-identical, with nothing beside it", async () => {
      const before = localSnapshot(parent);
      await assert.rejects(rd.range(ROWS, { overrideNumBlocks: 8 }).map(failOn(3500)).writeParquet(target, { mode: "overwrite" }).run(), /bad row 3500/);
      assert.deepEqual(localSnapshot(parent), before);
      assert.deepEqual(fs.readdirSync(parent), ["out"]);
    });

    it("a cancelled job leaves the previous output byte-identical", async () => {
      const before = localSnapshot(parent);
      const abort = new AbortController();
      const slow = new Function(`return function slow(r) { const t = Date.now() + 1; while (Date.now() < t); return { id: r.id }; }`)() as rd.RowFn;
      const run = rd.range(ROWS, { overrideNumBlocks: 8 }).map(slow).writeParquet(target, { mode: "overwrite" })
        .run({ signal: abort.signal, onProgress: (p) => { if (p.operators.some((o) => o.rowsDone > 0)) abort.abort(); } });
      await assert.rejects(run, /cancelled/);
      assert.deepEqual(localSnapshot(parent), before);
      assert.deepEqual(fs.readdirSync(parent), ["out"]);
    });

    it("success leaves only the new files", async () => {
      const old = Object.keys(localSnapshot(target));
      const result = await rd.range(ROWS, { overrideNumBlocks: 8 }).map((r) => ({ id: r.id })).writeParquet(target, { mode: "overwrite" }).run();
      const now = Object.keys(localSnapshot(target));
      assert.ok(now.every((f) => !old.includes(f)), "no previous file is left");
      assert.deepEqual(now.map((f) => path.join(target, f)).sort(), result.written.map((w) => w.path).sort(), "the result names the files where they are now");
      assertExactlyOnce(await outputIds(target), ids);
      assert.deepEqual(fs.readdirSync(parent), ["out"]);
    });

    it("a job that fails before writing an output folder that did not exist leaves no folder behind (append and overwrite)", async () => {
      for (const mode of ["append", "overwrite"] as const) {
        const fresh = path.join(parent, `fresh-${mode}`, "nested");
        await assert.rejects(rd.range(ROWS, { overrideNumBlocks: 8 }).map(failOn(3500)).writeParquet(fresh, { mode }).run(), /bad row 3500/);
        assert.deepEqual(fs.readdirSync(parent), ["out"], mode);
      }
    });

    it("SIGKILL of rdpipe run mid-job leaves the previous output byte-identical; a rerun replaces it", async () => {
      const before = localSnapshot(target);
      const env = { OUTPUT: target };
      const killed = await runAndKill(pipeline, env, async () => stagedParquet(parent));
      assert.ok(killed.killed, killed.stderr);
      assert.deepEqual(localSnapshot(target), before, "the previous output, as it was");
      const rerun = runCli(["run", pipeline, "--quiet"], { cwd: dir, env: { ...env, FAST: "1" } });
      assert.equal(rerun.code, 0, rerun.stderr);
      assertExactlyOnce(await outputIds(target), ids);
      assert.ok(Object.keys(localSnapshot(target)).every((f) => !(f in before)));
      assert.deepEqual(fs.readdirSync(parent), ["out"], "the killed run's staging is gone");
    });

    it("a swap that a crash cut between its two renames is finished by the next run that writes to the folder", async () => {
      // The state the first rename leaves: the new output complete in staging, the previous one set aside, the folder gone.
      const scratch = path.join(parent, "scratch");
      await rd.range(ROWS, { overrideNumBlocks: 8 }).map((r) => ({ id: r.id })).writeParquet(scratch).run();
      const fresh = localSnapshot(scratch);
      const side = path.join(parent, ".out.rdpipe-overwrite");
      fs.mkdirSync(side);
      fs.renameSync(scratch, path.join(side, "deadjob"));
      fs.renameSync(target, path.join(side, "deadjob.previous"));
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
      fs.writeFileSync(path.join(side, "deadjob.json"), JSON.stringify({ job: "deadjob", pid: dead, host: os.hostname(), state: "swapping", prefixes: ["deadjob_"] }));
      // A job that fails on its first row still finishes the swap first: the new output, whole, and nothing beside it.
      await assert.rejects(rd.range(10).map(failOn(0)).writeParquet(target).run(), /bad row 0/);
      assert.deepEqual(localSnapshot(target), fresh);
      assert.deepEqual(fs.readdirSync(parent), ["out"]);
    });

    it("a checkpointed overwrite killed mid-job keeps the previous output; the resume writes each ID once and replaces it", async () => {
      const before = localSnapshot(target);
      const checkpoint = path.join(dir, `ckpt-${path.basename(parent)}`);
      const env = { OUTPUT: target, CKPT: checkpoint };
      const committed = () => (fs.existsSync(path.join(checkpoint, "committed")) ? fs.readdirSync(path.join(checkpoint, "committed")).length : 0);
      const killed = await runAndKill(pipeline, env, async () => committed() >= 2);
      assert.ok(killed.killed, killed.stderr);
      assert.deepEqual(localSnapshot(target), before, "the previous output, as it was");
      const resume = runCli(["run", pipeline, "--quiet"], { cwd: dir, env: { ...env, FAST: "1" } });
      assert.equal(resume.code, 0, resume.stderr);
      assert.match(resume.stderr + resume.stdout, /Wrote/);
      assertExactlyOnce(await outputIds(target), ids);
      assert.ok(Object.keys(localSnapshot(target)).every((f) => !(f in before)));
      assert.deepEqual(fs.readdirSync(parent), ["out"]);
      assert.equal(fs.existsSync(checkpoint), false, "deleted on success");
    });
  });

  describe("on S3 (s3rver)", () => {
    let server: S3Server;
    let s3: S3FileSystem;
    let parent: string;
    let target: string;
    before(async () => {
      server = await startS3Server(["ow"]);
      s3 = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1" });
    });
    after(async () => { await server?.stop(); });
    beforeEach(async () => {
      parent = `s3://ow/${Math.random().toString(36).slice(2, 8)}`;
      target = `${parent}/out`;
      await writeOld(target, s3);
    });

    it("a UDF failing on a row leaves the previous objects byte-identical, and nothing else under the parent", async () => {
      const before = await s3Snapshot(s3, parent);
      await assert.rejects(rd.range(ROWS, { overrideNumBlocks: 8 }).map(failOn(3500)).writeParquet(target, { mode: "overwrite", filesystem: s3 }).run(), /bad row 3500/);
      assert.deepEqual(await s3Snapshot(s3, parent), before);
    });

    it("success leaves only the new objects", async () => {
      const old = Object.keys(await s3Snapshot(s3, target));
      await rd.range(ROWS, { overrideNumBlocks: 8 }).map((r) => ({ id: r.id })).writeParquet(target, { mode: "overwrite", filesystem: s3 }).run();
      const now = await s3Snapshot(s3, parent);
      assert.ok(Object.keys(now).every((key) => key.startsWith("out/") && !old.includes(key.slice(4))), Object.keys(now).join(", "));
      assertExactlyOnce(await outputIds(target, "id", s3.description), ids);
    });

    it("SIGKILL mid-job keeps every previous object byte-identical; the next run removes the killed run's objects first", async () => {
      const before = await s3Snapshot(s3, target);
      const env = { OUTPUT: target, AWS_ENDPOINT_URL_S3: server.endpoint, AWS_REGION: "us-east-1" };
      const killed = await runAndKill(pipeline, env, async () => Object.keys(await s3Snapshot(s3, target)).some((key) => !(key in before)));
      assert.ok(killed.killed, killed.stderr);
      const left = await s3Snapshot(s3, target);
      for (const [key, hash] of Object.entries(before)) assert.equal(left[key], hash, key);
      // A run that then fails (a bad row) still restores the previous output exactly.
      const bad = writePipeline(dir, "bad-s3.rdpipe.ts", SLOW_OVERWRITE.replace("return { id: row.id", "if (row.id === 3999) throw new Error(\"bad\");\n  return { id: row.id"));
      const failed = runCli(["run", bad, "--quiet"], { cwd: dir, env: { ...env, FAST: "1" } });
      assert.equal(failed.code, 1, failed.stderr);
      assert.deepEqual(await s3Snapshot(s3, parent), Object.fromEntries(Object.entries(before).map(([k, v]) => [`out/${k}`, v])));
      const rerun = runCli(["run", pipeline, "--quiet"], { cwd: dir, env: { ...env, FAST: "1" } });
      assert.equal(rerun.code, 0, rerun.stderr);
      assertExactlyOnce(await outputIds(target, "id", s3.description), ids);
      assert.ok(Object.keys(await s3Snapshot(s3, parent)).every((key) => key.startsWith("out/") && !(key.slice(4) in before)));
    });

    // The checkpoint in the bucket, or on local disk (then recovering the killed run's overwrite must look
    // for its checkpoint there, not in the bucket).
    const checkpoints = {
      "in the bucket": () => ({ path: `${parent}-ckpt`, count: async (dir: string) => Object.keys(await s3Snapshot(s3, dir)).length }),
      "on local disk": () => ({ path: path.join(tempDir(), "ckpt"), count: async (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).length : 0) }),
    };
    for (const [where, checkpointOf] of Object.entries(checkpoints)) {
      it(`a checkpointed overwrite (checkpoint ${where}) killed mid-job keeps the previous objects; the resume writes each ID once and replaces them`, async () => {
        const before = await s3Snapshot(s3, target);
        const checkpoint = checkpointOf();
        const env = { OUTPUT: target, CKPT: checkpoint.path, AWS_ENDPOINT_URL_S3: server.endpoint, AWS_REGION: "us-east-1" };
        const killed = await runAndKill(pipeline, env, async () => (await checkpoint.count(`${checkpoint.path}/committed`)) >= 2);
        assert.ok(killed.killed, killed.stderr);
        const left = await s3Snapshot(s3, target);
        for (const [key, hash] of Object.entries(before)) assert.equal(left[key], hash, key);
        const resume = runCli(["run", pipeline, "--quiet"], { cwd: dir, env: { ...env, FAST: "1" } });
        assert.equal(resume.code, 0, resume.stderr);
        assertExactlyOnce(await outputIds(target, "id", s3.description), ids);
        // Only the new objects are left, and nothing beside the output.
        assert.ok(Object.keys(await s3Snapshot(s3, parent)).every((key) => key.startsWith("out/") && !(key.slice(4) in before)));
      });
    }
  });
});
