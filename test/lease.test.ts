// The checkpoint lease under real races: several processes open one checkpoint at the same moment —
// a fresh one, and one whose lease names a dead process — and exactly one may win; the others fail with
// the "in use" error. Locally, contenders are also SIGSTOPped for a while at random moments (a process
// descheduled between looking at the lease and taking it); on s3rver, which ignores If-None-Match, the
// lease falls back to its read-back protocol, raced here with real timing only (see README).
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { S3FileSystem } from "../server/src/io";
import { REPO, outputIds, tempDir, writePipeline } from "./helpers";
import * as rd from "../server/src/api";
import { startS3Server, type S3Server } from "./s3server";

const CONTENDERS = 4;
/** The lease TTL (and a third of it as the renew interval) for the tests that outlast it. */
const SHORT_TTL_MS = 300;

const ROWS = 80;
/** 100 ms per row without using the CPU, so a job of ROWS rows lasts seconds. */
const SLOW_PIPELINE = `
import * as rd from "rdpipe";

const context = rd.DataContext.getCurrent();
context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: process.env.CKPT!, deleteCheckpointOnSuccess: false });
context.resourceLimits = { cpu: 2 };

function slow(row: rd.Row) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  return row;
}

export default rd.readParquet(process.env.INPUT!).map(slow).writeParquet(process.env.OUTPUT!);
`;

interface Outcome { won: boolean; from?: number; to?: number; lost?: string; error?: string }

interface Racer { child: ChildProcess; ready: Promise<void>; holding: Promise<void>; outcome: Promise<Outcome> }

/** One contender (test/lease-racer.ts) for root that, once told "go", holds the lease holdMs or until told "release". */
function startRacer(root: string, holdMs: number, env: Record<string, string>): Racer {
  const child = spawn(process.execPath, ["-r", "tsx/cjs", path.join(REPO, "test/lease-racer.ts"), root, String(holdMs)], {
    cwd: REPO, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  const waiting: { line: string; resolve: () => void }[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const wait of waiting) if (out.includes(`${wait.line}\n`)) wait.resolve();
  });
  const said = (line: string) => new Promise<void>((resolve) => waiting.push({ line, resolve }));
  const [ready, holding] = [said("ready"), said("holding")];
  const outcome = new Promise<Outcome>((resolve) => child.on("exit", () => {
    const last = out.split("\n").filter((line) => line.startsWith("{")).at(-1);
    resolve(last ? JSON.parse(last) as Outcome : { won: false, error: "exited without an outcome (killed)" });
  }));
  return { child, ready, holding, outcome };
}

/**
 * Starts the contenders, waits until all are loaded, says "go" to all at once, and collects what each got.
 * A winner holds the lease until every other contender has its answer: one that a busy machine delayed
 * past a fixed hold would rightly win the lease given back meanwhile, and two winners would not mean a race lost.
 */
async function race(root: string, env: Record<string, string>, pauses: boolean): Promise<Outcome[]> {
  const racers = Array.from({ length: CONTENDERS }, () => startRacer(root, 120_000, env));
  await Promise.all(racers.map((r) => r.ready));
  for (const { child } of racers) child.stdin!.write("go\n");
  if (pauses) {
    // Two contenders, picked at random, are stopped for 150 ms at a random moment of the first 40 ms.
    for (const { child } of [...racers].sort(() => Math.random() - 0.5).slice(0, 2)) {
      setTimeout(() => {
        child.kill("SIGSTOP");
        setTimeout(() => child.kill("SIGCONT"), 150);
      }, Math.random() * 40);
    }
  }
  const holders = await Promise.all(racers.map((r) => Promise.race([r.holding.then(() => r), r.outcome.then(() => undefined)])));
  for (const holder of holders) holder?.child.stdin!.write("release\n");
  return Promise.all(racers.map((r) => r.outcome));
}

/** A contender that tries once, now, and gives the lease back at once if it won. */
async function contend(root: string, env: Record<string, string>): Promise<Outcome> {
  const racer = startRacer(root, 0, env);
  await racer.ready;
  racer.child.stdin!.write("go\n");
  return racer.outcome;
}

function assertOneWinner(outcomes: Outcome[], root: string): void {
  const winners = outcomes.filter((o) => o.won);
  assert.equal(winners.length, 1, `${winners.length} contenders won the lease of ${root}: ${JSON.stringify(outcomes)}`);
  assert.equal(winners[0].lost, undefined, `the winner lost the lease of ${root}`);
  for (const loser of outcomes.filter((o) => !o.won)) {
    assert.match(loser.error!, /the checkpoint at .* is in use by another run/, JSON.stringify(loser));
  }
}

