// The cluster follows its work: nodes idle for idleTimeoutMs are released (drained, then terminated by
// their provider; their processes exit) down to minNodes, and it grows again when a job queues work; a
// node holding partitions a running exchange still needs is not idle. Actors are placed by numCpus on
// nodes with room. CommandNodeProvider starts nodes with a launcher command on a list of hosts: here
// `ip netns exec {host} …` with network namespaces as the hosts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { renderProgress } from "../server/src/cli/progress";
import { Cluster, CommandNodeProvider, LocalNodeProvider, type HeadAddress, type LaunchedNode, type NodeProvider } from "../server/src/cluster";
import { REPO } from "./helpers";
import { makeNetHosts, type NetHosts } from "./netns";

const ROWS = 4000;

/** UDFs reach workers as source (no closures): the rows' id, a derived value, and the pid of the process that ran the task. */
function tagged(slowBlockMs = 0): rd.Dataset {
  const udf = new Function("r", `
    const id = Number(r.id);
    if (${slowBlockMs} > 0 && id === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${slowBlockMs});
    else if (id % 100 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    return { id, sq: id * id, pid: process.pid };`) as (r: rd.Row) => rd.Row;
  return rd.range(ROWS, { overrideNumBlocks: 4 }).map(udf);
}

const expectedKeys = () => Array.from({ length: ROWS }, (_, id) => `${id}:${id * id}`);
const keysOf = (rows: rd.Row[]) => rows.map((r) => `${r.id}:${r.sq}`).sort((a, b) => Number(a.split(":")[0]) - Number(b.split(":")[0]));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a process with this pid exists (a reaped child does not). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Nodes of the given CPU counts, in launch order, started by the local provider. */
class SizedLocalNodes implements NodeProvider {
  private readonly local = new LocalNodeProvider();
  constructor(private readonly sizes: number[]) {}
  launch(head: HeadAddress): LaunchedNode {
    return this.local.launch(head, this.sizes.shift() ?? 1);
  }
  terminate(node: LaunchedNode): void {
    this.local.terminate(node);
  }
}

