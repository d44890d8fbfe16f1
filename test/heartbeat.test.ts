// Heartbeats and partitions with real hosts: nodes in network namespaces (test/netns.ts) join a head
// listening on the bridge; a cut link is a silent partition (no socket closes), a slow link is a TCP
// proxy that delays bytes (test/slow-link.ts). A node silent past the heartbeat timeout is lost like a
// SIGKILLed one and its work reruns; back on the network it drops its old work and joins again; a node
// whose head falls silent exits naming it; a slow but alive node is never taken for lost.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { ChunkFetcher, Cluster, type NodeProvider } from "../server/src/cluster";
import { assertExactlyOnce, outputIds, REPO, tempDir, writePipeline } from "./helpers";
import { makeNetHosts, type NetHost, type NetHosts } from "./netns";
import { startSlowLink, type SlowLink } from "./slow-link";

const TOKEN = "heartbeat-test-token";
const RDPIPE = path.join(REPO, "bin", "rdpipe.js");
const TIMEOUT_MS = 2000;
/** How late a silence may be noticed: heartbeats are checked every quarter timeout, plus a loaded machine. */
const NOTICE_SLACK_MS = TIMEOUT_MS / 4 + 1500;
/** How early: the silence began with the last heartbeat before the cut (a quarter timeout before it, more on a busy sender). */
const EARLIEST_NOTICE_MS = TIMEOUT_MS / 2;

/** The nodes here are started in their namespaces by hand: the provider starts none. */
const byHand: NodeProvider = { launch: () => undefined, terminate: () => undefined };

/** A job that loses a node ends within this long of the cut (about 8 s here on a loaded machine). */
const AFTER_CUT_BOUND_MS = 30_000;

interface NodeProcess { pid: number; exit: Promise<number | null>; exitedAt?: number; stderr(): string }

function startNode(host: NetHost, head: string, extra: string[] = []): NodeProcess {
  const child = host.spawn(process.execPath, [RDPIPE, "node", "--head", head, "--token", TOKEN, "--cpus", "1", ...extra], { stdio: ["ignore", "inherit", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => { stderr += d; });
  const node: NodeProcess = { pid: child.pid!, exit: new Promise((resolve) => child.once("exit", (code) => { node.exitedAt = Date.now(); resolve(code); })), stderr: () => stderr };
  return node;
}

/** `rows` rows (id, and the pid of the node that made them), each block sleeping 150 ms in its task. */
function slowJob(rows: number, blocks: number): rd.Dataset {
  return rd.range(rows, { overrideNumBlocks: blocks }).mapBatches(function stamp(b: rd.Columns) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
    const id = b.id as Float64Array | BigInt64Array;
    return { id, pid: new Float64Array(id.length).fill(process.pid) };
  });
}

function idsAndPids(table: Awaited<ReturnType<rd.Dataset["toArrow"]>>): { ids: number[]; pids: Set<number> } {
  return { ids: Array.from(table.getChild("id")!.toArray() as ArrayLike<number | bigint>, Number), pids: new Set(Array.from(table.getChild("pid")!.toArray() as Float64Array)) };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`waited ${ms / 1000} s for ${what}`);
    await sleep(20);
  }
}

