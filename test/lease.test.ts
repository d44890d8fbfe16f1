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
import { REPO, tempDir } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

const CONTENDERS = 4;
const HOLD_MS = 1500;

interface Outcome { won: boolean; from?: number; to?: number; error?: string }

/** Starts the contenders, waits until all are loaded, says "go" to all at once, and collects what each got. */
async function race(root: string, env: Record<string, string>, pauses: boolean): Promise<Outcome[]> {
  const children: ChildProcess[] = [];
  const outcomes: Promise<Outcome>[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < CONTENDERS; i++) {
    const child = spawn(process.execPath, ["-r", "tsx/cjs", path.join(REPO, "test/lease-racer.ts"), root, String(HOLD_MS)], {
      cwd: REPO, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(child);
    let out = "";
    ready.push(new Promise((resolve) => child.stdout!.on("data", (d: Buffer) => { out += d.toString(); if (out.includes("ready\n")) resolve(); })));
    outcomes.push(new Promise((resolve) => child.on("exit", () => resolve(JSON.parse(out.split("\n").filter(Boolean).at(-1)!) as Outcome))));
  }
  await Promise.all(ready);
  for (const child of children) child.stdin!.write("go\n");
  if (pauses) {
    // Two contenders, picked at random, are stopped for 150 ms at a random moment of the first 40 ms.
    for (const child of [...children].sort(() => Math.random() - 0.5).slice(0, 2)) {
      setTimeout(() => {
        child.kill("SIGSTOP");
        setTimeout(() => child.kill("SIGCONT"), 150);
      }, Math.random() * 40);
    }
  }
  return Promise.all(outcomes);
}

function assertOneWinner(outcomes: Outcome[], root: string): void {
  const winners = outcomes.filter((o) => o.won);
  assert.equal(winners.length, 1, `${winners.length} contenders won the lease of ${root}: ${JSON.stringify(outcomes)}`);
  for (const loser of outcomes.filter((o) => !o.won)) {
    assert.match(loser.error!, /the checkpoint at .* is in use by another run/, JSON.stringify(loser));
  }
}

/** A pid that no process has: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout as unknown as number;
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
});
