// A node: an OS process hosting worker threads for a head (the driver) that it joins over TCP or mutual
// TLS (./transport). The head decides what runs here; SIGTERM is a preemption notice (the node drains,
// then leaves when told).
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
}

/**
 * Joins the head and serves it until told to leave (resolves 0) or the head goes away (resolves 1).
 * Exchange partitions its map tasks make stay here, served to peers on the interface facing the head.
 */
export async function runNode(options: NodeOptions): Promise<number> {
  const peers: TransportOptions = { token: options.token, tls: options.tls };
  const transport = new Transport(peers);
  const script = workerScript();
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
  const link = new Link<HeadToNode, NodeToHead>(socket);
  const workers = new Map<number, Worker>();
  const store = new ChunkStore();
  const chunks = await serveChunks(store, transport, socket.localAddress ?? "127.0.0.1");
  link.send({ type: "hello", token: transport.token, cpus: options.cpus, pid: process.pid, chunks: chunks.url });
  process.on("SIGTERM", () => link.send({ type: "draining" }));
  const toWorker = (message: DriverMessage): DriverMessage => (message.type === "run" ? { ...message, task: store.localTask(message.task, peers) } : message);
  const toHead = (message: WorkerMessage): WorkerMessage => (message.type === "mapOutput" ? { ...message, output: store.keep(message.taskId, message.output) } : message);
  return new Promise((resolve) => {
    const leave = (code: number) => {
      link.removeAllListeners();
      for (const worker of workers.values()) void worker.terminate();
      link.socket.destroy();
      chunks.server.close();
      store.releaseAll();
      resolve(code);
    };
    let joined = false;
    link.on("close", () => {
      if (!joined) console.error(`rdpipe node: could not join the head: ${(failure ?? transport.closedEarly(options.head)).message}`);
      leave(1);
    });
    link.on("message", (message: HeadToNode) => {
      switch (message.type) {
        case "welcome": joined = true; store.nodeId = message.nodeId; return;
        case "release": store.release(message.folder); link.send({ type: "released", folder: message.folder }); return;
        case "rejected": console.error(`rdpipe node: the head refused this node: ${message.reason}`); return leave(1);
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
      }
    });
  });
}
