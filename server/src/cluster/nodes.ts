// The head side of a cluster: nodes (OS processes hosting worker threads) join over TCP or mutual TLS
// (./transport); tasks run on their workers (./pool); a node provider starts nodes when the cluster autoscaler asks. A node that is lost
// fails its workers' tasks as lost (the executor reruns them); a draining node takes no new work and
// is told to leave once its workers are idle. A node silent for the heartbeat timeout is lost the same way
// as one whose socket closed; if it comes back, it is told so and its old link is ignored.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import type net from "node:net";
import { nodeSpillFolder } from "./chunks";
import type { WorkerChannel } from "./host";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, Link, MAX_FRAME_BYTES, type HeadToNode, type NodeToHead } from "./link";
import { ClusterPool, RemoteNode } from "./pool";
import { LocalNodeProvider, type HeadAddress, type LaunchedNode, type NodeProvider } from "./providers";
import { IdleNodes, checkIntervalMs, placeActor } from "./scale";
import { readTlsFiles, Transport, type TlsFiles } from "./transport";

export interface NodeInfo { id: number; pid: number; cpus: number; state: "alive" | "draining" }

/** lost: nodes this cluster has declared lost (socket closed, or silent past the heartbeat timeout); released: nodes it let go after they were idle for idleTimeoutMs (ever, not only this job's). */
export interface NodeCounts { alive: number; draining: number; lost: number; pending: number; released: number }

/** A node as a job's progress shows it: `id` is the server's id for a node a server shares between jobs. */
export interface NodeProgress { id: number; pid: number; state: "alive" | "draining" | "lost"; cpus: number; tasksRunning: number }

/** The largest frame a connection may send before it has presented the token. */
const HELLO_MAX_BYTES = 4096;

/** How long a released node has to leave by itself before its provider terminates it. */
const RELEASE_GRACE_MS = 5000;

export interface ClusterOptions {
  /** The most nodes the cluster autoscaler asks the provider for. */
  maxNodes: number;
  cpusPerNode: number;
  /** Default: LocalNodeProvider (child processes). */
  provider?: NodeProvider;
  /** Where the head listens for nodes (default 127.0.0.1, a free port); beyond loopback, use `tls` or keep the token secret. */
  host?: string;
  port?: number;
  /** Default: random over plain TCP; none over TLS (the certificates authenticate nodes). */
  token?: string;
  /** Mutual TLS on the node port and between nodes: the head's certificate and key, and the CA nodes' certificates must chain to. */
  tls?: TlsFiles;
  /** Nodes kept even when idle (launched when the cluster starts); default 0. */
  minNodes?: number;
  /** A node idle this long is released (drained, then terminated by its provider); default 30 s. */
  idleTimeoutMs?: number;
  /** A node that sends nothing for this long is lost (default 10 s); nodes leave a head silent for as long. */
  heartbeatTimeoutMs?: number;
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** How long an abandoned link to a lost node stays open to carry the "lost" message once the network is back. */
const ABANDONED_LINK_MS = 60_000;

/** A head and its nodes. Jobs run on whatever nodes have joined; the executor asks for more while work is queued. */
export class Cluster {
  readonly pool = new ClusterPool();
  /** What nodes present in their hello (undefined: over TLS without a token). */
  readonly token?: string;
  private readonly transport: Transport;
  private readonly provider: NodeProvider;
  private readonly nodeById = new Map<number, RemoteNode>();
  private readonly launching = new Set<LaunchedNode>();
  private readonly launchedById = new Map<string, LaunchedNode>();
  private nextLaunch = 1;
  private readonly idle: IdleNodes;
  private scaleTimer?: NodeJS.Timeout;
  /** While jobs run: the nodes holding exchange partitions they still need. */
  private readonly holders = new Set<() => Iterable<number>>();
  private released = 0;
  private server?: net.Server;
  private listening?: Promise<HeadAddress>;
  private head?: HeadAddress;
  private shutDown = false;
  private nextNodeId = 1;
  /** Nodes lost (socket closed, or silent): their spill folders are removed here when a job ends, for a node on this machine; progress lists them. */
  private readonly lost: RemoteNode[] = [];

  constructor(readonly options: ClusterOptions) {
    this.provider = options.provider ?? new LocalNodeProvider();
    this.token = options.token ?? (options.tls ? undefined : randomBytes(16).toString("hex"));
    this.transport = new Transport({ token: this.token, tls: options.tls && readTlsFiles(options.tls) });
    const minNodes = options.minNodes ?? 0;
    if (minNodes > options.maxNodes) throw new Error(`ClusterOptions: minNodes (${minNodes}) is more than maxNodes (${options.maxNodes})`);
    this.idle = new IdleNodes(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, minNodes);
  }

