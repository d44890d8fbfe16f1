// A node: an OS process hosting worker threads for a head (the driver) that it joins over TCP. The head
// decides what runs here; SIGTERM is a preemption notice (the node drains, then leaves when told).
import net from "node:net";
import { Worker } from "node:worker_threads";
import { Link, type HeadToNode, type NodeToHead } from "./link";
import { workerScript } from "./paths";

export interface NodeOptions {
  /** The head's address, tcp://host:port. */
  head: string;
  token: string;
  /** Worker threads the head may run here at once. */
  cpus: number;
}

/** Joins the head and serves it until told to leave (resolves 0) or the head goes away (resolves 1). */
export function runNode(options: NodeOptions): Promise<number> {
  const url = new URL(options.head);
  if (url.protocol !== "tcp:" || !url.port) throw new Error(`--head expects tcp://host:port, got '${options.head}'`);
  const script = workerScript();
  const link = new Link<HeadToNode, NodeToHead>(net.connect(Number(url.port), url.hostname));
  const workers = new Map<number, Worker>();
  link.send({ type: "hello", token: options.token, cpus: options.cpus, pid: process.pid });
  process.on("SIGTERM", () => link.send({ type: "draining" }));
  return new Promise((resolve) => {
    const leave = (code: number) => {
      link.removeAllListeners();
      for (const worker of workers.values()) void worker.terminate();
      link.socket.destroy();
      resolve(code);
    };
    let joined = false;
    link.on("close", () => {
      if (!joined) console.error(`rdpipe node: could not join the head at ${options.head}`);
      leave(1);
    });
    link.on("message", (message: HeadToNode) => {
      switch (message.type) {
        case "welcome": joined = true; return;
        case "rejected": console.error(`rdpipe node: the head refused this node: ${message.reason}`); return leave(1);
        case "leave": return leave(0);
        case "spawn": {
          const { workerId } = message;
          const worker = new Worker(script, { stdout: false, stderr: false, execArgv: [] });
          worker.on("message", (m) => link.send({ type: "worker", workerId, message: m }));
          worker.on("error", (e) => link.send({ type: "workerError", workerId, message: e.message }));
          worker.on("exit", (code) => { workers.delete(workerId); link.send({ type: "workerExit", workerId, code }); });
          workers.set(workerId, worker);
          return;
        }
        case "post": workers.get(message.workerId)?.postMessage(message.message); return;
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
