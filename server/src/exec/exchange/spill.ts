// Where a map task's chunks go: kept in memory while they fit the task's allowance, else appended as
// Arrow IPC streams to one spill file per task attempt. Reduce tasks read chunks back from either (on a
// cluster, through the chunk server of the node that holds them: ./transfer.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { type Block, withBlockIPC } from "../../block";
import { readRange } from "../../cluster";
import type { ChunkRef } from "../../plan";

export class ChunkSink {
  readonly chunks: ChunkRef[] = [];
  spilledBytes = 0;
  private inlineBytes = 0;
  private fd?: number;
  private readonly file: string;

  /** what: what is spilled, for errors. */
  constructor(
    private readonly operator: string, private readonly spillDir: string, fileName: string, private readonly inlineAllowance: number, private readonly what = "partitions",
  ) {
    this.file = path.join(spillDir, fileName);
  }

  /** A spilled block is written from the thread's reused IPC buffer (no fresh memory per chunk); one kept inline gets its own copy. */
  add(block: Block, partition: number, bounds?: { first: unknown[]; last: unknown[] }): void {
    withBlockIPC(block, (ipc) => this.addBytes(ipc, { partition, rows: block.numRows, bytes: ipc.byteLength, ...bounds }, true));
  }

  /** A chunk already in IPC bytes (`chunk` describes it); `borrowed` bytes are valid only during the call. */
  addBytes(ipc: Uint8Array, chunk: ChunkRef, borrowed = false): void {
    if (this.fd === undefined && this.inlineBytes + ipc.byteLength <= this.inlineAllowance) {
      this.inlineBytes += ipc.byteLength;
      this.chunks.push({ ...chunk, ipc: borrowed ? ipc.slice() : ipc, file: undefined, offset: undefined });
      return;
    }
    try {
      if (this.fd === undefined) {
        fs.mkdirSync(this.spillDir, { recursive: true });
        this.fd = fs.openSync(this.file, "w");
      }
      for (let written = 0; written < ipc.byteLength;) written += fs.writeSync(this.fd, ipc, written, ipc.byteLength - written, this.spilledBytes + written);
    } catch (e) {
      this.abort();
      throw new Error(`${this.operator}: spilling ${this.what} to ${this.file} failed: ${(e as Error).message}`);
    }
    this.chunks.push({ ...chunk, ipc: undefined, file: this.file, offset: this.spilledBytes });
    this.spilledBytes += ipc.byteLength;
  }

  /** The file is complete: reduce tasks may read it. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** The task failed: its file goes (the exchange's folder goes at the job's end anyway). */
  abort(): void {
    this.close();
    fs.rmSync(this.file, { force: true });
  }
}

/** A chunk's IPC bytes, from memory or its spill file in this process. */
export function chunkBytes(chunk: ChunkRef): Uint8Array {
  return chunk.ipc ?? readRange(chunk.file!, chunk.offset!, chunk.bytes);
}
