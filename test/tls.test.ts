// Mutual TLS off loopback, with certificates made here by the openssl CLI: a cluster CA, a head
// certificate for 127.0.0.1, two node certificates and one from another CA. Nodes join over TLS and
// fetch exchange partitions from each other over TLS; a node whose certificate does not chain to the CA
// and a plaintext client are refused at the handshake, logged with their address and never counted;
// `rdpipe serve --tls-*` answers HTTPS only to clients trusting the CA (NODE_EXTRA_CA_CERTS for the CLI,
// the extension's rdpipe.server.caFile fetch).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import * as rd from "../server/src/api";
import { Cluster, LocalNodeProvider, jobHead, type NodeProvider, type TlsFiles } from "../server/src/cluster";
import { RemoteClient, RemoteError } from "../server/src/contract";
import { compilePipeline } from "../server/src/loader";
import { fetchTrusting } from "../extension/src/server-fetch";
import { REPO, assertExactlyOnce, outputIds, runCli, tempDir, writePipeline } from "./helpers";
import { collectEvents, startServer, type ServerProcess } from "./server-helpers";
import { makeCa, makeCert, tlsArgs } from "./certs";

/** Runs `rdpipe node` to its end: its exit code and stderr. */
function runNode(head: string, files: TlsFiles, token = ""): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(REPO, "bin", "rdpipe.js"), "node", "--head", head, "--cpus", "1", ...tlsArgs(files)], {
    stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RDPIPE_TOKEN: token },
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

/** What this process writes to stderr while `during` runs (the head's log: the cluster runs here). */
async function stderrOf(during: () => Promise<void>): Promise<string> {
  let text = "";
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => { text += String(chunk); return write(chunk, ...rest); }) as typeof process.stderr.write;
  try {
    await during();
  } finally {
    process.stderr.write = write;
  }
  return text;
}

const ROWS = 40_000;

