// The execution server as the head of a cluster: a real `rdpipe serve --cluster-port`, two real
// `rdpipe node` processes joined to it, jobs submitted with `rdpipe run FILE --server`, and a node
// SIGKILLed during a job.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { RemoteClient, type ClusterNode } from "../server/src/contract";
import { REPO, tempDir, writePipeline } from "./helpers";
import { type ServerProcess, raw, startNode, startServer, until } from "./server-helpers";
import { makeCa, makeCert, tlsArgs } from "./certs";

const TOKEN = "cluster-s3cret";
const ROWS = 120_000;

/** A job writing ROWS rows, each naming the process its task ran in; `sleepEvery` rows a task sleeps 60 ms, so a job lasts a few seconds. */
function writeJob(dir: string, name: string, out: string, sleepEvery: number): string {
  return writePipeline(dir, `${name}.rdpipe.ts`, `
    import * as rd from "rdpipe";
    const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    export default rd.range(${ROWS}, { overrideNumBlocks: 24 })
      .map((r) => { if (Number(r.id) % ${sleepEvery} === 0) sleep(60); return { id: r.id, pid: process.pid }; })
      .writeParquet(${JSON.stringify(out)});`);
}

interface CliRun { code: number | null; stdout: string; stderr: string; child: ChildProcess }

/** `rdpipe run FILE --server URL --token T`, in the background. */
function runOnServer(file: string, url: string, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [path.join(REPO, "bin", "rdpipe.js"), "run", file, "--server", url, "--token", TOKEN], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => { stdout += d; });
  child.stderr!.on("data", (d) => { stderr += d; });
  return { child, done: new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr, child }))) };
}

/** The rows a job wrote: ids and the pid of the process each was made in. */
async function written(out: string): Promise<{ ids: number[]; pids: Set<number> }> {
  const rows = await rd.readParquet(out).takeAll();
  return { ids: rows.map((r) => Number(r.id)).sort((a, b) => a - b), pids: new Set(rows.map((r) => Number(r.pid))) };
}

function assertAllRows(ids: number[], what: string): void {
  assert.equal(ids.length, ROWS, `${what}: ${ids.length} rows written, expected ${ROWS}`);
  ids.forEach((id, i) => assert.equal(id, i, `${what}: row ${i} is ${id} (a duplicate or a gap)`));
}

