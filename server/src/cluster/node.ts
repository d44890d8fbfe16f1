// A node: an OS process hosting worker threads for a head that it joins over TCP or mutual TLS
// (./transport). The head is a job's driver (`rdpipe run --nodes`), or an execution server (`rdpipe
// serve --cluster-port`) that then tells the node to open a session with each job's head (its runner
// process): one session per job, each with its own threads, partitions and chunk server. The head
// decides what runs here; SIGTERM is a preemption notice (every session drains, then leaves when told).
// Head and node exchange heartbeats: a head silent for the timeout is gone (the node drops its work and
// exits 1); a head that declared this node lost (after a partition) has it drop its work and join again.
import type { Worker } from "node:worker_threads";
import { type ChunkCutter, ChunkStore, serveChunks } from "./chunks";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, Link, type HeadToNode, type NodeToHead } from "./link";
import { workerScript, workerThread } from "./paths";
import type { DriverMessage, WorkerMessage } from "./protocol";
import { Transport, type TransportOptions } from "./transport";

export interface NodeOptions extends TransportOptions {
  /** The head's address: tcp://host:port, or tls://host:port with `tls`. */
  head: string;
  /** Worker threads the head may run here at once. */
  cpus: number;
  /** The provider's launch that started this node (env RDPIPE_LAUNCH), told to the head. */
  launch?: string;
  /** How long the head may be silent before this node drops its work and exits; default: the head's own timeout. */
  heartbeatTimeoutMs?: number;
  /** Cuts a chunk to the rows a peer's reduce task reads (exec's cutChunk: cluster does not know how rows are ordered). */
  cutChunk: ChunkCutter;
}

type ServerMessage = Extract<HeadToNode, { type: "session" | "resize" | "endSession" }>;

/** Until the head's welcome says its timeout, heartbeats go as often as for this one (a join takes a round trip on a slow link). */
const JOINING_BEAT_TIMEOUT_MS = 1000;

/** How a connection to a head ended: an exit code, "rejoin" (the head declared this node lost), or "silent" (the head was). */
type Outcome = number | "rejoin" | "silent";

/** This process joined to one head: the worker threads it runs there and the exchange partitions they made. */
interface Session {
  link: Link<HeadToNode, NodeToHead>;
  store: ChunkStore;
  ended: Promise<Outcome>;
  leave(outcome: Outcome): void;
}

/**
 * Joins the head and serves it until told to leave (resolves 0) or the head goes away or falls silent
 * (resolves 1); joins again as a new node when the head declared it lost. Exchange partitions its map
 * tasks make stay here, served to peers on the interface facing the head.
 */
export async function runNode(options: NodeOptions): Promise<number> {
  /** By the server's session id: the slots it wants there now, and the session once joined (`ended`: ended by the server while joining). */
  const sessions = new Map<number, { cpus: number; session?: Session; ended?: boolean }>();
  let main: Session | undefined;
  const onServer = (message: ServerMessage): void => {
    const { session: id } = message;
    const known = sessions.get(id);
    if (message.type === "resize" && known) {
      known.cpus = message.cpus;
      known.session?.link.send({ type: "slots", cpus: message.cpus });
    } else if (message.type === "endSession" && known) {
      known.ended = true;
      known.session?.leave(0);
    } else if (message.type === "session" && main) {
      const server = main;
      const entry: { cpus: number; session?: Session; ended?: boolean } = { cpus: message.cpus };
      sessions.set(id, entry);
      const head = reachable(message.head, server.link.socket.remoteAddress);
      // A session presents the job's token, and this node's certificate over TLS.
      const peers = { token: message.token, tls: options.tls };
      void openSession(head, peers, message.cpus, options.heartbeatTimeoutMs, server.store.nodeId, options.cutChunk).then((session) => {
        entry.session = session;
        // Ended by the server while joining, or the server's link ended meanwhile (this node rejoins or exits): no orphan session.
        if (session && (entry.ended || sessions.get(id) !== entry)) session.leave(0);
        else if (session && entry.cpus !== message.cpus) session.link.send({ type: "slots", cpus: entry.cpus });
        void (session?.ended ?? Promise.resolve<Outcome>(1)).then((outcome) => {
          if (sessions.get(id) !== entry) return;
          sessions.delete(id);
          // A job's head that was silent may only have been cut off from this node, or busy: the server offers a new session.
          server.link.send({ type: "sessionEnded", session: id, rejoin: outcome === "rejoin" || outcome === "silent" });
        });
      });
    }
  };
  const drain = () => {
    main?.link.send({ type: "draining" });
    for (const { session } of sessions.values()) session?.link.send({ type: "draining" });
  };
  process.on("SIGTERM", drain);
  try {
    for (;;) {
      main = await openSession(options.head, { token: options.token, tls: options.tls, launch: options.launch }, options.cpus, options.heartbeatTimeoutMs, undefined, options.cutChunk, onServer);
      if (!main) return 1;
      const outcome = await main.ended;
      for (const { session } of sessions.values()) session?.leave(1);
      sessions.clear();
      if (outcome !== "rejoin") return outcome === "silent" ? 1 : outcome;
    }
  } finally {
    process.off("SIGTERM", drain);
  }
}