  /** Starts listening for nodes (once); resolves to the address nodes join. */
  start(): Promise<HeadAddress> {
    if (this.shutDown) return Promise.reject(new Error("the cluster was shut down; set DataContext.cluster to a new Cluster"));
    this.listening ??= this.transport.listen(this.options.host ?? "127.0.0.1", this.options.port ?? 0, "node", (socket) => this.accept(socket)).then(({ server, url }) => {
      server.unref();
      this.server = server;
      this.head = { url, token: this.token, tls: this.options.tls };
      this.scaleTimer = setInterval(() => this.scale(), checkIntervalMs(this.idle.idleTimeoutMs));
      this.scaleTimer.unref();
      this.scale();
      return this.head;
    });
    return this.listening;
  }

  nodes(): NodeInfo[] {
    return [...this.nodeById.values()].map((n) => ({ id: n.id, pid: n.pid, cpus: n.cpus, state: n.state }));
  }

  counts(): NodeCounts {
    let alive = 0;
    let draining = 0;
    for (const node of this.nodeById.values()) node.state === "alive" ? alive++ : draining++;
    return { alive, draining, lost: this.lost.length, pending: this.launching.size, released: this.released };
  }

  /** Every node that joined, lost ones too, with its slots and the tasks running there. */
  nodeProgress(): NodeProgress[] {
    const entry = (node: RemoteNode, state: NodeProgress["state"], tasksRunning: number): NodeProgress =>
      ({ id: node.member ?? node.id, pid: node.pid, state, cpus: node.cpus, tasksRunning });
    return [
      ...[...this.nodeById.values()].map((node) => entry(node, node.state, this.pool.tasksOn(node))),
      ...this.lost.map((node) => entry(node, "lost", 0)),
    ];
  }

  /** CPUs on nodes that take work. */
  cpus(): number {
    let cpus = 0;
    for (const node of this.nodeById.values()) if (node.state === "alive") cpus += node.cpus;
    return cpus;
  }

  /** Where each node serves the exchange partitions it holds (host:port), by node id. */
  peers(): Record<number, string> {
    const peers: Record<number, string> = {};
    for (const node of this.nodeById.values()) peers[node.id] = node.chunks;
    return peers;
  }

