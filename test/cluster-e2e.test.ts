// Issue 19's "must show", end to end with real hosts: `rdpipe serve` heads a cluster with TLS on both its
// ports (HTTPS API; a cluster port requiring client certificates from the cluster CA), listening on a
// bridge; two `rdpipe node` processes in two network namespaces join with certificates from that CA; a
// node with a certificate from another CA is refused and exits; a plaintext client on the cluster port
// changes nothing; 1M-row jobs submitted with `rdpipe run FILE --server https://…` write exactly their rows
// from tasks in both node processes, and one job survives a node's link cut 3 s in (heartbeat timeout 2 s).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { TlsFiles } from "../server/src/cluster";
import { RemoteClient, type ClusterNode } from "../server/src/contract";
import { fetchTrusting } from "../extension/src/server-fetch";
import { makeCa, makeCert, tlsArgs } from "./certs";
import { outputIds, REPO, tempDir, writePipeline } from "./helpers";
import { makeNetHosts, type NetHost, type NetHosts } from "./netns";
import { startServer, until, type ServerProcess } from "./server-helpers";

const TOKEN = "e2e-api-token";
const RDPIPE = path.join(REPO, "bin", "rdpipe.js");
const ROWS = 1_000_000;
const BLOCKS = 50;

interface Proc { pid: number; exit: Promise<number | null>; stderr(): string }

function watch(child: ChildProcess): Proc {
  let stderr = "";
  child.stderr!.on("data", (d) => { stderr += d; });
  return { pid: child.pid!, exit: new Promise((resolve) => child.once("exit", (code) => resolve(code))), stderr: () => stderr };
}

/** `rdpipe node --head tls://… --tls-*` inside `host`'s namespace (no token: the certificate is the credential). */
function startNode(host: NetHost, head: string, files: TlsFiles): Proc {
  return watch(host.spawn(process.execPath, [RDPIPE, "node", "--head", head, ...tlsArgs(files), "--cpus", "1"], {
    stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RDPIPE_TOKEN: "" },
  }));
}

/** ROWS rows (id, and the pid of the process that made them); each batch (4,096 rows) sleeps 50 ms, about 12 s of sleep per job, so a job lasts several seconds. */
function writeJob(dir: string, name: string, out: string): string {
  return writePipeline(dir, `${name}.rdpipe.ts`, `
    import * as rd from "rdpipe";
    export default rd.range(${ROWS}, { overrideNumBlocks: ${BLOCKS} })
      .mapBatches(function stamp(b: rd.Columns) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        const id = b.id as Float64Array | BigInt64Array;
        return { id, pid: new Float64Array(id.length).fill(process.pid) };
      })
      .writeParquet(${JSON.stringify(out)});`);
}

/** `rdpipe run FILE --server URL --token T`, trusting the cluster CA through NODE_EXTRA_CA_CERTS. */
function runOnServer(file: string, url: string, ca: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [RDPIPE, "run", file, "--server", url, "--token", TOKEN, "--quiet"], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RDPIPE_TOKEN: "", NODE_EXTRA_CA_CERTS: ca },
  });
  let stdout = "";
  child.stdout!.on("data", (d) => { stdout += d; });
  const proc = watch(child);
  return proc.exit.then((code) => ({ code, stdout, stderr: proc.stderr() }));
}

/** Exactly ids 0..ROWS-1, each once: count, distinct count, min and max. */
async function assertAllRows(out: string, what: string): Promise<Set<number>> {
  const ids = await outputIds(out);
  assert.equal(ids.length, ROWS, `${what}: ${ids.length} rows written`);
  assert.equal(new Set(ids).size, ROWS, `${what}: duplicated ids`);
  let [min, max] = [Infinity, -Infinity];
  for (const id of ids) { if (id < min) min = id; if (id > max) max = id; }
  assert.deepEqual([min, max], [0, ROWS - 1], `${what}: id range`);
  return new Set(await outputIds(out, "pid"));
}