/** A pid that no process has: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout as unknown as number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function readLeaseFile(root: string): { attempt: string; pid: number; host: string; renewedAt: number } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, "lease.json"), "utf8"));
  } catch {
    return undefined; // not there yet, or between a write's truncate and its data
  }
}

const staleLease = () => JSON.stringify({ attempt: "dead", pid: Number(deadPid()), host: os.hostname(), renewedAt: Date.now() });

describe("checkpoint lease: real processes racing for one checkpoint", function () {
  this.timeout(120_000);

  describe("local disk", () => {
    let dir: string;
    before(() => { dir = tempDir(); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (let round = 0; round < 2; round++) {
      it(`round ${round}: a fresh checkpoint, contenders paused at random moments: exactly one wins`, async () => {
        const root = path.join(dir, `fresh-${round}`);
        assertOneWinner(await race(root, {}, true), root);
      });
      it(`round ${round}: a dead run's lease, taken over by contenders paused at random moments: exactly one wins`, async () => {
        const root = path.join(dir, `stale-${round}`);
        fs.mkdirSync(root, { recursive: true });
        fs.writeFileSync(path.join(root, "lease.json"), staleLease());
        assertOneWinner(await race(root, {}, true), root);
        assert.deepEqual(fs.readdirSync(root).filter((name) => name.startsWith("lease")), [], "the lease and takeover tokens are gone after release");
      });
    }

    it("a lease naming a live process of this host that started at another time (a reused pid) is taken over at once", async () => {
      const root = path.join(dir, "reused-pid");
      fs.mkdirSync(root, { recursive: true });
      const reused = { attempt: "before-restart", pid: process.pid, host: os.hostname(), renewedAt: Date.now(), startTime: "1" };
      fs.writeFileSync(path.join(root, "lease.json"), JSON.stringify(reused));
      const outcome = await contend(root, {});
      assert.equal(outcome.won, true, `a lease whose pid now belongs to another process was not taken over: ${outcome.error}`);
    });

    it("a holder on this host stopped for longer than the TTL is not taken over while it lives, and is at once once killed", async () => {
      const root = path.join(dir, "stopped");
      const env = { RDPIPE_LEASE_TTL_MS: String(SHORT_TTL_MS), RDPIPE_LEASE_RENEW_MS: String(SHORT_TTL_MS / 3) };
      const holder = startRacer(root, 120_000, env);
      try {
        await holder.ready;
        holder.child.stdin!.write("go\n");
        await until(() => readLeaseFile(root)?.pid === holder.child.pid, `${root}/lease.json naming the holder`);
        const stoppedAt = Date.now();
        holder.child.kill("SIGSTOP"); // a long synchronous step, a laptop asleep: no renewals
        await sleep(SHORT_TTL_MS * 4);
        const during = await contend(root, env);
        assert.equal(during.won, false, `a contender took over the lease of a live holder stopped for ${Date.now() - stoppedAt} ms (TTL ${SHORT_TTL_MS} ms)`);
        assert.match(during.error!, new RegExp(`in use by another run \\(process ${holder.child.pid} on `));
      } finally {
        holder.child.kill("SIGKILL");
        await holder.outcome;
      }
      const after = await contend(root, env);
      assert.equal(after.won, true, `the killed holder's lease was not taken over: ${after.error}`);
    });
  });

  describe("s3rver", () => {
    let server: S3Server;
    let s3: S3FileSystem;
    before(async () => {
      server = await startS3Server(["lease"]);
      s3 = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1" });
    });
    after(async () => { await server?.stop(); });

    it("a fresh checkpoint: exactly one wins", async () => {
      assertOneWinner(await race("s3://lease/fresh", { AWS_ENDPOINT_URL_S3: server.endpoint, AWS_REGION: "us-east-1" }, false), "s3://lease/fresh");
    });
    it("a dead run's lease: exactly one takes it over", async () => {
      await s3.write("s3://lease/stale/lease.json", [Buffer.from(staleLease())]);
      assertOneWinner(await race("s3://lease/stale", { AWS_ENDPOINT_URL_S3: server.endpoint, AWS_REGION: "us-east-1" }, false), "s3://lease/stale");
    });
  });

  describe("a run whose lease another run took", () => {
    let dir: string;
    before(() => { dir = tempDir(); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("fails with the lost-lease error at its next renewal, exits non-zero, and leaves the other run's lease", async () => {
      const input = path.join(dir, "input");
      const checkpoint = path.join(dir, "ckpt");
      const output = path.join(dir, "output");
      rd.DataContext.reset();
      await rd.range(ROWS, { overrideNumBlocks: ROWS / 2 }).writeParquet(input).run();
      const pipeline = writePipeline(dir, "slow.rdpipe.ts", SLOW_PIPELINE);
      const child = spawn(process.execPath, [path.join(REPO, "bin/rdpipe.js"), "run", pipeline, "--quiet"], {
        env: { ...process.env, INPUT: input, OUTPUT: output, CKPT: checkpoint, RDPIPE_LEASE_RENEW_MS: "200" }, stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      try {
        const committed = path.join(checkpoint, "committed");
        await until(() => fs.existsSync(committed) && fs.readdirSync(committed).some((f) => !f.startsWith(".")), "the job's first commit");
        // Another run, on this host and alive (this test's process), now holds the lease, as after a takeover.
        const other = { attempt: "other-run", pid: process.pid, host: os.hostname(), renewedAt: Date.now() };
        fs.writeFileSync(path.join(checkpoint, "lease.tmp"), JSON.stringify(other));
        fs.renameSync(path.join(checkpoint, "lease.tmp"), path.join(checkpoint, "lease.json"));
        const code = await exited;
        assert.notEqual(code, 0, `the job carried on to success without its lease: ${stderr}`);
        assert.match(stderr, new RegExp(`lost the checkpoint lease to process ${process.pid} on host ${os.hostname()}; stopped so that two runs never write the same rows`));
        assert.ok((await outputIds(output)).length < ROWS, "the job stopped before it wrote every row");
        assert.deepEqual(readLeaseFile(checkpoint), other, "the other run's lease is left as it was");
      } finally {
        child.kill("SIGKILL");
      }
    });
  });
});
