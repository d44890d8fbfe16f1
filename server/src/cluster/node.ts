// A node: an OS process hosting worker threads for a head that it joins over TCP or mutual TLS
// (./transport). The head is a job's
// driver (`rdpipe run --nodes`), or an execution server (`rdpipe serve --cluster-port`) that then tells
// the node to open a session with each job's head (its runner process): one session per job, each
// with its own threads, partitions and chunk server. The head decides what runs here; SIGTERM is a
// preemption notice (every session drains, then leaves when told).
import { Worker } from "node:worker_threads";
import { ChunkStore, serveChunks } from "./chunks";
import { Link, type HeadToNode, type NodeToHead } from "./link";
import { workerExecArgv, workerScript } from "./paths";
import type { DriverMessage, WorkerMessage } from "./protocol";
import { Transport, type TransportOptions } from "./transport";

export interface NodeOptions extends TransportOptions {
  /** The head's address: tcp://host:port, or tls://host:port with `tls`. */
  head: string;
  /** Worker threads the head may run here at once. */
  cpus: number;
  /** The provider's launch that started this node (env RDPIPE_LAUNCH), told to the head. */
  launch?: string;
}

type ServerMessage = Extract<HeadToNode, { type: "session" | "resize" | "endSession" }>;

/** This process joined to one head: the worker threads it runs there and the exchange partitions they made. */
interface Session {
  link: Link<HeadToNode, NodeToHead>;
  store: ChunkStore;
  /** Resolves 0 once told to leave, 1 when the head went away or refused the node. */
  ended: Promise<number>;
  leave(code: number): void;
}

/**
 * Joins the head and serves it until told to leave (resolves 0) or the head goes away (resolves 1).
 * Exchange partitions its map tasks make stay here, served to peers on the interface facing the head.
 */
export async function runNode(options: NodeOptions): Promise<number> {
  /** By the server's session id: the slots it wants there now, and the session once joined (`ended`: ended by the server while joining). */
  const sessions = new Map<number, { cpus: number; session?: Session; ended?: boolean }>();
  const main = await openSession(options.head, options, options.cpus, undefined, (message) => onServer(message));
  if (!main) return 1;
  const onServer = (message: ServerMessage): void => {
    const { session: id } = message;
    const known = sessions.get(id);
    if (message.type === "resize" && known) {
      known.cpus = message.cpus;
      known.session?.link.send({ type: "slots", cpus: message.cpus });
    } else if (message.type === "endSession" && known) {
      known.ended = true;
      known.session?.leave(0);
    } else if (message.type === "session") {
      const entry: { cpus: number; session?: Session; ended?: boolean } = { cpus: message.cpus };
      sessions.set(id, entry);
      const head = reachable(message.head, main.link.socket.remoteAddress);
      // A session presents the job's token, and this node's certificate over TLS.
      void openSession(head, { token: message.token, tls: options.tls }, message.cpus, main.store.nodeId).then((session) => {
        entry.session = session;
        if (session && entry.ended) session.leave(0);
        else if (session && entry.cpus !== message.cpus) session.link.send({ type: "slots", cpus: entry.cpus });
        void (session?.ended ?? Promise.resolve()).then(() => {
          sessions.delete(id);
          main.link.send({ type: "sessionEnded", session: id });
        });
      });
    }
  };
  const drain = () => {
    main.link.send({ type: "draining" });
    for (const { session } of sessions.values()) session?.link.send({ type: "draining" });
  };
  process.on("SIGTERM", drain);
  const code = await main.ended;
  process.off("SIGTERM", drain);
  for (const { session } of sessions.values()) session?.leave(code);
  return code;
}

/** A job head listening on every interface is reached where the server was. */
function reachable(head: string, serverAddress: string | undefined): string {
  const url = new URL(head);
  if (serverAddress && ["0.0.0.0", "[::]"].includes(url.hostname)) url.hostname = serverAddress.includes(":") ? `[${serverAddress}]` : serverAddress;
  return url.toString().replace(/\/$/, "");
}

/** Connects and presents the token; undefined (and a message on stderr) when the head cannot be reached. */
async function openSession(
  head: string, peers: TransportOptions & { launch?: string }, cpus: number, member: number | undefined, onServer?: (message: ServerMessage) => void,
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
  const store = new ChunkStore();
  const chunks = await serveChunks(store, transport, socket.localAddress ?? "127.0.0.1");
  link.send({ type: "hello", token: transport.token, cpus, pid: process.pid, chunks: chunks.url, member, launch: peers.launch });
  const toWorker = (message: DriverMessage): DriverMessage => (message.type === "run" ? { ...message, task: store.localTask(message.task, peers) } : message);
  const toHead = (message: WorkerMessage): WorkerMessage => (message.type === "mapOutput" ? { ...message, output: store.keep(message.taskId, message.output) } : message);
  let leave!: (code: number) => void;
  const ended = new Promise<number>((resolve) => {
    leave = (code: number) => {
      link.removeAllListeners();
      for (const worker of workers.values()) void worker.terminate();
      link.socket.destroy();
      chunks.server.close();
      store.releaseAll();
      resolve(code);
    };
  });
  let joined = false;
  link.on("close", () => {
    if (!joined) console.error(`rdpipe node: could not join the head: ${(failure ?? transport.closedEarly(head)).message}`);
    leave(1);
  });
  link.on("message", (message: HeadToNode) => {
    switch (message.type) {
      case "welcome": joined = true; store.nodeId = message.nodeId; return;
      case "release": store.release(message.folder); link.send({ type: "released", folder: message.folder }); return;
      case "rejected": console.error(`rdpipe node: the head refused this node: ${message.reason} (${head})`); return leave(1);
      case "leave": return leave(0);
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
      default: onServer?.(message);
    }
  });
  return { link, store, ended, leave };
}
