import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import * as rd from "../server/src/api";
import { Cluster, type NodeInfo, type HeadAddress, type LaunchedNode, type NodeProvider } from "../server/src/cluster";
import { loadPipeline } from "../server/src/loader";
import { REPO, runCli as runCliToEnd, tempDir, writePipeline } from "./helpers";

const ROWS = 3000;

/** Rows of the pipeline below, as "id:sq:pid-free" strings sorted: what every run must produce exactly. */
function expectedRows(): string[] {
  return Array.from({ length: ROWS }, (_, i) => `${i}:${i * i + 1}`).sort();
}

const rowKeys = (rows: rd.Row[]) => rows.map((r) => `${r.id}:${r.sq}`).sort();

/** Resolves when some node has joined (polling: nodes join on their own schedule). */
async function nodesJoined(cluster: Cluster, count: number): Promise<void> {
  while (cluster.counts().alive < count) await new Promise((r) => setTimeout(r, 20));
}

describe("nodes: a cluster of OS processes", function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster | undefined;
  let file: string;

  before(() => {
    dir = tempDir();
    // A task stage, then an actor pool, then a task stage: every kind of work crosses nodes.
    file = writePipeline(dir, "spread.rdpipe.ts", `
      import * as rd from "rdpipe";
      const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      class AddOne { call(b: rd.Columns) { sleep(15); return { id: b.id, sq: Float64Array.from(b.sq as Float64Array, (v) => v + 1), taskPid: b.taskPid, actorPid: new Float64Array((b.id as BigInt64Array).length).fill(process.pid) }; } }
      export default rd.range(${ROWS}, { overrideNumBlocks: 12 })
        .map((r) => { if (Number(r.id) % 100 === 0) sleep(25); return { id: r.id, sq: Number(r.id) * Number(r.id), taskPid: process.pid }; })
        .mapBatches(AddOne, { concurrency: [1, 2], batchSize: 100 })
        .map((r) => r);`);
  });
  beforeEach(() => { rd.DataContext.reset(); });
  afterEach(async () => {
    await cluster?.shutdown();
    cluster = undefined;
    rd.DataContext.reset(); // later suites run on this process's worker threads again
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs tasks and actors in node processes started by the local provider; a shut-down cluster fails jobs", async () => {
    cluster = new Cluster({ maxNodes: 2, cpusPerNode: 1 });
    rd.DataContext.getCurrent().cluster = cluster;
    const snapshots: rd.ProgressSnapshot[] = [];
    const table = await (await loadPipeline(file)).toArrow({ onProgress: (s) => snapshots.push(s) });
    const rows = table.toArray().map((r) => r.toJSON() as rd.Row);
    assert.deepEqual(rowKeys(rows), expectedRows());
    const nodePids = new Set(cluster.nodes().map((n) => n.pid));
    const taskPids = new Set(rows.map((r) => r.taskPid));
    const actorPids = new Set(rows.map((r) => r.actorPid));
    for (const pid of [...taskPids, ...actorPids]) assert.ok(nodePids.has(pid as number), `pid ${pid} is not a node's`);
    assert.ok(!taskPids.has(process.pid) && !actorPids.has(process.pid));
    assert.ok(snapshots.some((s) => s.nodes && s.nodes.alive >= 1));
    await cluster.shutdown();
    await assert.rejects((await loadPipeline(file)).takeAll(), /the cluster was shut down/);
  });

  it("`rdpipe run --nodes 2` runs the file on nodes and shows them in its progress; a head beyond loopback needs a token", () => {
    const { code, stdout, stderr } = runCliToEnd(["run", file, "--nodes", "2", "--preview", "3"]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /rdpipe: nodes join at tcp:\/\/127\.0\.0\.1:\d+/);
    assert.match(stderr, /nodes [12] alive, 0 draining/);
    assert.match(stderr, /MapBatches\(AddOne\) .*actors \d running/);
    assert.match(stdout, /\(3 rows shown\)/);
    const open = runCliToEnd(["run", file, "--nodes", "1", "--head-host", "0.0.0.0"]);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /--head-host beyond loopback needs --token/);
  });

  for (const kind of ["SIGKILL", "drain (SIGTERM)"] as const) {
    it(`${kind} of a node at a random moment, 10 trials: each job's output equals a run without preemption`, async () => {
      cluster = new Cluster({ maxNodes: 2, cpusPerNode: 1 });
      rd.DataContext.getCurrent().cluster = cluster;
      const dataset = await loadPipeline(file);
      assert.deepEqual(rowKeys(await dataset.takeAll()), expectedRows()); // warms the nodes up
      const started = Date.now();
      const baseline = rowKeys(await dataset.takeAll());
      const baselineMs = Date.now() - started;
      assert.deepEqual(baseline, expectedRows());
      let preempted = 0;
      let trialsThatLostTasks = 0;
      for (let trial = 0; preempted < 10; trial++) {
        assert.ok(trial < 30, `only ${preempted} of ${trial} jobs were still running when their node was preempted`);
        await nodesJoined(cluster, 1); // the job itself asks for a second node while its work is queued
        const alive = cluster.nodes().filter((n) => n.state === "alive");
        const victim: NodeInfo = alive[Math.floor(Math.random() * alive.length)];
        const delayMs = Math.random() * baselineMs * 0.8;
        let killed = false;
        const timer = setTimeout(() => { killed = true; process.kill(victim.pid, kind === "SIGKILL" ? "SIGKILL" : "SIGTERM"); }, delayMs);
        const rows = await dataset.takeAll();
        clearTimeout(timer);
        assert.deepEqual(rowKeys(rows), baseline, `trial ${trial}: ${kind} of node ${victim.id} after ${delayMs.toFixed(0)} ms`);
        if (!killed) continue;
        preempted++;
        const retried = dataset.lastRun()!.progress.operators.reduce((sum, op) => sum + op.tasksRetried, 0);
        if (kind !== "SIGKILL") assert.equal(retried, 0, `trial ${trial}: a drained node's tasks finished there, none reran`);
        if (retried > 0) trialsThatLostTasks++;
        // A drained node leaves once idle; a killed one is gone at once.
        await waitUntil(() => !cluster!.nodes().some((n) => n.pid === victim.pid));
      }
      if (kind === "SIGKILL") assert.ok(trialsThatLostTasks > 0, "no kill hit a node while it ran a task: the reruns were never exercised");
    });
  }

  it("a node started with `rdpipe node --head URL --token T` joins over TCP on loopback and takes work; strangers are refused", async () => {
    // No provider launches: the job waits for the node a user starts by hand.
    const launches: number[] = [];
    const provider: NodeProvider = { launch: (_head: HeadAddress, cpus: number): LaunchedNode => { launches.push(cpus); return neverJoins(); }, terminate: () => undefined };
    cluster = new Cluster({ maxNodes: 1, cpusPerNode: 2, provider, token: "s3cret" });
    rd.DataContext.getCurrent().cluster = cluster;
    const head = await cluster.start();
    assert.match(head.url, /^tcp:\/\/127\.0\.0\.1:\d+$/);

    for (const garbage of [Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5]), Buffer.from([255, 255, 255, 255, 0])]) {
      // An undecodable frame, and a frame too long for a stranger: the head hangs up and stays up.
      const socket = net.connect(Number(new URL(head.url).port), "127.0.0.1", () => socket.write(garbage));
      await new Promise((resolve) => socket.on("close", resolve));
    }
    const intruder = runCli(["node", "--head", head.url, "--token", "wrong", "--cpus", "1"]);
    assert.equal((await intruder.exit).code, 1);
    assert.match(intruder.stderr(), /the head refused this node: wrong token/);

    const job = (await loadPipeline(file)).takeAll();
    const node = runCli(["node", "--head", head.url, "--token", "s3cret", "--cpus", "2"]);
    try {
      const rows = await job;
      assert.deepEqual(rowKeys(rows), expectedRows());
      assert.deepEqual(new Set(rows.map((r) => r.taskPid)), new Set([node.pid]));
      assert.deepEqual(cluster.nodes().map((n) => ({ pid: n.pid, cpus: n.cpus })), [{ pid: node.pid, cpus: 2 }]);
      assert.deepEqual(launches, [2], "the cluster autoscaler asked its provider for the one node allowed");
    } finally {
      node.kill();
    }
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

function neverJoins(): LaunchedNode {
  return { pid: undefined, kill: () => undefined, exited: new Promise(() => undefined) };
}

function runCli(args: string[]) {
  const child = spawn(process.execPath, [path.join(REPO, "bin", "rdpipe.js"), ...args], { stdio: ["ignore", "inherit", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => { stderr += d; });
  const exit = new Promise<{ code: number | null }>((resolve) => child.once("exit", (code) => resolve({ code })));
  return { pid: child.pid!, exit, stderr: () => stderr, kill: () => child.kill("SIGKILL") };
}
