// A node: an OS process hosting worker threads for a head (the driver) that it joins over TCP or mutual
// TLS (./transport). The head decides what runs here; SIGTERM is a preemption notice (the node drains,
// then leaves when told). Head and node exchange heartbeats: a head silent for the timeout is gone (the
// node drops its work and exits 1); a head that declared this node lost (after a partition) has it drop
// its work and join again.
import { Worker } from "node:worker_threads";
import { ChunkStore, serveChunks } from "./chunks";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, Link, type HeadToNode, type NodeToHead } from "./link";
import { workerExecArgv, workerScript } from "./paths";
import type { DriverMessage, WorkerMessage } from "./protocol";
import { Transport, type TransportOptions } from "./transport";

export interface NodeOptions extends TransportOptions {
  /** The head's address: tcp://host:port, or tls://host:port with `tls`. */
  head: string;
  /** Worker threads the head may run here at once. */
  cpus: number;
  /** How long the head may be silent before this node drops its work and exits; default: the head's own timeout. */
  heartbeatTimeoutMs?: number;
}

/** Until the head's welcome says its timeout, heartbeats go as often as for this one (a join takes a round trip on a slow link). */
const JOINING_BEAT_TIMEOUT_MS = 1000;

/** How one connection to the head ended: an exit code, or "rejoin" (the head declared this node lost). */
type Session = number | "rejoin";

/**
 * Joins the head and serves it until told to leave (resolves 0) or the head goes away or falls silent
 * (resolves 1). Exchange partitions its map tasks make stay here, served to peers on the interface facing the head.
 */
export async function runNode(options: NodeOptions): Promise<number> {
  const transport = new Transport({ token: options.token, tls: options.tls });
  const store = new ChunkStore();
  let chunks: Awaited<ReturnType<typeof serveChunks>> | undefined;
  let link: Link<HeadToNode, NodeToHead> | undefined;
  const onSigterm = () => link?.send({ type: "draining" });
  process.on("SIGTERM", onSigterm);
  try {
    for (;;) {
      const socket = transport.connect(options.head);
      // Over TLS 1.3 the head refuses this node's certificate only after the handshake looks done here.
      let failure: Error | undefined;
      socket.on("error", (e) => { failure ??= transport.describe(e, options.head); });
      try {
        await transport.connected(socket, options.head);
      } catch (e) {
        console.error(`rdpipe node: could not join the head: ${(e as Error).message}`);
        return 1;
      }
      link = new Link<HeadToNode, NodeToHead>(socket);
      chunks ??= await serveChunks(store, transport, socket.localAddress ?? "127.0.0.1");
      const session = await serve(link, { transport, store, chunksUrl: chunks.url, failure: () => failure }, options);
      if (session !== "rejoin") return session;
    }
  } finally {
    process.off("SIGTERM", onSigterm);
    chunks?.server.close();
  }
}

/** What outlives a connection to the head: the chunk server's store and address; failure: why the connection failed, if it did. */
interface NodeState { transport: Transport; store: ChunkStore; chunksUrl: string; failure: () => Error | undefined }

/** One connection to the head, from hello until it ends; the work it ran here is dropped at the end. */
function serve(link: Link<HeadToNode, NodeToHead>, node: NodeState, options: NodeOptions): Promise<Session> {
  const { transport, store, chunksUrl, failure } = node;
  const script = workerScript();
  const workers = new Map<number, Worker>();
  link.send({ type: "hello", token: transport.token, cpus: options.cpus, pid: process.pid, chunks: chunksUrl, heartbeatTimeoutMs: options.heartbeatTimeoutMs });
  let timeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  const toWorker = (message: DriverMessage): DriverMessage => (message.type === "run" ? { ...message, task: store.localTask(message.task, transport.options, timeoutMs) } : message);
  const toHead = (message: WorkerMessage): WorkerMessage => (message.type === "mapOutput" ? { ...message, output: store.keep(message.taskId, message.output) } : message);
  return new Promise((resolve) => {
    const leave = (outcome: Session) => {
      link.removeAllListeners();
      link.stopKeepAlive();
      for (const worker of workers.values()) void worker.terminate();
      link.socket.destroy();
      store.releaseAll();
      resolve(outcome);
    };
    const listen = (headTimeoutMs?: number) => link.keepAlive(timeoutMs, () => {
      console.error(`rdpipe node: the head at ${options.head} was silent for ${timeoutMs / 1000} s; dropping its work and exiting`);
      leave(1);
    }, headTimeoutMs);
    listen(JOINING_BEAT_TIMEOUT_MS);
    let joined = false;
    link.on("close", () => {
      if (!joined) console.error(`rdpipe node: could not join the head: ${(failure() ?? transport.closedEarly(options.head)).message}`);
      leave(1);
    });
    link.on("message", (message: HeadToNode) => {
      switch (message.type) {
        case "welcome":
          joined = true;
          store.nodeId = message.nodeId;
          timeoutMs = options.heartbeatTimeoutMs ?? message.heartbeatTimeoutMs;
          listen(message.heartbeatTimeoutMs);
          return;
        case "release": store.release(message.folder); link.send({ type: "released", folder: message.folder }); return;
        case "rejected": console.error(`rdpipe node: the head refused this node: ${message.reason}`); return leave(1);
        case "leave": return leave(0);
        case "lost": console.error(`rdpipe node: ${message.reason}; dropping its work and joining again`); return leave("rejoin");
        case "spawn": {
          const { workerId } = message;
          const worker = new Worker(script, { stdout: false, stderr: false, execArgv: workerExecArgv() });
          worker.on("message", (m: WorkerMessage) => link.send({ type: "worker", workerId, message: toHead(m) }));
          worker.on("error", (e) => link.send({ type: "workerError", workerId, message: e.message }));
          worker.on("exit", (code) => { workers.delete(workerId); link.send({ type: "workerExit", workerId, code }); });
          workers.set(workerId, worker);
          return;
        }
        case "post": workers.get(message.workerId)?.postMessage(toWorker(message.message)); return;
        case "terminate": {
          const worker = workers.get(message.workerId);
          workers.delete(message.workerId);
          worker?.removeAllListeners();
          void worker?.terminate();
          return;
        }
      }
    });
  });
}