/** A sort whose map tasks spread over the nodes, so reduce tasks fetch partitions from the other node. */
function sortOnNodes(): rd.Dataset {
  const slowly = (r: rd.Row) => {
    const id = r.id as number;
    if (id % 500 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    return { id, v: (id * 7919) % 4001, pid: process.pid };
  };
  return rd.range(ROWS, { overrideNumBlocks: 8 }).map(slowly).sort(["v", "id"]);
}

describe("mutual TLS off loopback", function () {
  this.timeout(240_000);
  let dir: string;
  let head: TlsFiles;
  let nodes: TlsFiles[];
  let stranger: TlsFiles;

  before(() => {
    dir = tempDir("rdpipe-tls-");
    makeCa(dir, "ca");
    makeCa(dir, "other-ca");
    head = makeCert(dir, "head", "ca", "ca", "127.0.0.1");
    nodes = [makeCert(dir, "node1", "ca", "ca"), makeCert(dir, "node2", "ca", "ca")];
    stranger = makeCert(dir, "stranger", "other-ca", "ca");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("the node link and peer fetches", () => {
    let cluster: Cluster | undefined;
    let spill: string;

    beforeEach(() => {
      const context = rd.DataContext.reset();
      context.resourceLimits.memoryBytes = 8 * 2 ** 20;
      spill = tempDir("rdpipe-tls-spill-");
      context.spillDir = spill;
      // Each node its own certificate: the provider hands node1's and node2's files in turn.
      const providers = nodes.map((files) => new LocalNodeProvider({ tls: files }));
      let launched = 0;
      const provider: NodeProvider = {
        launch: (address, cpus) => providers[launched++ % providers.length].launch(address, cpus),
        terminate: (node) => providers[0].terminate(node),
      };
      cluster = new Cluster({ maxNodes: 2, cpusPerNode: 1, tls: head, provider });
      context.cluster = cluster;
    });
    afterEach(async () => {
      await cluster?.shutdown();
      cluster = undefined;
      rd.DataContext.reset();
      fs.rmSync(spill, { recursive: true, force: true });
    });

    it("a sort on two TLS nodes gives every row in order, its partitions fetched node to node over TLS", async () => {
      const address = await cluster!.start();
      assert.match(address.url, /^tls:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(address.token, undefined, "over TLS the certificates authenticate; no token unless one is given");
      cluster!.launch(2);
      while (cluster!.nodes().length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      const peers = Object.values(cluster!.peers());
      assert.equal(peers.length, 2);
      for (const peer of peers) assert.match(peer, /^tls:\/\//, "a node's chunk server speaks TLS");

      let last: rd.ProgressSnapshot | undefined;
      const dataset = sortOnNodes();
      const table = await dataset.toArrow({ onProgress: (s) => { last = s; } });
      const ids = Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number);
      const expected = Array.from({ length: ROWS }, (_, id) => ({ id, v: (id * 7919) % 4001 })).sort((a, b) => a.v - b.v || a.id - b.id).map((r) => r.id);
      assert.deepEqual(ids, expected);
      const nodePids = new Set(cluster!.nodes().map((n) => n.pid));
      const taskPids = new Set(Array.from(table.getChild("pid")!.toArray() as ArrayLike<number>, Number));
      assert.deepEqual([...taskPids].sort(), [...nodePids].sort(), "map tasks ran in both node processes");
      assert.ok(!taskPids.has(process.pid));
      const sort = last!.operators.find((op) => op.name.startsWith("Sort("))!;
      assert.ok((sort.bytesMoved ?? 0) > 0, `reduce tasks fetched ${sort.bytesMoved} bytes from the other node (over its TLS chunk server)`);
      assert.equal(dataset.lastRun()!.exchangeBytesViaDriver, 0);
    });

    it("refuses a node from another CA, a node not trusting the head, and a plaintext client; never counts them; keeps serving", async () => {
      const address = await cluster!.start();
      const port = Number(new URL(address.url).port);
      let counted = 0;
      const watch = setInterval(() => { counted = Math.max(counted, cluster!.counts().alive + cluster!.counts().draining); }, 5);
      let foreign!: { code: number | null; stderr: string };
      let untrusting!: { code: number | null; stderr: string };
      let plainPort = 0;
      let plainClosed = false;
      const log = await stderrOf(async () => {
        foreign = await runNode(address.url, stranger);
        untrusting = await runNode(address.url, { ...nodes[0], caFile: path.join(dir, "other-ca.pem") });
        const plain = net.connect(port, "127.0.0.1");
        await new Promise((resolve) => plain.once("connect", resolve));
        plainPort = plain.localPort!;
        plain.write(Buffer.from([0, 0, 0, 40, 1, 2, 3, 4]));
        plain.on("error", () => undefined);
        await new Promise((resolve) => plain.once("close", resolve));
        plainClosed = true;
      });
      clearInterval(watch);
      assert.notEqual(foreign.code, 0);
      assert.match(foreign.stderr, /rdpipe node: could not join the head: TLS handshake with tls:\/\/127\.0\.0\.1:\d+: .*certificate/);
      assert.notEqual(untrusting.code, 0);
      assert.match(untrusting.stderr, /TLS handshake with tls:\/\/127\.0\.0\.1:\d+: self-signed certificate in certificate chain/);
      assert.match(log, /refused a node connection from 127\.0\.0\.1:\d+: TLS handshake failed: its certificate does not chain to the cluster CA/);
      assert.ok(plainClosed);
      assert.ok(log.includes(`refused a node connection from 127.0.0.1:${plainPort}: TLS handshake failed: wrong version number`), log);
      assert.equal(counted, 0, "no refused client was ever counted as a node");

      // The head is undisturbed: a node with the cluster's certificate joins and runs a job.
      cluster!.launch(1);
      const rows = (await rd.range(1000, { overrideNumBlocks: 4 }).map((r) => ({ id: r.id, pid: process.pid })).toArrow()).toArray();
      assertExactlyOnce(rows.map((r) => Number(r.id)), Array.from({ length: 1000 }, (_, i) => i));
      assert.deepEqual([...new Set(rows.map((r) => Number(r.pid)))].sort(), cluster!.nodes().map((n) => n.pid).sort());
    });
  });

  describe("rdpipe serve --tls-*", () => {
    let server: ServerProcess;
    let root: string;
    let file: string;
    const token = "tls-test-token";

    before(async () => {
      root = tempDir("rdpipe-tls-serve-");
      file = writePipeline(root, "ids.rdpipe.ts", `
        import * as rd from "rdpipe";
        export default rd.range(5000, { overrideNumBlocks: 4 }).map((r) => ({ id: r.id })).writeParquet(${JSON.stringify(path.join(root, "out"))});`);
      server = await startServer(["--token", token, "--root", root, "--state-dir", path.join(root, "state"), ...tlsArgs(head)]);
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    });
    after(async () => {
      await server?.stop();
      fs.rmSync(root, { recursive: true, force: true });
    });

    it("answers HTTPS to a client trusting the CA and refuses one that does not", async () => {
      const trusting = new RemoteClient(server.url, token, fetchTrusting([fs.readFileSync(head.caFile, "utf8")]));
      assert.equal((await trusting.request("GET", "/health", "health")).type, "health");
      const bundle = compilePipeline(file);
      const { job } = await trusting.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "bundle", ...bundle }, options: {} });
      const events = await collectEvents(trusting, job.id);
      const final = events.at(-1)!;
      assert.equal(final.type === "finished" || final.type === "state" ? final.job.state : final.type, "succeeded");
      assertExactlyOnce(await outputIds(path.join(root, "out")), Array.from({ length: 5000 }, (_, i) => i));
      fs.rmSync(path.join(root, "out"), { recursive: true, force: true });

      const untrusting = new RemoteClient(server.url, token);
      const refused = await untrusting.request("GET", "/health", "health").then(() => undefined, (e: Error) => e);
      assert.ok(refused instanceof RemoteError, "a client without the CA is refused");
      assert.match(refused.message, /cannot reach the rdpipe server at https:.*does not chain to a CA this process trusts: point NODE_EXTRA_CA_CERTS/);
      // A client that does not speak TLS gets nothing from the HTTPS port either.
      const plain = await fetch(server.url.replace("https:", "http:") + "/health").then(() => "answered", (e: Error) => (e.cause as Error)?.message ?? e.message);
      assert.notEqual(plain, "answered");
    });

    it("rdpipe run --server https://… works with NODE_EXTRA_CA_CERTS pointing at the CA, and fails saying so without it", () => {
      const env = { NODE_EXTRA_CA_CERTS: "", RDPIPE_TOKEN: "" };
      const ok = runCli(["run", file, "--server", server.url, "--token", token, "--quiet"], { env: { ...env, NODE_EXTRA_CA_CERTS: head.caFile } });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /Wrote 5,000 rows/);
      const failed = runCli(["run", file, "--server", server.url, "--token", token, "--quiet"], { env });
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /rdpipe: cannot reach the rdpipe server at https:\/\/127\.0\.0\.1:\d+: unable to verify the first certificate \(the server's certificate does not chain to a CA this process trusts: point NODE_EXTRA_CA_CERTS/);
    });
  });

  it("a server job's head over TLS has a token of its own: a node with a good certificate but no token, or another job's, is refused", async () => {
    const jobs = [jobHead({ host: "127.0.0.1", tls: head }), jobHead({ host: "127.0.0.1", tls: head })];
    try {
      const [one, other] = await Promise.all(jobs.map((job) => job.start()));
      assert.ok(one.token && other.token && one.token !== other.token, "each job's head has its own token");
      for (const token of ["", other.token!]) {
        const refused = await runNode(one.url, nodes[0], token);
        assert.equal(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, /the head refused this node: wrong token/);
      }
      assert.equal(jobs[0].counts().alive, 0);
    } finally {
      await Promise.all(jobs.map((job) => job.shutdown()));
    }
  });

  it("the head's certificate names 127.0.0.1, which the node link checks (a name that does not match is refused)", async () => {
    const material = { cert: fs.readFileSync(head.certFile, "utf8"), key: fs.readFileSync(head.keyFile, "utf8"), ca: fs.readFileSync(head.caFile, "utf8") };
    const server = tls.createServer({ ...material }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
    const { port } = server.address() as net.AddressInfo;
    // On 127.0.0.2 the chain is good but the certificate does not name the address: a node refuses the head.
    const wrongName = await runNode(`tls://127.0.0.2:${port}`, nodes[0]);
    server.close();
    assert.notEqual(wrongName.code, 0);
    assert.match(wrongName.stderr, /TLS handshake with tls:\/\/127\.0\.0\.2:\d+: .*(IP: 127\.0\.0\.2 is not in the cert's list|ERR_TLS_CERT_ALTNAME_INVALID)/);
  });
});
