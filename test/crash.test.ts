// The crash matrix: a checkpointed job is SIGKILLed at ≥ 20 random moments across its life and run
// again until it completes; its output must hold every input ID exactly once. Both backends, on local
// disk and on a real S3 server (s3rver). The job is the CLI in a child process, killed for real.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { fileSystemFor, S3FileSystem, type FileSystemDescription } from "../server/src/io";
import { REPO, assertExactlyOnce, listFilesRecursive, outputIds, tempDir, writePipeline } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

const KILLS = 20;
const FILES = 32;
const ROWS_PER_FILE = 400;

/** Each row carries 2 KB so that every input file becomes about one output block: many commits per job. */
const PIPELINE = `
import * as rd from "rdpipe";

const context = rd.DataContext.getCurrent();
context.checkpointConfig = new rd.CheckpointConfig({
  idColumn: "id", checkpointPath: process.env.CKPT!, overrideBackend: process.env.BACKEND as "batch" | "row",
  deleteCheckpointOnSuccess: false, // so that kills can land in runs after the last commit too
});
context.targetMaxBlockSize = 1 << 20;
context.resourceLimits = { cpu: 2 };

function work(row: rd.Row) {
  const until = performance.now() + 0.2; // CPU-bound, so the job lives long enough to be killed mid-way
  while (performance.now() < until);
  return { ...row, size: String(row.pad).length };
}

export default rd.readParquet(process.env.INPUT!).map(work).writeParquet(process.env.OUTPUT!);
`;

interface Target { input: string; output: string; checkpoint: string; filesystem?: FileSystemDescription; env: Record<string, string> }

/** Commit records in the checkpoint so far (0 before the first, or once the checkpoint is gone). */
async function commitCount(target: Target): Promise<number> {
  const fs = fileSystemFor(target.checkpoint, target.filesystem);
  const dir = fs.join(target.checkpoint, "committed");
  if ((await fs.stat(dir)) === null) return 0;
  let count = 0;
  for await (const page of fs.listDirectory(dir)) count += page.files.filter((f) => !path.basename(f.path).startsWith(".")).length;
  return count;
}

/**
 * Runs the job; with `kill`, SIGKILLs it once `kill.afterCommits` more commit records have appeared
 * (0: any time after it started) plus a random delay of up to `kill.jitterMs` — moments tied to the job's
 * progress rather than to the clock, so they land across its life however fast the machine is.
 */
function runJob(pipeline: string, target: Target, backend: string, kill?: { afterCommits: number; jitterMs: number }) {
  return new Promise<{ killed: boolean; code: number | null; stderr: string; commitsAtKill?: number }>((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO, "bin/rdpipe.js"), "run", pipeline, "--quiet"], {
      env: { ...process.env, ...target.env, INPUT: target.input, OUTPUT: target.output, CKPT: target.checkpoint, BACKEND: backend },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let exited = false;
    let commitsAtKill: number | undefined;
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    child.on("exit", (code, signal) => {
      exited = true;
      resolve({ killed: signal === "SIGKILL", code, stderr, commitsAtKill });
    });
    if (!kill) return;
    void (async () => {
      const start = await commitCount(target);
      while (!exited && (await commitCount(target)) < start + kill.afterCommits) await new Promise((r) => setTimeout(r, 15));
      await new Promise((r) => setTimeout(r, Math.random() * kill.jitterMs));
      commitsAtKill = await commitCount(target);
      child.kill("SIGKILL");
    })();
  });
}

async function makeInput(dir: string): Promise<number[]> {
  rd.DataContext.reset();
  const pad = new Function(`return (row) => ({ id: row.id, pad: "x".repeat(2000) + row.id })`)() as rd.RowFn;
  await rd.range(FILES * ROWS_PER_FILE, { overrideNumBlocks: FILES }).map(pad).writeParquet(dir).run();
  return Array.from({ length: FILES * ROWS_PER_FILE }, (_, i) => i);
}

describe("crash matrix: SIGKILL at random moments, resume until done, every ID exactly once", function () {
  this.timeout(600_000);
  let dir: string;
  let localInput: string;
  let ids: number[];
  let pipeline: string;
  let s3: S3Server;

  before(async () => {
    dir = tempDir();
    localInput = path.join(dir, "input");
    ids = await makeInput(localInput);
    pipeline = writePipeline(dir, "crash.rdpipe.ts", PIPELINE);
    s3 = await startS3Server(["crash"]);
    // An uninterrupted run writes each ID once.
    const reference = await runJob(pipeline, { input: localInput, output: path.join(dir, "reference-out"), checkpoint: path.join(dir, "reference-ckpt"), env: {} }, "batch");
    assert.equal(reference.code, 0, reference.stderr);
    assertExactlyOnce(await outputIds(path.join(dir, "reference-out")), ids);
  });
  after(async () => {
    await s3?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const targets: Record<string, () => Promise<Target>> = {
    "local disk": async () => ({ input: localInput, output: path.join(dir, `out-${Math.random()}`), checkpoint: path.join(dir, `ckpt-${Math.random()}`), env: {} }),
    "S3": async () => {
      const run = Math.random().toString(36).slice(2, 8);
      const fsS3 = new S3FileSystem({ endpoint: s3.endpoint, region: "us-east-1" });
      const input = `s3://crash/${run}/input`;
      for (const file of listFilesRecursive(localInput).filter((f) => f.endsWith(".parquet"))) {
        await fsS3.write(`${input}/${path.basename(file)}`, [fs.readFileSync(file)]);
      }
      return {
        input, output: `s3://crash/${run}/output`, checkpoint: `s3://crash/${run}/checkpoint`, filesystem: fsS3.description,
        env: { AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: "us-east-1" },
      };
    },
  };

  for (const [where, makeTarget] of Object.entries(targets)) {
    for (const backend of ["batch", "row"]) {
      it(`${backend} backend on ${where}`, async () => {
        const target = await makeTarget();
        // A killed run commits about a file per 1/FILES of the work it got through; kill moments are drawn so that
        // 20 runs cover most of the job, and later kills land in runs that find (almost) everything committed.
        let kills = 0;
        let runs = 0;
        let midJobKills = 0;
        let complete = false;
        while (kills < KILLS) {
          // 0–2 further commits, then up to 300 ms: some kills land while a run starts or loads the
          // checkpoint, others between a file's write and its commit; once the job is complete, at start-up.
          const afterCommits = complete ? 0 : Math.floor(Math.random() * 3);
          const result = await runJob(pipeline, target, backend, { afterCommits, jitterMs: 300 });
          runs++;
          complete ||= !result.killed;
          if (result.killed) {
            kills++;
            if (result.commitsAtKill! > 0 && result.commitsAtKill! < FILES) midJobKills++;
          } else assert.equal(result.code, 0, `run ${runs} ended without the kill: ${result.stderr}`);
          assert.ok(runs < KILLS * 2, `only ${kills} of ${runs} runs were killed`);
        }
        assert.ok(midJobKills >= 5, `only ${midJobKills} kills landed after the first commit and before the last`);
        const final = await runJob(pipeline, target, backend);
        assert.equal(final.code, 0, final.stderr);
        assertExactlyOnce(await outputIds(target.output, "id", target.filesystem), ids);
      });
    }
  }
});