describe("cluster scale-down, placement by numCpus, and the command node provider", function () {
  this.timeout(180_000);
  let cluster: Cluster | undefined;

  beforeEach(() => { rd.DataContext.reset().progress.intervalMs = 50; });
  afterEach(async () => {
    await cluster?.shutdown();
    cluster = undefined;
    rd.DataContext.reset();
  });

  async function startWith(options: ConstructorParameters<typeof Cluster>[0], launch = 0): Promise<Cluster> {
    cluster = new Cluster(options);
    rd.DataContext.getCurrent().cluster = cluster;
    await cluster.start();
    cluster.launch(launch);
    await waitFor(`${launch} nodes to join`, () => cluster!.counts().alive >= launch && cluster!.counts().pending === 0);
    return cluster;
  }

  it("releases a node idle mid-job and the rest after the job (processes exit), then grows back for the next job", async () => {
    const c = await startWith({ maxNodes: 2, cpusPerNode: 1, idleTimeoutMs: 1000 }, 2);
    const first = c.nodes().map((n) => n.pid);
    // One block sleeps 4 s: the node that ran the other three is idle meanwhile and is let go during the job.
    const snapshots: rd.ProgressSnapshot[] = [];
    const ds = tagged(4000);
    const rows = (await ds.toArrow({ onProgress: (s) => snapshots.push(s) })).toArray().map((r) => r.toJSON() as rd.Row);
    assert.deepEqual(keysOf(rows), expectedKeys());
    assert.deepEqual(new Set(rows.map((r) => r.pid)), new Set(first), "both nodes ran tasks");
    const midJob = snapshots.filter((s) => !s.finished && s.nodes);
    assert.ok(midJob.some((s) => s.nodes!.released === 1 && s.nodes!.alive === 1), `a node left during the job: ${JSON.stringify(midJob.map((s) => s.nodes))}`);
    assert.equal(ds.lastRun()!.progress.operators.reduce((sum, op) => sum + op.tasksRetried, 0), 0, "a released node ran nothing that had to rerun");

    await waitFor("both nodes released", () => c.counts().released === 2 && c.counts().alive === 0 && c.counts().draining === 0);
    await waitFor("both node processes to exit", () => !first.some(running), 10_000);
    assert.deepEqual(c.counts(), { alive: 0, draining: 0, lost: 0, pending: 0, released: 2 });

    // Work queues again: the autoscaler asks for nodes, new processes, the same exact output.
    const again = tagged();
    const second: rd.ProgressSnapshot[] = [];
    const table = await again.toArrow({ onProgress: (s) => second.push(s) });
    const rows2 = table.toArray().map((r) => r.toJSON() as rd.Row);
    assert.deepEqual(keysOf(rows2), expectedKeys());
    const pids2 = new Set(rows2.map((r) => r.pid as number));
    for (const pid of pids2) assert.ok(!first.includes(pid) && pid !== process.pid, `task pid ${pid} is a new node's`);
    const grown = second.find((s) => s.nodes && s.nodes.alive >= 1 && s.nodes.released === 2);
    assert.ok(grown, "the next job's progress shows the nodes it grew back and the two released");
    assert.match(renderProgress(grown).join("\n"), /nodes [12] alive, 0 draining, [01] pending, 2 released/);
  });

  it("keeps minNodes, and never releases a node holding map outputs a running exchange still needs", async () => {
    const c = await startWith({ maxNodes: 2, minNodes: 1, cpusPerNode: 1, idleTimeoutMs: 1000 });
    await waitFor("minNodes launched at start", () => c.counts().alive === 1);
    c.launch(1);
    await waitFor("a second node", () => c.counts().alive === 2);
    const pids = c.nodes().map((n) => n.pid);
    // Two map tasks, one per node; one sleeps 4 s while the other node holds its partitions, idle, for the sort's reduce.
    const ds = tagged(4000).sort("sq", { descending: true });
    const rows = await ds.takeAll();
    assert.deepEqual(rows.map((r) => r.id), Array.from({ length: ROWS }, (_, i) => ROWS - 1 - i));
    assert.equal(new Set(rows.map((r) => r.pid)).size, 2, "map tasks ran on both nodes");
    assert.equal(c.counts().released, 0, "the node holding partitions was kept until the reduce read them");
    assert.equal(ds.lastRun()!.progress.operators.reduce((sum, op) => sum + op.tasksRetried, 0), 0);
    assert.ok(pids.every(running));
    // Once the job is over one node goes, the minimum stays.
    await waitFor("one node released", () => c.counts().released === 1);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual({ ...c.counts(), pending: 0 }, { alive: 1, draining: 0, lost: 0, pending: 0, released: 1 });
    assert.equal(pids.filter(running).length, 1);
  });

  it("places actors on nodes with room for their numCpus, and fails an actor larger than any node naming the numbers", async () => {
    const c = await startWith({ maxNodes: 2, minNodes: 2, cpusPerNode: 2, provider: new SizedLocalNodes([2, 1]) });
    await waitFor("both nodes", () => c.counts().alive === 2);
    const big = c.nodes().find((n) => n.cpus === 2)!;
    const small = c.nodes().find((n) => n.cpus === 1)!;
    const withActor = (numCpus: number) => tagged().mapBatches(
      new Function(`return class Stamp { call(b) { return { ...b, actorPid: new Float64Array(b.id.length).fill(process.pid) }; } }`)() as (...args: never[]) => unknown,
      { concurrency: 2, numCpus, batchSize: 200 },
    );
    const snapshots: rd.ProgressSnapshot[] = [];
    const table = await withActor(2).toArrow({ onProgress: (s) => snapshots.push(s) });
    const rows = table.toArray().map((r) => r.toJSON() as rd.Row);
    assert.deepEqual(keysOf(rows), expectedKeys());
    assert.deepEqual([...new Set(rows.map((r) => r.actorPid))], [big.pid], "every call ran in the 2-CPU node");
    assert.ok(!rows.some((r) => r.actorPid === small.pid));
    const actorRunning = Math.max(...snapshots.map((s) => s.operators.find((op) => op.actors)?.actors?.running ?? 0));
    assert.equal(actorRunning, 1, "the second actor found no node with 2 CPUs free");

    await assert.rejects(withActor(3).takeAll(), /MapBatches\(Stamp\): an actor needs numCpus 3, but the largest node has 2 CPUs \(new nodes get cpusPerNode 2\)/);
  });

  it("CommandNodeProvider: terminate ends the process group of a launcher that outlives its node, and frees the host", async () => {
    const bin = path.join(REPO, "bin", "rdpipe.js");
    // The launcher runs the node, then stays (as a wrapper script or an ssh session might): only terminate ends it.
    const provider = new CommandNodeProvider({ hosts: ["here"], command: ["sh", "-c", `'${process.execPath}' '${bin}' node --head {head} --cpus {cpus}; sleep 600`] });
    const c = await startWith({ maxNodes: 1, cpusPerNode: 1, idleTimeoutMs: 500, provider }, 1);
    const [launcher] = provider.nodes();
    const group = () => execFileSync("ps", ["-o", "pid=", "-g", String(launcher!.pid)], { encoding: "utf8" }).split(/\s+/).filter(Boolean).map(Number);
    assert.notEqual(c.nodes()[0]!.pid, launcher!.pid, "the node is the launcher's child");
    assert.deepEqual(keysOf(await tagged().takeAll()), expectedKeys());
    await waitFor("the node released", () => c.counts().released === 1);
    assert.ok(group().length > 0, "the launcher outlived its node");
    await waitFor("terminate to end the launcher's process group", () => { try { return group().length === 0; } catch { return true; } }, 15_000);
    await waitFor("the host to be free", () => provider.nodes().length === 0, 5000);
    const again = provider.launch({ url: "tcp://127.0.0.1:1", token: "t" }, 1);
    assert.equal(again?.host, "here", "the host takes a node again");
    provider.terminate(again!);
    await again!.exited;
  });

  it("CommandNodeProvider refuses a host that a launcher would read as an option or a shell would run", () => {
    for (const host of ["-oProxyCommand=touch /tmp/pwned", "a;touch /tmp/pwned", "$(id)", "a b", "a`id`", "a|b", ""]) {
      assert.throws(() => new CommandNodeProvider({ hosts: ["ok", host], command: "ssh {host} rdpipe node" }), (e: Error) => e.message.includes(`host '${host}' is not a host name`), host);
    }
    for (const host of ["node-1.example.com", "user@10.0.0.2", "[fd00::2]", "rdpipe_ns0"]) assert.doesNotThrow(() => new CommandNodeProvider({ hosts: [host], command: "ssh {host}" }), host);
  });

  describe("CommandNodeProvider with `ip netns exec` as the launcher", () => {
    let hosts: NetHosts | undefined;
    afterEach(() => { hosts?.remove(); hosts = undefined; });

    it("runs a job on nodes in two namespaces (one node per host), then terminates them when idle", async () => {
      hosts = makeNetHosts(2);
      const [a, b] = hosts.hosts;
      const provider = new CommandNodeProvider({
        hosts: [a!.ns, b!.ns],
        command: ["ip", "netns", "exec", "{host}", process.execPath, path.join(REPO, "bin", "rdpipe.js"), "node", "--head", "{head}", "--cpus", "{cpus}"],
      });
      const c = new Cluster({ maxNodes: 2, cpusPerNode: 1, idleTimeoutMs: 1000, host: hosts.headAddress, provider });
      cluster = c;
      rd.DataContext.getCurrent().cluster = c;
      await c.start();
      c.launch(3); // a third launch finds no free host
      assert.equal(c.counts().pending, 2);
      assert.deepEqual(provider.nodes().map((n) => n.host).sort(), [a!.ns, b!.ns].sort());
      await waitFor("both nodes to join", () => c.counts().alive === 2 && c.counts().pending === 0);

      const pidsIn = (ns: string) => execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split(/\s+/).filter(Boolean).map(Number);
      const byHost = new Map(provider.nodes().map((n) => [n.host, n.pid!]));
      for (const host of [a!, b!]) {
        assert.ok(pidsIn(host.ns).includes(byHost.get(host.ns)!), `the node launched for ${host.ns} runs inside it`);
        const cmdline = fs.readFileSync(`/proc/${byHost.get(host.ns)}/cmdline`, "utf8");
        assert.ok(!cmdline.includes(c.token!), "the token is not on the node's command line");
      }
      assert.deepEqual(new Set(c.nodes().map((n) => n.pid)), new Set(byHost.values()));
      assert.deepEqual(Object.values(c.peers()).map((p) => new URL(p).hostname).sort(), [a!.address, b!.address].sort(), "each node serves partitions on its own address");

      // A sort: map tasks on both hosts, reduce tasks fetching partitions across the bridge.
      const ds = tagged().sort("sq", { descending: true }).map(new Function("r", "return { ...r, reducePid: process.pid };") as (r: rd.Row) => rd.Row);
      const rows = await ds.takeAll();
      assert.deepEqual(rows.map((r) => r.id), Array.from({ length: ROWS }, (_, i) => ROWS - 1 - i));
      assert.deepEqual(new Set(rows.map((r) => r.pid)), new Set(byHost.values()), "map tasks ran in both namespaces");
      for (const pid of new Set(rows.map((r) => r.reducePid as number))) assert.ok([...byHost.values()].includes(pid));

      await waitFor("both nodes released", () => c.counts().released === 2 && c.counts().alive === 0);
      await waitFor("the namespaces to be empty", () => pidsIn(a!.ns).length === 0 && pidsIn(b!.ns).length === 0, 10_000);
      await waitFor("the provider to free both hosts", () => provider.nodes().length === 0, 5000);
    });
  });
});
