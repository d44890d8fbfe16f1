// The cluster's nodes as the head drives them: a node's link and the worker threads it hosts, and the
// pool of task workers over all nodes (one per CPU slot of a node). ./nodes accepts, loses and releases nodes.
import { EventEmitter } from "node:events";
import { type HostedWorker, TaskHost, type WorkerChannel } from "./host";
import type { HeadToNode, Link, NodeToHead } from "./link";
import type { DriverMessage } from "./protocol";
import type { LaunchedNode } from "./providers";

let nextWorkerId = 1;

export class RemoteNode {
  readonly workers = new Map<number, RemoteWorker>();
  state: "alive" | "draining" = "alive";

  /** Answers to "release" the node still owes, by job folder. */
  readonly releasing = new Map<string, () => void>();
  /** The provider's launch this node came from (none for a node started by hand). */
  launched?: LaunchedNode;
  /** Set when the cluster let it go for being idle: it leaves, and is not lost. */
  idleReleased = false;

  /** `cpus` changes when a server resizes this job's share of a shared node; `member` is the server's id for it. */
  constructor(
    readonly id: number, readonly pid: number, public cpus: number, readonly chunks: string, readonly link: Link<NodeToHead, HeadToNode>, readonly member?: number,
  ) {}

  /** CPUs its actors hold. */
  get actorCpus(): number {
    let cpus = 0;
    for (const worker of this.workers.values()) cpus += worker.actorCpus;
    return cpus;
  }

  /** actorCpus: 0 for a task worker, the actor's numCpus for an actor's. */
  spawnWorker(actorCpus = 0): RemoteWorker {
    const worker = new RemoteWorker(this, nextWorkerId++, actorCpus);
    this.workers.set(worker.id, worker);
    this.link.send({ type: "spawn", workerId: worker.id });
    return worker;
  }

  /** A worker ended (terminated by its host, or exited): a draining node with none left leaves. */
  forget(workerId: number): void {
    this.workers.delete(workerId);
    if (this.state === "draining" && this.workers.size === 0) this.link.send({ type: "leave" });
  }

  drain(): void {
    this.state = "draining";
    if (this.workers.size === 0) this.link.send({ type: "leave" });
    for (const worker of [...this.workers.values()]) worker.emit("draining");
  }
}

/** A worker thread on a node, driven through the node's link. */
export class RemoteWorker extends EventEmitter implements WorkerChannel {
  nodeLost = false;

  constructor(readonly node: RemoteNode, readonly id: number, readonly actorCpus: number) {
    super();
  }

  get draining(): boolean { return this.node.state === "draining"; }

  postMessage(message: DriverMessage): void {
    this.node.link.send({ type: "post", workerId: this.id, message });
  }

  terminate(): void {
    if (!this.node.workers.has(this.id)) return;
    this.node.link.send({ type: "terminate", workerId: this.id });
    this.node.forget(this.id);
  }

  // The link's socket does not keep the head alive; a running execution does.
  ref(): void { /* nothing to hold */ }
  unref(): void { /* nothing to hold */ }
}

/**
 * Task workers on the cluster's nodes: one per node CPU, replaced on their node when one dies. Emits
 * "nodeLost" (node id) once a node's tasks have failed as lost, so exchanges can recompute what it held.
 */
export class ClusterPool extends TaskHost {
  addNode(node: RemoteNode): void {
    for (let i = 0; i < node.cpus; i++) this.addWorker(node);
    this.emit("idle");
  }

  /** The node's CPU slots changed: workers are added, or idle ones retired (busy ones once their task ends). */
  resize(node: RemoteNode): void {
    const count = this.workers.filter((w) => (w.channel as RemoteWorker).node === node).length;
    for (let i = count; i < node.cpus; i++) this.addWorker(node);
    this.trim();
    this.emit("idle");
  }

  tasksOn(node: RemoteNode): number {
    return this.workers.filter((w) => (w.channel as RemoteWorker).node === node && w.running.size > 0).length;
  }

  get idleCount(): number {
    this.trim();
    return this.workers.filter((w) => w.running.size === 0 && !w.channel.draining).length;
  }

  /** Retires idle workers beyond their node's slots. */
  private trim(): void {
    const count = new Map<RemoteNode, number>();
    for (const w of this.workers) { const { node } = w.channel as RemoteWorker; count.set(node, (count.get(node) ?? 0) + 1); }
    for (const w of [...this.workers]) {
      const { node } = w.channel as RemoteWorker;
      if (w.running.size > 0 || count.get(node)! <= node.cpus) continue;
      count.set(node, count.get(node)! - 1);
      this.retire(w);
    }
  }

  /** The idle worker idle longest: tasks spread over the nodes (and so do the partitions they hold) even when few run at once. */
  protected override pick(): HostedWorker | undefined {
    this.trim();
    let best: HostedWorker | undefined;
    for (const w of this.workers) {
      if (w.running.size === 0 && !w.channel.draining && (!best || w.lastActiveAt < best.lastActiveAt)) best = w;
    }
    return best;
  }

  protected override onLost(worker: HostedWorker): void {
    this.retire(worker);
    const { node } = worker.channel as RemoteWorker;
    if (!(worker.channel as RemoteWorker).nodeLost && node.state === "alive") this.addWorker(node);
  }

  private addWorker(node: RemoteNode): void {
    const worker: HostedWorker = { channel: node.spawnWorker(), running: new Map(), lastActiveAt: Date.now() };
    this.listen(worker);
    this.workers.push(worker);
  }
}
