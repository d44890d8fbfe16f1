// The head ↔ node link: messages framed on a stream socket (TCP, loopback or not) as a 4-byte length
// and a v8-serialized value, so typed arrays and bigints cross as they do between threads. An empty frame
// is a heartbeat (see `keepAlive`): it carries nothing and is never emitted.
import { timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import type net from "node:net";
import v8 from "node:v8";
import type { DriverMessage, WorkerMessage } from "./protocol";

export type NodeToHead =
  /**
   * chunks: host:port of the node's chunk server (see ./chunks), where peers fetch the partitions it holds;
   * member: on a session a server opened, the node's id in the server's cluster (what progress shows);
   * launch: the provider's launch that started it (see HeadAddress), if one did.
   */
  | { type: "hello"; token: string; cpus: number; pid: number; chunks: string; member?: number; launch?: string; heartbeatTimeoutMs?: number }
  | { type: "worker"; workerId: number; message: WorkerMessage }
  | { type: "workerExit"; workerId: number; code: number }
  | { type: "workerError"; workerId: number; message: string }
  /** The node got a preemption notice (SIGTERM): schedule nothing more there, let it finish, then tell it to leave. */
  | { type: "draining" }
  /** Answers "release": the job's partitions held here are gone. */
  | { type: "released"; folder: string }
  /** On a session: the server changed this job's share of the node's CPU slots. */
  | { type: "slots"; cpus: number }
  /** To the server: a session ended (its job's head went away, or told it to leave; `rejoin`: it declared this node lost, and a new session may join it). */
  | { type: "sessionEnded"; session: number; rejoin?: boolean };

export type HeadToNode =
  /** heartbeatTimeoutMs: how long the head waits for a silent node (the node's own default). */
  | { type: "welcome"; nodeId: number; heartbeatTimeoutMs: number }
  | { type: "rejected"; reason: string }
  | { type: "spawn"; workerId: number }
  | { type: "post"; workerId: number; message: DriverMessage }
  | { type: "terminate"; workerId: number }
  | { type: "leave" }
  /** The head declared this node lost (it was silent): nothing more of its old work is accepted; it drops that work and joins again as a new node. */
  | { type: "lost"; reason: string }
  /** A job ended: drop the partitions held for it (its head-side spill folder names it). */
  | { type: "release"; folder: string }
  /** From a server (see ./membership): join the job's head at `head` with its token, offering `cpus` slots. */
  | { type: "session"; session: number; head: string; token?: string; cpus: number }
  | { type: "resize"; session: number; cpus: number }
  | { type: "endSession"; session: number };

/** Whether a presented token is the cluster's, in constant time. */
export function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** How long head and node wait for a silent peer unless told otherwise (--heartbeat-timeout). */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;

/** What a 4-byte length can say. */
export const MAX_FRAME_BYTES = 2 ** 32 - 1;

const HEARTBEAT = Buffer.alloc(4);

/** Heartbeats go this many times per timeout, so a few may be late before the peer counts it silent. */
const BEATS_PER_TIMEOUT = 4;

/** Emits "message" per frame and "close" once. */
export class Link<In, Out> extends EventEmitter {
  /** Bytes received and not yet framed, as they came (joined only once a whole frame is in: a frame of many packets is copied once). */
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private heardAt = Date.now();
  private beats?: NodeJS.Timeout;
  /** A longer frame, or one that does not decode, ends the link (the head keeps this small until a node has shown its token). */
  maxFrameBytes = MAX_FRAME_BYTES;

  constructor(readonly socket: net.Socket) {
    super();
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.receive(chunk));
    socket.on("close", () => { clearInterval(this.beats); this.emit("close"); });
    socket.on("error", () => socket.destroy()); // "close" follows
  }

  send(message: Out): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    const body = v8.serialize(message);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    this.socket.cork();
    this.socket.write(header);
    this.socket.write(body);
    this.socket.uncork();
  }

  /**
   * Sends a heartbeat every `timeoutMs / 4` (of the shorter timeout, when the peer's is known) and calls
   * `onSilent` once when nothing at all has arrived for `timeoutMs` — any bytes count, so a large frame
   * crossing a slow link keeps the peer alive.
   */
  keepAlive(timeoutMs: number, onSilent: () => void, peerTimeoutMs = timeoutMs): void {
    clearInterval(this.beats);
    this.heardAt = Date.now();
    this.beats = setInterval(() => {
      if (!this.socket.destroyed) this.socket.write(HEARTBEAT);
      if (Date.now() - this.heardAt < timeoutMs) return;
      // After a pause of this process's own event loop, read what has arrived meanwhile before judging.
      setImmediate(() => {
        if (Date.now() - this.heardAt < timeoutMs || this.socket.destroyed) return;
        clearInterval(this.beats);
        onSilent();
      });
    }, Math.min(timeoutMs, peerTimeoutMs) / BEATS_PER_TIMEOUT);
    this.beats.unref();
  }

  /** Stops heartbeats and silence checks (the link is being abandoned). */
  stopKeepAlive(): void {
    clearInterval(this.beats);
  }

  private receive(chunk: Buffer): void {
    this.heardAt = Date.now();
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= 4) {
      const head = this.joined(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) { this.socket.destroy(); return; }
      if (this.pendingBytes < 4 + length) return;
      const frame = this.joined(4 + length);
      this.drop(4 + length);
      if (length === 0) continue;
      let message: In;
      try {
        message = v8.deserialize(frame.subarray(4, 4 + length)) as In;
      } catch {
        this.socket.destroy();
        return;
      }
      this.emit("message", message);
    }
  }

  /** The first `bytes` pending bytes in one buffer (the pending chunks joined as far as needed). */
  private joined(bytes: number): Buffer {
    if (this.pending[0].length < bytes) {
      let count = 0, length = 0;
      while (length < bytes) length += this.pending[count++].length;
      this.pending.splice(0, count, Buffer.concat(this.pending.slice(0, count), length));
    }
    return this.pending[0];
  }

  private drop(bytes: number): void {
    this.pendingBytes -= bytes;
    const rest = this.pending[0].subarray(bytes);
    if (rest.length > 0) this.pending[0] = rest;
    else this.pending.shift();
  }
}