describe("a cluster beyond one machine, end to end (issue 19)", function () {
  this.timeout(180_000);
  let dir: string;
  let hosts: NetHosts;
  let server: ServerProcess;
  let serverLog = "";
  let client: RemoteClient;
  let ca: string;
  const nodes: Proc[] = [];
  const clusterNodes = async (): Promise<ClusterNode[]> => (await client.request("GET", "/cluster", "cluster")).nodes;

  before(async () => {
    dir = tempDir("rdpipe-e2e-");
    hosts = makeNetHosts(2);
    makeCa(dir, "ca");
    makeCa(dir, "other-ca");
    const head = makeCert(dir, "head", "ca", "ca", hosts.headAddress);
    ca = head.caFile;
    server = await startServer([
      "--host", hosts.headAddress, "--token", TOKEN, "--root", dir, "--state-dir", path.join(dir, "state"), ...tlsArgs(head),
      "--cluster-host", hosts.headAddress, "--cluster-port", "0", "--heartbeat-timeout", "2",
    ]);
    server.child.stderr!.on("data", (d) => { serverLog += d; });
    client = new RemoteClient(server.url, TOKEN, fetchTrusting([fs.readFileSync(ca, "utf8")]));
  });
  after(async () => {
    await server?.stop();
    hosts?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serves HTTPS and a mutual-TLS cluster port on the bridge address", () => {
    assert.equal(server.url, `https://${hosts.headAddress}:${new URL(server.url).port}`);
    assert.match(server.cluster ?? "", new RegExp(`^tls://${hosts.headAddress.replace(/\./g, "\\.")}:\\d+$`));
  });

  it("two nodes in two namespaces join with certificates from the cluster CA", async () => {
    hosts.hosts.forEach((host, i) => nodes.push(startNode(host, server.cluster!, makeCert(dir, `node${i}`, "ca", "ca"))));
    const joined = await until("two nodes to join", async () => {
      const alive = (await clusterNodes()).filter((n) => n.state === "alive");
      return alive.length === 2 ? alive : undefined;
    });
    assert.deepEqual(joined.map((n) => n.pid).sort(), nodes.map((n) => n.pid).sort());
    assert.deepEqual(joined.map((n) => n.address.split(":")[0]).sort(), hosts.hosts.map((h) => h.address).sort());
  });

  it("refuses a node whose certificate is from another CA (it exits non-zero naming TLS) and is not disturbed by a plaintext client", async () => {
    const stranger = startNode(hosts.hosts[1]!, server.cluster!, makeCert(dir, "stranger", "other-ca", "ca"));
    assert.notEqual(await stranger.exit, 0);
    assert.match(stranger.stderr(), /rdpipe node: could not join the head: .*TLS/);
    const { hostname, port } = new URL(server.cluster!);
    const plain = net.connect(Number(port), hostname);
    await new Promise<void>((resolve) => plain.once("connect", () => resolve()));
    plain.write('{"type":"hello","token":"","cpus":64,"pid":1,"chunks":"x"}\n');
    await new Promise<void>((resolve) => { plain.once("close", () => resolve()); plain.once("error", () => resolve()); });
    const refusedFrom = (address: string, why: string) => new RegExp(`refused a node connection from ${address.replace(/\./g, "\\.")}:\\d+: TLS handshake failed: ${why}`);
    await until("both refusals to be logged, with their addresses", async () =>
      (refusedFrom(hosts.hosts[1]!.address, "its certificate does not chain").test(serverLog) && refusedFrom(hosts.headAddress, "").test(serverLog) ? true : undefined));
    const listed = await clusterNodes();
    assert.deepEqual(listed.map((n) => [n.pid, n.state]).sort(), nodes.map((n) => [n.pid, "alive"]).sort(), "neither was counted");
    assert.equal((await client.request("GET", "/health", "health")).type, "health");
  });

  it("a 1M-row job from `rdpipe run --server https://…` writes exactly its rows from tasks in both node processes", async () => {
    const out = path.join(dir, "one");
    const run = await runOnServer(writeJob(dir, "one", out), server.url, ca);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Wrote 1,000,000 rows/);
    const pids = await assertAllRows(out, "first job");
    assert.deepEqual([...pids].sort(), nodes.map((n) => n.pid).sort(), "tasks ran in exactly the two node processes");
    assert.ok(!pids.has(server.child.pid!), "no task ran in the server");
  });

  it("a second 1M-row job, one node's link cut 3 s in, completes with exactly its rows; the server lives and lists that node lost", async () => {
    const out = path.join(dir, "two");
    const running = runOnServer(writeJob(dir, "two", out), server.url, ca);
    await new Promise((r) => setTimeout(r, 3000));
    const [host, cutNode] = [hosts.hosts[0]!, nodes[0]!];
    assert.ok((await clusterNodes()).some((n) => n.pid === cutNode.pid && n.jobs.length === 1), "the node to cut had a session with the job");
    host.cut();
    const cutAt = Date.now();
    // --heartbeat-timeout 2 on serve: the server lists the silent node lost within the timeout and some slack.
    await until("the cut node to be listed lost", async () => ((await clusterNodes()).find((n) => n.pid === cutNode.pid)?.state === "lost" ? true : undefined));
    const lostAfterMs = Date.now() - cutAt;
    assert.ok(lostAfterMs < 6000, `the server listed the cut node lost ${lostAfterMs} ms after the cut (timeout 2 s)`);
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Wrote 1,000,000 rows/);
    const pids = await assertAllRows(out, "job with a cut node");
    assert.ok(pids.has(nodes[1]!.pid), "the other node made rows");
    assert.equal((await client.request("GET", "/health", "health")).type, "health");
    // The cut landed mid-job: the job's own head declared the node lost.
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    const { progress } = await client.request("GET", `/jobs/${jobs[jobs.length - 1]!.id}`, "job");
    assert.equal(progress?.nodes?.lost, 1, "the job lost the cut node");
    assert.equal(progress?.nodeList?.find((n) => n.pid === cutNode.pid)?.state, "lost");
    const listed = await clusterNodes();
    assert.equal(listed.find((n) => n.pid === cutNode.pid)?.state, "lost");
    assert.equal(listed.find((n) => n.pid === nodes[1]!.pid)?.state, "alive");
  });
});
