// Exchange partitions on a node, as Ray's object store keeps them: the chunks a map task made stay on
// the node that made it — in the node process's memory (what the task kept inline), or in the node's
// spill folder — and the node serves them to its peers. A reduce task anywhere fetches its pieces
// straight from the nodes holding them, cut here to the rows it reads (a ranged get: the cut itself is
// the exchange's, handed to the store as a `ChunkCutter`); only where they are reaches the head.
// Connections present the cluster's token first, as on the node link, over the cluster's transport
// (./transport: TCP or mutual TLS).
import * as fs from "node:fs";
import type net from "node:net";
import * as path from "node:path";
import { freeBytes } from "../block";
import type { ChunkCut, ChunkRef, MapOutput } from "../plan";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, Link } from "./link";
import type { TaskSpec } from "./protocol";
import { Transport, type TransportOptions } from "./transport";

/** Where a chunk's bytes are on the node holding it: in its memory (key) or in one of its spill files. */
export interface ChunkLocation { key?: string; file?: string; offset?: number; bytes: number }

type ToServer = { type: "hello"; token: string } | ({ type: "get"; id: number; cut?: ChunkCut } & ChunkLocation);

/** The Arrow IPC of the rows of a chunk (its IPC bytes) that a cut names (exec/exchange's cutChunk). */
export type ChunkCutter = (ipc: Uint8Array, cut: ChunkCut) => Uint8Array;
type ToClient = { type: "chunk"; id: number; ipc: Uint8Array } | { type: "missing"; id: number; message: string };

/** A node's folder for a job's spilled partitions: beside the head's job folder, named after the node. */
export function nodeSpillFolder(jobFolder: string, nodeId: number): string {
  return `${jobFolder}-node${nodeId}`;
}

/** The largest frame a connection may send before it has presented the token. */
const HELLO_MAX_BYTES = 4096;

/** The chunks this node holds, per job (the head's job folder), and its spill folders. */
export class ChunkStore {
  /** Set when the head welcomes the node. */
  nodeId = 0;
  private readonly jobs = new Map<string, { folder: string; keys: Set<string> }>();
  private readonly memory = new Map<string, Uint8Array>();
  /** Map tasks running here: their head-side spill folder. */
  private readonly mapTasks = new Map<number, string>();
  private nextKey = 1;

  constructor(private readonly cutter: ChunkCutter) {}

  /** A task as it runs here: a map task spills into this node's folder, a reduce task may fetch from peers (giving up on one silent for `silentMs`). */
  localTask(task: TaskSpec, transport: TransportOptions, silentMs: number): TaskSpec {
    if (task.input.kind === "exchange") task = { ...task, input: { ...task.input, reduce: { ...task.input.reduce, fetch: { here: this.nodeId, transport, silentMs } } } };
    if (!task.exchangeMap) return task;
    // A reduce task may also be the map task of the next exchange (a sort, then a groupBy).
    const { spillDir } = task.exchangeMap;
    this.mapTasks.set(task.taskId, spillDir);
    return { ...task, exchangeMap: { ...task.exchangeMap, spillDir: path.join(this.job(path.dirname(spillDir)).folder, path.basename(spillDir)) } };
  }

  /** A map task's output as the head gets it: its chunks stay here, the head learns where. */
  keep(taskId: number, output: MapOutput): MapOutput {
    const spillDir = this.mapTasks.get(taskId);
    this.mapTasks.delete(taskId);
    if (spillDir === undefined) return output;
    const job = this.job(path.dirname(spillDir));
    const chunks = output.chunks.map((chunk): ChunkRef => {
      if (!chunk.ipc) return { ...chunk, node: this.nodeId };
      const key = `${taskId}.${this.nextKey++}`;
      job.keys.add(key);
      this.memory.set(key, chunk.ipc);
      return { ...chunk, ipc: undefined, key, node: this.nodeId };
    });
    return { ...output, chunks };
  }

  /** The job ended: its chunks and its spill folder go. */
  release(jobFolder: string): void {
    const job = this.jobs.get(jobFolder);
    this.jobs.delete(jobFolder);
    for (const key of job?.keys ?? []) this.memory.delete(key);
    fs.rmSync(nodeSpillFolder(jobFolder, this.nodeId), { recursive: true, force: true });
  }

  releaseAll(): void {
    this.mapTasks.clear();
    for (const jobFolder of [...this.jobs.keys()]) this.release(jobFolder);
  }

  /**
   * Hands `send` a chunk's bytes, or (with a cut) those of the rows the cut names; the bytes read or made
   * for this answer alone are freed once it has them (serialized), not at some later full collection.
   */
  answer(location: ChunkLocation, cut: ChunkCut | undefined, send: (ipc: Uint8Array) => void): void {
    const whole = this.whole(location);
    const rows = cut ? this.cutter(whole, cut) : whole;
    try {
      send(rows);
    } finally {
      const scratch = location.key === undefined ? [whole] : [];
      if (rows !== whole) scratch.push(rows);
      freeBytes(scratch);
    }
  }

