// A cluster an execution server heads (`rdpipe serve --cluster-port`): nodes join the server once and
// stay; every running job's runner process is a head of its own (a `Cluster` with a token of its own),
// and the server tells each alive node to open a session with it. Tasks, actors and exchange
// partitions then move between the runner and the nodes directly, never through the server. Fair
// sharing: each node's CPU slots are split evenly between the running jobs (at least one each), and
// the sessions are resized as jobs start and end, so no job starves another.
import { randomBytes } from "node:crypto";
import type net from "node:net";
import { Cluster } from "./nodes";
import type { HeadAddress } from "./providers";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, Link, MAX_FRAME_BYTES, type HeadToNode, type NodeToHead } from "./link";
import { Transport, readTlsFiles, type TlsFiles } from "./transport";

export type MemberState = "alive" | "draining" | "lost";

/** A node joined to the server, and the sessions it holds for jobs (by job id: its CPU slots). */
export interface MemberInfo { id: number; address: string; pid: number; cpus: number; state: MemberState; sessions: { jobId: string; cpus: number }[] }

export interface MembershipOptions {
  /** Where nodes join (and where job runners listen for their sessions). */
  host: string;
  port: number;
  /** What nodes present (required over plain TCP). */
  token?: string;
  /** Mutual TLS on the port (and on every job's head and the nodes' chunk servers). */
  tls?: TlsFiles;
  /** A node silent this long is lost (and each job's head, given the same timeout, reruns its tasks elsewhere). */
  heartbeatTimeoutMs?: number;
  /** How many lost nodes stay listed (the latest ones), so that a long-lived server's list stays bounded. */
  keepLost?: number;
}

const DEFAULT_KEEP_LOST = 20;

/** The largest frame a connection may send before it has presented the token. */
const HELLO_MAX_BYTES = 4096;

class Member {
  state: MemberState = "alive";
  /** By session id. */
  readonly sessions = new Map<number, { jobId: string; cpus: number }>();

  constructor(readonly id: number, readonly pid: number, readonly cpus: number, readonly address: string, readonly link: Link<NodeToHead, HeadToNode>) {}

  /** A draining node with no session left is told to leave. */
  leaveIfIdle(): void {
    if (this.state === "draining" && this.sessions.size === 0) this.link.send({ type: "leave" });
  }
}

/** The nodes joined to a server, and the sessions they hold for its jobs. */
export class Membership {
  private readonly members = new Map<number, Member>();
  /** Lost members' ids, oldest first. */
  private readonly lost: number[] = [];
  /** Running jobs' heads, in the order they started. */
  private readonly jobs = new Map<string, HeadAddress>();
  private readonly transport: Transport;
  private server?: net.Server;
  private nextId = 1;
  private nextSession = 1;

  constructor(readonly options: MembershipOptions) {
    this.transport = new Transport({ token: options.token, tls: options.tls && readTlsFiles(options.tls) });
  }

  /** Listens; resolves to the address nodes join (tcp://host:port or tls://host:port). */
  async start(): Promise<string> {
    const { server, url } = await this.transport.listen(this.options.host, this.options.port, "node", (socket) => this.accept(socket));
    this.server = server;
    return url;
  }

  list(): MemberInfo[] {
    return [...this.members.values()].map((m) => ({
      id: m.id, address: m.address, pid: m.pid, cpus: m.cpus, state: m.state, sessions: [...m.sessions.values()].map((s) => ({ ...s })),
    }));
  }

  /** A job's runner listens for its sessions at `head`: every alive node opens one. */
  addJob(jobId: string, head: HeadAddress): void {
    this.jobs.set(jobId, head);
    this.rebalance();
  }

  removeJob(jobId: string): void {
    if (!this.jobs.delete(jobId)) return;
    this.rebalance();
  }

  close(): void {
    this.server?.close();
    for (const member of this.members.values()) member.link.socket.destroy();
  }