describe("heartbeats and partitions, with nodes in network namespaces", function () {
  this.timeout(120_000);
  let hosts: NetHosts;
  let cluster: Cluster;
  let head: string;
  let spill: string;
  let link: SlowLink | undefined;

  beforeEach(async () => {
    hosts = makeNetHosts(2); // throws, saying why, where namespaces cannot be made
    const context = rd.DataContext.reset();
    context.progress.intervalMs = 50;
    spill = tempDir("rdpipe-spill-heartbeat-");
    context.spillDir = spill;
    cluster = new Cluster({ maxNodes: 2, cpusPerNode: 1, provider: byHand, host: hosts.headAddress, token: TOKEN, heartbeatTimeoutMs: TIMEOUT_MS });
    context.cluster = cluster;
    head = (await cluster.start()).url;
  });
  afterEach(async () => {
    await link?.close();
    link = undefined;
    await cluster.shutdown();
    hosts.remove();
    rd.DataContext.reset();
    fs.rmSync(spill, { recursive: true, force: true });
  });

  it("a node cut off 3 s into a 120k-row job is lost after the heartbeat timeout and its work reruns; back on the network, its late messages change nothing and it joins again as a new node", async () => {
    // a: a long timeout of its own, so it outlives the cut and comes back; b: the head's 2 s.
    const a = startNode(hosts.hosts[0]!, head, ["--heartbeat-timeout", "60"]);
    const b = startNode(hosts.hosts[1]!, head);
    await waitFor("both nodes to join", () => cluster.counts().alive === 2, 30_000);
    const oldId = cluster.nodes().find((n) => n.pid === a.pid)!.id;
    const snapshots: rd.ProgressSnapshot[] = [];
    let finished = false;
    const dataset = slowJob(120_000, 120);
    const job = dataset.toArrow({ onProgress: (s) => snapshots.push(s) }).finally(() => { finished = true; });
    await sleep(3000);
    assert.ok(!finished, "the job ended before the cut");
    hosts.hosts[0]!.cut();
    const cutAt = Date.now();
    await waitFor("the cut node to be declared lost", () => cluster.counts().lost === 1, TIMEOUT_MS + 10_000);
    const noticedMs = Date.now() - cutAt;
    assert.ok(noticedMs >= EARLIEST_NOTICE_MS && noticedMs < TIMEOUT_MS + NOTICE_SLACK_MS, `lost ${noticedMs} ms after the cut`);
    assert.deepEqual(cluster.nodes().map((n) => n.pid), [b.pid], "only the node on the network is alive");
    await sleep(1000);
    assert.ok(!finished, "the job ended before the cut node came back: its late messages would not reach a running job");
    hosts.hosts[0]!.restore();
    // Whatever a did for the old job during the cut now reaches the head, on a link the head abandoned.
    const { ids, pids } = idsAndPids(await job);
    assert.ok(Date.now() - cutAt < AFTER_CUT_BOUND_MS, `the job ended ${Date.now() - cutAt} ms after the cut`);
    assertExactlyOnce(ids, range(120_000));
    assert.ok(pids.has(a.pid) && pids.has(b.pid), "both nodes made rows");
    assert.ok(dataset.lastRun()!.progress.operators.some((op) => op.tasksRetried > 0), "the cut node's tasks ran again");
    assert.ok(snapshots.some((s) => s.nodes?.lost === 1), "progress reported the lost node");
    // a was told it is lost once its link was back: it dropped its work and joined again, under a new id.
    await waitFor("the cut node to join again", () => cluster.nodes().some((n) => n.pid === a.pid), 20_000);
    assert.match(a.stderr(), new RegExp(`the head declared node ${oldId} lost: it sent nothing for 2 s; dropping its work and joining again`));
    assert.ok(cluster.nodes().find((n) => n.pid === a.pid)!.id > oldId);
    // The rejoined node takes work like a fresh one.
    const again = idsAndPids(await slowJob(20_000, 24).toArrow());
    assertExactlyOnce(again.ids, range(20_000));
    assert.ok(again.pids.has(a.pid), "the rejoined node ran tasks");
    assert.equal(cluster.counts().lost, 1);
  });

  it("a sort whose node is cut off during the reduce completes in order: reduce tasks fetching from it fail as lost; the cut node exits 1 after the timeout naming the silent head", async () => {
    rd.DataContext.getCurrent().resourceLimits.memoryBytes = 8 * 2 ** 20; // several reduce partitions
    const a = startNode(hosts.hosts[0]!, head);
    const b = startNode(hosts.hosts[1]!, head);
    await waitFor("both nodes to join", () => cluster.counts().alive === 2, 30_000);
    const rows = 60_000;
    const dataset = rd.range(rows, { overrideNumBlocks: 12 })
      .map((r) => ({ id: r.id, v: ((r.id as number) * 7919) % 4001, pad: "0123456789abcdef".repeat(10) }))
      .sort(["v", "id"])
      .map(function slowReduce(r) {
        if ((r.id as number) % 300 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        return r;
      });
    let cutAt: number | undefined;
    const table = await dataset.toArrow({
      onProgress: (s) => {
        const [map, reduce] = s.operators;
        if (cutAt !== undefined || map!.tasksDone < 12 || reduce!.tasksDone < 1 || reduce!.tasksRunning < 1) return;
        hosts.hosts[0]!.cut();
        cutAt = Date.now();
      },
    });
    assert.ok(cutAt !== undefined, "the reduce finished before the cut");
    // Without a limit on silent fetches a reduce task would wait on the cut node for minutes (TCP's own retries).
    const afterCutMs = Date.now() - cutAt;
    assert.ok(afterCutMs < AFTER_CUT_BOUND_MS, `the job ended ${afterCutMs} ms after the cut`);
    const expected = range(rows).sort((x, y) => (x * 7919) % 4001 - (y * 7919) % 4001 || x - y);
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expected);
    assert.ok(dataset.lastRun()!.progress.operators[0]!.tasksRetried > 0, "the cut node's map outputs were made again");
    assert.equal(dataset.lastRun()!.exchangeBytesViaDriver, 0);
    assert.equal(await a.exit, 1);
    const exitedMs = a.exitedAt! - cutAt;
    assert.ok(exitedMs >= EARLIEST_NOTICE_MS && exitedMs < TIMEOUT_MS + NOTICE_SLACK_MS, `the cut node exited ${exitedMs} ms after the cut`);
    assert.match(a.stderr(), new RegExp(`the head at ${head.replace(/[.]/g, "\\.")} was silent for 2 s; dropping its work and exiting`));
    assert.equal(cluster.counts().lost, 1);
    assert.deepEqual(cluster.nodes().map((n) => n.pid), [b.pid]);
  });

  it("a chunk fetch from a peer that falls silent (connected, then cut off) fails after the silence timeout instead of hanging", async () => {
    const peer = hosts.hosts[1]!;
    // A peer that takes the connection and reads the requests, and is cut off before it could answer.
    const listener = peer.spawn(process.execPath, ["-e", `require("net").createServer((s) => s.resume()).listen(7171, "${peer.address}", () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((resolve) => listener.stdout!.once("data", resolve));
    const fetcher = new ChunkFetcher({ token: TOKEN }, TIMEOUT_MS);
    try {
      const started = Date.now();
      const fetched = fetcher.get(`tcp://${peer.address}:7171`, { key: "1.1", bytes: 10 });
      fetched.catch(() => undefined);
      await sleep(300);
      peer.cut();
      await assert.rejects(fetched, /it sent nothing for 2 s/);
      const waited = Date.now() - started;
      assert.ok(waited >= TIMEOUT_MS - 100 && waited < TIMEOUT_MS + 1500, `failed after ${waited} ms`);
    } finally {
      fetcher.close();
    }
  });

  it("`rdpipe run --heartbeat-timeout 2`: a node joining it learns the timeout (cut off, it exits after 2 s) and progress counts the lost node", async () => {
    const file = writePipeline(spill, "slow.rdpipe.ts", `
      import * as rd from "rdpipe";
      export default rd.range(40_000, { overrideNumBlocks: 80 })
        .mapBatches((b) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150); return b; })
        .writeParquet(${JSON.stringify(path.join(spill, "out"))});`);
    const run = spawn(process.execPath, [RDPIPE, "run", file, "--nodes", "1", "--head-host", hosts.headAddress, "--token", TOKEN, "--heartbeat-timeout", "2"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    run.stderr!.on("data", (d) => { stderr += d; });
    const ran = new Promise<number | null>((resolve) => run.once("exit", resolve));
    const joinAt = /nodes join at (tcp:\/\/\S+)/;
    await waitFor("the head's address", () => joinAt.test(stderr), 30_000);
    const url = joinAt.exec(stderr)![1]!;
    const node = startNode(hosts.hosts[0]!, url); // no --heartbeat-timeout of its own
    await sleep(3000);
    hosts.hosts[0]!.cut();
    const cutAt = Date.now();
    assert.equal(await node.exit, 1, `${node.stderr()}\n${stderr}`);
    const exitedMs = node.exitedAt! - cutAt;
    assert.ok(exitedMs >= EARLIEST_NOTICE_MS && exitedMs < TIMEOUT_MS + NOTICE_SLACK_MS, `the cut node exited ${exitedMs} ms after the cut`);
    assert.match(node.stderr(), new RegExp(`the head at ${url.replace(/[.]/g, "\\.")} was silent for 2 s`));
    assert.equal(await ran, 0, stderr);
    assert.match(stderr, /nodes \d alive, \d draining, \d pending, 1 lost/);
    assertExactlyOnce(await outputIds(path.join(spill, "out")), range(40_000));
  });

  it("a slow but alive node (every byte of its link delayed 1 s each way, half the timeout) is not declared lost and the job completes", async () => {
    const port = Number(new URL(head).port);
    link = await startSlowLink({ host: hosts.headAddress, port }, 1000, hosts.headAddress);
    const slow = startNode(hosts.hosts[0]!, `tcp://${link.host}:${link.port}`);
    const fast = startNode(hosts.hosts[1]!, head);
    await waitFor("both nodes to join", () => cluster.counts().alive === 2, 30_000);
    const { ids, pids } = idsAndPids(await slowJob(100_000, 60).toArrow());
    assertExactlyOnce(ids, range(100_000));
    assert.ok(pids.has(slow.pid) && pids.has(fast.pid), "both nodes made rows");
    assert.equal(cluster.counts().lost, 0);
    assert.deepEqual(cluster.nodes().map((n) => n.pid).sort(), [slow.pid, fast.pid].sort());
    assert.ok(link.chunksDelayed > 50, `${link.chunksDelayed} chunks crossed the slow link`);
  });
});