/** A job head listening on every interface is reached where the server was. */
function reachable(head: string, serverAddress: string | undefined): string {
  const url = new URL(head);
  if (serverAddress && ["0.0.0.0", "[::]"].includes(url.hostname)) url.hostname = serverAddress.includes(":") ? `[${serverAddress}]` : serverAddress;
  return url.toString().replace(/\/$/, "");
}

/** Connects and presents the token; undefined (and a message on stderr) when the head cannot be reached. */
async function openSession(
  head: string, peers: TransportOptions & { launch?: string }, cpus: number, heartbeatTimeoutMs: number | undefined, member: number | undefined,
  cutChunk: ChunkCutter, onServer?: (message: ServerMessage) => void,
): Promise<Session | undefined> {
  const transport = new Transport({ token: peers.token, tls: peers.tls });
  const script = workerScript();
  const socket = transport.connect(head);
  // Over TLS 1.3 the head refuses this node's certificate only after the handshake looks done here.
  let failure: Error | undefined;
  socket.on("error", (e) => { failure ??= transport.describe(e, head); });
  try {
    await transport.connected(socket, head);
  } catch (e) {
    console.error(`rdpipe node: could not join the head: ${(e as Error).message}`);
    return undefined;
  }
  const link = new Link<HeadToNode, NodeToHead>(socket);
  const workers = new Map<number, Worker>();
  const store = new ChunkStore(cutChunk);
  const chunks = await serveChunks(store, transport, socket.localAddress ?? "127.0.0.1");
  link.send({ type: "hello", token: transport.token, cpus, pid: process.pid, chunks: chunks.url, member, launch: peers.launch, heartbeatTimeoutMs });
  let timeoutMs = heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  const toWorker = (message: DriverMessage): DriverMessage => (message.type === "run" ? { ...message, task: store.localTask(message.task, peers, timeoutMs) } : message);
  const toHead = (message: WorkerMessage): WorkerMessage => (message.type === "mapOutput" ? { ...message, output: store.keep(message.taskId, message.output) } : message);
  let leave!: (outcome: Outcome) => void;
  const ended = new Promise<Outcome>((resolve) => {
    leave = (outcome: Outcome) => {
      link.removeAllListeners();
      link.stopKeepAlive();
      for (const worker of workers.values()) void worker.terminate();
      link.socket.destroy();
      chunks.server.close();
      store.releaseAll();
      resolve(outcome);
    };
  });
  const listen = (headTimeoutMs?: number) => link.keepAlive(timeoutMs, () => {
    console.error(`rdpipe node: the head at ${head} was silent for ${timeoutMs / 1000} s; dropping its work${onServer ? " and exiting" : ""}`);
    leave("silent");
  }, headTimeoutMs);
  listen(JOINING_BEAT_TIMEOUT_MS);
  let joined = false;
  link.on("close", () => {
    if (!joined) console.error(`rdpipe node: could not join the head: ${(failure ?? transport.closedEarly(head)).message}`);
    leave(1);
  });
  link.on("message", (message: HeadToNode) => {
    switch (message.type) {
      case "welcome":
        joined = true;
        store.nodeId = message.nodeId;
        timeoutMs = heartbeatTimeoutMs ?? message.heartbeatTimeoutMs;
        listen(message.heartbeatTimeoutMs);
        return;
      case "release": store.release(message.folder); link.send({ type: "released", folder: message.folder }); return;
      case "rejected": console.error(`rdpipe node: the head refused this node: ${message.reason} (${head})`); return leave(1);
      case "leave": return leave(0);
      case "lost": console.error(`rdpipe node: ${message.reason}; dropping its work and joining again`); return leave("rejoin");
      case "spawn": {
        const { workerId } = message;
        const worker = workerThread(script);
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
      default: onServer?.(message);
    }
  });
  return { link, store, ended, leave };
}