  /**
   * A job ended: every node drops the partitions it held for it (its spill folder and memory), and
   * the folders of lost nodes go where they are visible from here. Waits for the nodes, at most `timeoutMs`.
   */
  async release(jobFolder: string, timeoutMs = 10_000): Promise<void> {
    const answers = [...this.nodeById.values()].map((node) => new Promise<void>((resolve) => {
      node.releasing.set(jobFolder, resolve);
      node.link.send({ type: "release", folder: jobFolder });
    }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(answers), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
    clearTimeout(timer);
    for (const { id } of this.lost) fs.rmSync(nodeSpillFolder(jobFolder, id), { recursive: true, force: true });
  }

  /** Asks the provider for `count` more nodes (the caller keeps within maxNodes); after start(). */
  launch(count: number): void {
    const head = this.head;
    if (!head) throw new Error("Cluster.launch called before start()");
    for (let i = 0; i < count; i++) {
      const id = String(this.nextLaunch++);
      const launched = this.provider.launch({ ...head, launch: id }, this.options.cpusPerNode);
      if (!launched) return;
      this.launching.add(launched);
      this.launchedById.set(id, launched);
      void launched.exited.then(() => {
        this.launching.delete(launched);
        this.launchedById.delete(id);
      });
    }
  }

  /**
   * A worker for an actor of `numCpus`, on the alive node whose actors leave the most CPUs free, if
   * that is numCpus; undefined when none has room (the actor waits for one). A pool with no actor
   * (`first`) that no node can ever make room for now (the cluster is at maxNodes, all joined) gets
   * one anyway, on that node, so its stage still moves, as a pool gets its first actors on one machine.
   */
  spawnActorWorker(numCpus = 1, first = false): WorkerChannel | undefined {
    const node = placeActor([...this.nodeById.values()].filter((n) => n.state === "alive"), numCpus, first && this.launching.size === 0 && this.counts().alive >= this.options.maxNodes);
    return node?.spawnWorker(numCpus);
  }

  /** The CPUs of the largest node there is or the provider launches: an actor needing more never runs. */
  largestNodeCpus(): number {
    let cpus = this.options.maxNodes > 0 ? this.options.cpusPerNode : 0;
    for (const node of this.nodeById.values()) cpus = Math.max(cpus, node.cpus);
    return cpus;
  }

  /** A running job's nodes holding exchange partitions it still needs: they are not idle. Returns the undo. */
  holdNodes(holder: () => Iterable<number>): () => void {
    this.holders.add(holder);
    return () => this.holders.delete(holder);
  }

  /** Ends every node and stops listening. */
  async shutdown(): Promise<void> {
    this.shutDown = true;
    clearInterval(this.scaleTimer);
    for (const node of this.nodeById.values()) node.link.send({ type: "leave" });
    const launched = [...this.launchedById.values()];
    for (const node of launched) node.kill("SIGKILL");
    // Node processes are unref'd: hold the event loop until their exits are seen (a launch with no process here may never end).
    const keepAlive = setInterval(() => undefined, 1000);
    await Promise.all(launched.filter((n) => n.pid !== undefined).map((n) => n.exited)).finally(() => clearInterval(keepAlive));
    this.server?.close();
  }

  /** Releases nodes idle for idleTimeoutMs (down to minNodes) and launches nodes up to minNodes; on a timer once started. */
  private scale(): void {
    if (this.shutDown) return;
    const held = new Set<number>();
    for (const holder of this.holders) for (const id of holder()) held.add(id);
    const alive = [...this.nodeById.values()].filter((n) => n.state === "alive");
    const seen = alive.map((n) => ({ id: n.id, busy: held.has(n.id) || n.actorCpus > 0 || this.pool.tasksOn(n) > 0, releasable: n.launched !== undefined }));
    for (const id of this.idle.toRelease(seen, Date.now())) this.releaseIdle(this.nodeById.get(id)!);
    const { alive: up, pending } = this.counts();
    if (up + pending < this.idle.minNodes) this.launch(this.idle.minNodes - up - pending);
  }

  /** Drains the node (it leaves once its workers are ended), then has its provider terminate it. */
  private releaseIdle(node: RemoteNode): void {
    const launched = node.launched!;
    node.idleReleased = true;
    node.drain();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((resolve) => { timer = setTimeout(resolve, RELEASE_GRACE_MS); timer.unref(); });
    void Promise.race([launched.exited, grace]).then(() => {
      clearTimeout(timer);
      this.provider.terminate(launched);
    });
  }

  private get heartbeatTimeoutMs(): number {
    return this.options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  }

  private accept(socket: net.Socket): void {
    socket.unref();
    const link = new Link<NodeToHead, HeadToNode>(socket);
    link.maxFrameBytes = HELLO_MAX_BYTES;
    let node: RemoteNode | undefined;
    const silent = () => {
      if (node) this.lose(node, `sent nothing for ${this.heartbeatTimeoutMs / 1000} s`);
      else socket.destroy();
    };
    link.keepAlive(this.heartbeatTimeoutMs, silent);
    link.on("message", (message: NodeToHead) => {
      if (!node) {
        if (message.type !== "hello" || !this.transport.accepts(message.token)) {
          link.send({ type: "rejected", reason: "wrong token" });
          socket.end();
          return;
        }
        link.maxFrameBytes = MAX_FRAME_BYTES;
        node = new RemoteNode(this.nextNodeId++, message.pid, message.cpus, message.chunks, link, message.member);
        this.nodeById.set(node.id, node);
        node.launched = message.launch === undefined ? undefined : this.launchedById.get(message.launch);
        if (node.launched) this.launching.delete(node.launched);
        link.keepAlive(this.heartbeatTimeoutMs, silent, message.heartbeatTimeoutMs);
        link.send({ type: "welcome", nodeId: node.id, heartbeatTimeoutMs: this.heartbeatTimeoutMs });
        this.pool.addNode(node);
        return;
      }
      const worker = "workerId" in message ? node.workers.get(message.workerId) : undefined;
      switch (message.type) {
        case "worker": worker?.emit("message", message.message); break;
        case "workerExit": node.forget(message.workerId); worker?.emit("exit", message.code); break;
        case "workerError": worker?.emit("error", new Error(message.message)); break;
        case "draining": node.drain(); break;
        case "slots": node.cpus = message.cpus; this.pool.resize(node); break;
        case "released": node.releasing.get(message.folder)?.(); node.releasing.delete(message.folder); break;
      }
    });
    link.on("close", () => { if (node) this.lose(node, "closed its connection"); });
  }

  /**
   * The node is gone (its socket closed, or it was silent): its workers' tasks fail as lost, and its id is
   * never used again. Its link is abandoned: nothing arriving on it is read any more, and it carries a
   * "lost" message, so that a node cut off by the network drops its old work and joins again once it is back.
   */
  private lose(node: RemoteNode, how: string): void {
    if (this.nodeById.get(node.id) !== node) return;
    this.nodeById.delete(node.id);
    const { link } = node;
    link.removeAllListeners("message");
    link.stopKeepAlive();
    const lost = new Error(`its node ${node.id} (pid ${node.pid}) was lost: it ${how}`);
    for (const worker of [...node.workers.values()]) {
      worker.nodeLost = true;
      node.workers.delete(worker.id);
      worker.emit("error", lost);
    }
    for (const done of node.releasing.values()) done();
    // A node released for being idle held nothing a running job needs; were it otherwise, the exchanges make it again.
    if (node.idleReleased) this.released++;
    else this.lost.push(node);
    this.pool.emit("nodeLost", node.id);
    this.pool.emit("idle");
    if (link.socket.destroyed) return;
    link.send({ type: "lost", reason: `the head declared node ${node.id} lost: it ${how}` });
    link.socket.end();
    setTimeout(() => link.socket.destroy(), ABANDONED_LINK_MS).unref();
  }
}