describe("the execution server heads a cluster of nodes", function () {
  this.timeout(240_000);
  let root: string;
  let server: ServerProcess;
  let client: RemoteClient;
  let nodes: ChildProcess[] = [];
  let nodePids: number[];

  const clusterNodes = async (): Promise<ClusterNode[]> => (await client.request("GET", "/cluster", "cluster")).nodes;

  before(async () => {
    root = tempDir("rdpipe-cluster-root-");
    server = await startServer(["--root", root, "--state-dir", path.join(root, "state"), "--token", TOKEN, "--cluster-port", "0"]);
    client = new RemoteClient(server.url, TOKEN);
    assert.match(server.cluster ?? "", /^tcp:\/\/127\.0\.0\.1:\d+$/);
    nodes = [startNode(server.cluster!, ["--token", TOKEN]), startNode(server.cluster!, ["--token", TOKEN])];
    nodePids = nodes.map((n) => n.pid!);
    await until("two nodes to join", async () => ((await clusterNodes()).filter((n) => n.state === "alive").length === 2 ? true : undefined));
  });
  after(async () => {
    for (const node of nodes) node.kill("SIGKILL");
    await server?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("GET /cluster lists the two nodes: id, address, pid, CPUs, alive, no jobs yet", async () => {
    const listed = await clusterNodes();
    assert.deepEqual(listed.map((n) => n.pid).sort(), [...nodePids].sort());
    for (const node of listed) {
      assert.equal(node.state, "alive");
      assert.equal(node.cpus, 2);
      assert.match(node.address, /^127\.0\.0\.1:\d+$/);
      assert.deepEqual(node.jobs, []);
      assert.equal(node.tasksRunning, 0);
    }
    assert.deepEqual(listed.map((n) => n.id).sort(), [1, 2]);
  });

  it("a job submitted with `rdpipe run --server` writes exactly its rows from tasks that ran in both node processes (not the server's, not its runner's)", async () => {
    const out = path.join(root, "one");
    const run = await runOnServer(writeJob(root, "one", out, 4000), server.url).done;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Wrote ${ROWS.toLocaleString("en-US")} rows`));
    for (const pid of nodePids) assert.match(run.stderr, new RegExp(`node \\d \\(pid ${pid}\\) alive, 2 CPU slots`), "the CLI's progress names each node");
    const { ids, pids } = await written(out);
    assertAllRows(ids, "one job");
    assert.deepEqual([...pids].sort(), [...nodePids].sort(), "tasks ran in exactly the two node processes");
    assert.ok(!pids.has(server.child.pid!));
    // GET /jobs/:id shows the job's nodes one by one, by the server's ids, with its CPU slots there.
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    const { progress } = await client.request("GET", `/jobs/${jobs[jobs.length - 1].id}`, "job");
    assert.deepEqual(progress?.nodes, { alive: 2, draining: 0, lost: 0, pending: 0, released: 0 });
    const byId = new Map((await clusterNodes()).map((n) => [n.id, n.pid]));
    assert.equal(progress?.nodeList?.length, 2);
    for (const node of progress!.nodeList!) {
      assert.equal(node.pid, byId.get(node.id), `node ${node.id} of the job's progress is the server's node ${node.id}`);
      assert.equal(node.cpus, 2, "alone on the cluster, the job had every CPU slot");
      assert.equal(node.state, "alive");
    }
    // The job ended: its sessions are gone, the nodes stay.
    await until("the job's sessions to end", async () => ((await clusterNodes()).every((n) => n.jobs.length === 0 && n.state === "alive") ? true : undefined));
  });

  it("a job's actors and its exchange run on the nodes too: a sort's partitions fetched node to node, a class UDF's actors in node processes", async () => {
    const out = path.join(root, "sorted");
    const file = writePipeline(root, "sorted.rdpipe.ts", `
      import * as rd from "rdpipe";
      class Tag { call(b: rd.Columns) { return { ...b, actorPid: new Float64Array((b.id as BigInt64Array).length).fill(process.pid) }; } }
      export default rd.range(${ROWS}, { overrideNumBlocks: 12 })
        .map((r) => ({ id: r.id, key: (Number(r.id) * 7919) % ${ROWS} }))
        .sort("key")
        .mapBatches(Tag, { concurrency: 2, batchSize: 2000 })
        .writeParquet(${JSON.stringify(out)});`);
    const run = await runOnServer(file, server.url).done;
    assert.equal(run.code, 0, run.stderr);
    const rows = await rd.readParquet(out).takeAll();
    assert.deepEqual(rows.map((r) => Number(r.id)).sort((a, b) => a - b), Array.from({ length: ROWS }, (_, i) => i));
    const actorPids = new Set(rows.map((r) => Number(r.actorPid)));
    for (const pid of actorPids) assert.ok(nodePids.includes(pid), `actor pid ${pid} is not a node's`);
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    const { progress } = await client.request("GET", `/jobs/${jobs[jobs.length - 1].id}`, "job");
    assert.ok(progress!.operators.some((op) => (op.bytesMoved ?? 0) > 0), "reduce tasks fetched partitions from the other node");
  });

  it("two jobs at once share the nodes: each node's CPUs split between them, both finish, both used both nodes", async () => {
    const [outA, outB] = [path.join(root, "a"), path.join(root, "b")];
    const a = runOnServer(writeJob(root, "a", outA, 1500), server.url);
    const b = runOnServer(writeJob(root, "b", outB, 1500), server.url);
    // While both run, every node holds a session for each, with half its slots.
    const shared = await until("both jobs to hold a session on both nodes", async () => {
      const listed = await clusterNodes();
      return listed.every((n) => n.jobs.length === 2) ? listed : undefined;
    });
    for (const node of shared) assert.deepEqual(node.jobs.map((j) => j.cpus), [1, 1], `node ${node.id}'s 2 CPUs split evenly`);
    // The first job's head took the resize: its progress shows one slot on each node (it had two before the second job came).
    const first = shared[0].jobs[0].jobId;
    const resized = await until("the first job's sessions to shrink to one slot", async () => {
      const { progress } = await client.request("GET", `/jobs/${first}`, "job");
      return progress?.nodeList?.length === 2 && progress.nodeList.every((n) => n.cpus === 1) ? progress : undefined;
    });
    assert.equal(resized.cpuSlots, 2, "one slot on each of the two nodes");
    const [runA, runB] = await Promise.all([a.done, b.done]);
    assert.equal(runA.code, 0, runA.stderr);
    assert.equal(runB.code, 0, runB.stderr);
    for (const [out, what] of [[outA, "job a"], [outB, "job b"]]) {
      const { ids, pids } = await written(out);
      assertAllRows(ids, what);
      assert.deepEqual([...pids].sort(), [...nodePids].sort(), `${what} ran on both nodes`);
    }
  });

  it("a node SIGKILLed during a job: the job still writes exactly its rows, GET /cluster shows the node lost, the server stays up", async () => {
    const out = path.join(root, "killed");
    const run = runOnServer(writeJob(root, "killed", out, 300), server.url); // tasks of about a second
    // Kill once both nodes run tasks of the job.
    const victim = await until("tasks running on both nodes", async () => {
      const listed = await clusterNodes();
      return listed.every((n) => n.tasksRunning > 0) ? listed[1] : undefined;
    });
    process.kill(victim.pid, "SIGKILL");
    const done = await run.done;
    assert.equal(done.code, 0, done.stderr);
    const { ids, pids } = await written(out);
    assertAllRows(ids, "the job that lost a node");
    assert.ok(pids.has(victim.pid === nodePids[0] ? nodePids[1] : nodePids[0]), "the surviving node ran tasks");
    const listed = await clusterNodes();
    assert.equal(listed.find((n) => n.id === victim.id)?.state, "lost");
    assert.equal(listed.find((n) => n.id !== victim.id)?.state, "alive");
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    const { progress } = await client.request("GET", `/jobs/${jobs[jobs.length - 1].id}`, "job");
    assert.equal(progress?.nodes?.lost, 1);
    assert.equal(progress?.nodeList?.find((n) => n.id === victim.id)?.state, "lost");
    assert.ok(progress!.operators.some((op) => op.tasksRetried > 0), "the killed node's running tasks ran again elsewhere");
    const health = await raw(`${server.url}/health`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(health.status, 200);
    assert.equal(server.child.exitCode, null);
  });

  it("--cluster-host 0.0.0.0: a job submitted before any node joined waits; a node joining later opens a session with it, reaching the job's head where it reached the server", async () => {
    const other = await startServer(["--root", root, "--state-dir", path.join(root, "state-late"), "--token", TOKEN, "--cluster-host", "0.0.0.0", "--cluster-port", "0"]);
    let late: ChildProcess | undefined;
    try {
      assert.match(other.cluster ?? "", /^tcp:\/\/0\.0\.0\.0:\d+$/);
      const otherClient = new RemoteClient(other.url, TOKEN);
      const out = path.join(root, "late");
      const run = runOnServer(writeJob(root, "late", out, 4000), other.url);
      await until("the job to run without nodes", async () => ((await otherClient.request("GET", "/jobs", "jobs")).jobs[0]?.state === "running" ? true : undefined));
      late = startNode(other.cluster!.replace("0.0.0.0", "127.0.0.1"), ["--token", TOKEN]);
      const done = await run.done;
      assert.equal(done.code, 0, done.stderr);
      const { ids, pids } = await written(out);
      assertAllRows(ids, "the job the late node ran");
      assert.deepEqual([...pids], [late.pid]);
    } finally {
      late?.kill("SIGKILL");
      await other.stop();
    }
  });

  it("over mutual TLS (serve's --tls-* given as paths relative to its cwd): a node joins tls:// with its certificate, a job sent over https runs its tasks in it", async () => {
    const dir = path.join(root, "tls");
    fs.mkdirSync(dir);
    makeCa(dir, "ca");
    makeCert(dir, "server", "ca", "ca", "127.0.0.1");
    const nodeFiles = makeCert(dir, "node", "ca", "ca");
    const tlsServer = await startServer(["--root", root, "--state-dir", path.join(root, "state-tls"), "--tls-cert", "server.pem", "--tls-key", "server.key", "--tls-ca", "ca.pem", "--cluster-port", "0"], {}, dir);
    const node = startNode(tlsServer.cluster!, tlsArgs(nodeFiles));
    try {
      assert.match(tlsServer.url, /^https:/);
      assert.match(tlsServer.cluster ?? "", /^tls:\/\/127\.0\.0\.1:\d+$/);
      const out = path.join(root, "over-tls");
      const run = await runOnServer(writeJob(root, "over-tls", out, 4000), tlsServer.url, { NODE_EXTRA_CA_CERTS: path.join(dir, "ca.pem") }).done;
      assert.equal(run.code, 0, run.stderr);
      const { ids, pids } = await written(out);
      assertAllRows(ids, "the job over TLS");
      assert.deepEqual([...pids], [node.pid], "its tasks ran in the node that joined with its certificate");
    } finally {
      node.kill("SIGKILL");
      await tlsServer.stop();
    }
  });

  it("--cluster-port without a token is refused", async () => {
    await assert.rejects(startServer(["--root", root, "--state-dir", path.join(root, "state2"), "--cluster-port", "0"]), /--cluster-port needs a token/);
  });
});