  /** Opens, resizes and ends sessions so that each alive node's slots are split evenly between the running jobs. */
  private rebalance(): void {
    const jobIds = [...this.jobs.keys()];
    for (const member of this.members.values()) {
      if (member.state === "lost") continue;
      for (const [session, { jobId }] of member.sessions) {
        if (this.jobs.has(jobId)) continue;
        member.sessions.delete(session);
        member.link.send({ type: "endSession", session });
      }
      if (member.state !== "alive") { member.leaveIfIdle(); continue; }
      const shares = splitSlots(member.cpus, jobIds.length);
      jobIds.forEach((jobId, i) => {
        const cpus = shares[i];
        const held = [...member.sessions].find(([, s]) => s.jobId === jobId);
        if (held && held[1].cpus !== cpus) {
          held[1].cpus = cpus;
          member.link.send({ type: "resize", session: held[0], cpus });
        } else if (!held) {
          const session = this.nextSession++;
          const { url, token } = this.jobs.get(jobId)!;
          member.sessions.set(session, { jobId, cpus });
          member.link.send({ type: "session", session, head: url, token, cpus });
        }
      });
    }
  }

  private accept(socket: net.Socket): void {
    const link = new Link<NodeToHead, HeadToNode>(socket);
    link.maxFrameBytes = HELLO_MAX_BYTES;
    const address = `${socket.remoteAddress}:${socket.remotePort}`;
    const timeoutMs = this.options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    let member: Member | undefined;
    const lose = (how: string) => {
      if (!member || member.state === "lost") return;
      member.state = "lost";
      member.sessions.clear();
      this.lost.push(member.id);
      for (const forgotten of this.lost.splice(0, Math.max(0, this.lost.length - (this.options.keepLost ?? DEFAULT_KEEP_LOST)))) this.members.delete(forgotten);
      console.error(`rdpipe server: node ${member.id} (pid ${member.pid}) at ${address} was lost: it ${how}`);
    };
    // A silent node is lost like a closed one; told so, it drops its work and joins again as a new node once it is back.
    const silent = () => {
      lose(`sent nothing for ${timeoutMs / 1000} s`);
      link.removeAllListeners("message");
      if (member) link.send({ type: "lost", reason: `the server declared node ${member.id} lost: it sent nothing for ${timeoutMs / 1000} s` });
      socket.end();
      setTimeout(() => socket.destroy(), timeoutMs).unref();
    };
    link.keepAlive(timeoutMs, silent);
    link.on("message", (message: NodeToHead) => {
      if (!member) {
        if (message.type !== "hello" || !this.transport.accepts(message.token)) {
          console.error(`rdpipe server: refused a node from ${address}: wrong token`);
          link.send({ type: "rejected", reason: "wrong token" });
          socket.end();
          return;
        }
        link.maxFrameBytes = MAX_FRAME_BYTES;
        member = new Member(this.nextId++, message.pid, message.cpus, address, link);
        this.members.set(member.id, member);
        link.keepAlive(timeoutMs, silent, message.heartbeatTimeoutMs);
        link.send({ type: "welcome", nodeId: member.id, heartbeatTimeoutMs: timeoutMs });
        console.error(`rdpipe server: node ${member.id} (pid ${member.pid}, ${member.cpus} CPUs) joined from ${address}`);
        this.rebalance();
        return;
      }
      if (message.type === "draining") {
        member.state = "draining";
        this.rebalance();
      } else if (message.type === "sessionEnded") {
        member.sessions.delete(message.session);
        member.leaveIfIdle();
        // The job's head declared the session lost (cut off from it alone): the node joins it again, or the job never gets it back.
        if (message.rejoin) this.rebalance();
      }
    });
    link.on("close", () => {
      link.stopKeepAlive();
      if (!member) return;
      if (member.state === "draining" && member.sessions.size === 0) {
        this.members.delete(member.id); // it drained and left
        return;
      }
      lose("closed its connection");
    });
  }
}

/** `cpus` slots split between `jobs`: evenly, the remainder to the earliest jobs, never below one each. */
export function splitSlots(cpus: number, jobs: number): number[] {
  return Array.from({ length: jobs }, (_, i) => Math.max(1, Math.floor(cpus / jobs) + (i < cpus % jobs ? 1 : 0)));
}

/**
 * A job's head (its runner's `Cluster`) for the sessions a server opens: it launches no node, and has a
 * token of its own even over TLS, so that a node holding the cluster's certificate joins only the jobs
 * the server sent it to (and in the share the server gave it).
 */
export function jobHead(options: Pick<MembershipOptions, "host" | "tls" | "heartbeatTimeoutMs">): Cluster {
  return new Cluster({ maxNodes: 0, cpusPerNode: 1, ...options, token: randomBytes(16).toString("hex") });
}
