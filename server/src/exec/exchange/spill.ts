// Where a map task's chunks go: kept in memory while they fit the task's allowance, else appended as
// Arrow IPC streams to one spill file per task attempt. Reduce tasks read chunks back from either.
import * as fs from "node:fs";
import * as path from "node:path";
import { type Block, blockFromIPC, blockToIPC, sliceBlock } from "../../block";
import type { ChunkRef, ReducePiece } from "../../plan";

/** A spill write that failed (a full disk, say): names the exchange and the file. */
export class SpillError extends Error {}

export class ChunkSink {
  readonly chunks: ChunkRef[] = [];
  spilledBytes = 0;
  private inlineBytes = 0;
  private fd?: number;
  private readonly file: string;

  constructor(private readonly operator: string, private readonly spillDir: string, fileName: string, private readonly inlineAllowance: number) {
    this.file = path.join(spillDir, fileName);
  }

  add(block: Block, partition: number, bounds?: { first: unknown[]; last: unknown[] }): void {
    const ipc = blockToIPC(block);
    const chunk: ChunkRef = { partition, rows: block.numRows, bytes: ipc.byteLength, ...bounds };
    if (this.fd === undefined && this.inlineBytes + ipc.byteLength <= this.inlineAllowance) {
      this.inlineBytes += ipc.byteLength;
      this.chunks.push({ ...chunk, ipc });
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
      throw new SpillError(`${this.operator}: spilling partitions to ${this.file} failed: ${(e as Error).message}`);
    }
    this.chunks.push({ ...chunk, file: this.file, offset: this.spilledBytes });
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

/** A piece's rows: its chunk read back (from memory or its spill file), sliced to [start, end). */
export function readPiece(piece: ReducePiece): Block {
  const { chunk } = piece;
  let bytes = chunk.ipc;
  if (!bytes) {
    bytes = new Uint8Array(chunk.bytes);
    const fd = fs.openSync(chunk.file!, "r");
    try {
      for (let read = 0; read < chunk.bytes;) {
        const n = fs.readSync(fd, bytes, read, chunk.bytes - read, chunk.offset! + read);
        if (n === 0) throw new Error(`${chunk.file} ends before byte ${chunk.offset! + chunk.bytes}`);
        read += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  const block = blockFromIPC(bytes);
  return piece.start === undefined && piece.end === undefined ? block : sliceBlock(block, piece.start ?? 0, piece.end ?? block.numRows);
}