  private whole(location: ChunkLocation): Uint8Array {
    if (location.key !== undefined) {
      const ipc = this.memory.get(location.key);
      if (!ipc) throw new Error(`chunk ${location.key} is not held here (its job ended?)`);
      return ipc;
    }
    const file = path.resolve(location.file ?? "");
    // Only this node's spill files are served, whatever a peer asks for.
    if (![...this.jobs.values()].some((job) => file.startsWith(job.folder + path.sep))) throw new Error(`${file} is not a spill file of this node`);
    return readRange(file, location.offset ?? 0, location.bytes);
  }

  private job(jobFolder: string): { folder: string; keys: Set<string> } {
    let job = this.jobs.get(jobFolder);
    if (!job) this.jobs.set(jobFolder, (job = { folder: path.resolve(nodeSpillFolder(jobFolder, this.nodeId)), keys: new Set() }));
    return job;
  }
}

/** Bytes [offset, offset + length) of a file. */
export function readRange(file: string, offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const fd = fs.openSync(file, "r");
  try {
    for (let read = 0; read < length;) {
      const n = fs.readSync(fd, bytes, read, length - read, offset + read);
      if (n === 0) throw new Error(`${file} ends before byte ${offset + length}`);
      read += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

/** Serves the store's chunks to peers presenting the token; resolves to the URL peers connect to. */
export async function serveChunks(store: ChunkStore, transport: Transport, host: string): Promise<{ url: string; server: net.Server }> {
  const { server, url } = await transport.listen(host, 0, "chunk", (socket) => {
    socket.unref(); // a peer still connected does not keep a node that has left alive
    const link = new Link<ToServer, ToClient>(socket);
    link.maxFrameBytes = HELLO_MAX_BYTES;
    let trusted = false;
    link.on("message", (message: ToServer) => {
      if (!trusted) {
        if (message.type !== "hello" || !transport.accepts(message.token)) { socket.destroy(); return; }
        trusted = true;
        return;
      }
      if (message.type !== "get") return;
      try {
        store.answer(message, message.cut, (ipc) => link.send({ type: "chunk", id: message.id, ipc }));
      } catch (e) {
        link.send({ type: "missing", id: message.id, message: (e as Error).message });
      }
    });
  });
  server.unref();
  return { url, server };
}

/**
 * A reduce task's connections to the nodes it fetches from: one per node, requests answered in turn. A
 * peer that sends nothing for `silentMs` while requests wait (cut off by the network) fails them.
 */
export class ChunkFetcher {
  private readonly links = new Map<string, { link: Link<ToClient, ToServer>; waiting: Map<number, { resolve(ipc: Uint8Array): void; reject(e: Error): void }> }>();
  private nextId = 1;

  private readonly transport: Transport;

  /** transport: the cluster's, as the node running the task got it. */
  constructor(transport: TransportOptions, private readonly silentMs = DEFAULT_HEARTBEAT_TIMEOUT_MS) {
    this.transport = new Transport(transport);
  }

  /** The chunk's bytes, or those of the rows `cut` names, cut by the node holding it. */
  get(url: string, location: ChunkLocation, cut?: ChunkCut): Promise<Uint8Array> {
    const peer = this.peer(url);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      peer.waiting.set(id, { resolve, reject });
      peer.link.send({ type: "get", id, key: location.key, file: location.file, offset: location.offset, bytes: location.bytes, cut });
    });
  }

  close(): void {
    for (const { link } of this.links.values()) link.socket.destroy();
    this.links.clear();
  }

  private peer(url: string) {
    let peer = this.links.get(url);
    if (peer) return peer;
    const socket = this.transport.connect(url, { peer: true });
    const waiting = new Map<number, { resolve(ipc: Uint8Array): void; reject(e: Error): void }>();
    let failure: Error | undefined;
    socket.setTimeout(this.silentMs, () => {
      if (waiting.size === 0) return;
      failure = new Error(`it sent nothing for ${this.silentMs / 1000} s`);
      socket.destroy();
    });
    const link = new Link<ToClient, ToServer>(socket);
    peer = { link, waiting };
    this.links.set(url, peer);
    link.send({ type: "hello", token: this.transport.token });
    link.on("message", (message: ToClient) => {
      const request = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.type === "chunk") request?.resolve(message.ipc);
      else request?.reject(new Error(message.message));
    });
    link.socket.once("error", (e) => { failure ??= this.transport.describe(e, url); });
    link.on("close", () => {
      if (this.links.get(url)?.link === link) this.links.delete(url);
      for (const request of waiting.values()) request.reject(failure ?? new Error(`the connection to ${url} closed`));
      waiting.clear();
    });
    return peer;
  }
}
