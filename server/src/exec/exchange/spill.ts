// Where a map task's chunks go: kept in memory while they fit the task's allowance, else appended as
// Arrow IPC streams to one spill file per task attempt. Reduce tasks read chunks back from either.
import * as fs from "node:fs";
import * as path from "node:path";
import { type Block, blockFromIPC, blockToIPC, sliceBlock } from "../../block";
import type { ChunkRef, MapOutput, ReducePiece } from "../../plan";

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
    this.addBytes(ipc, { partition, rows: block.numRows, bytes: ipc.byteLength, ...bounds });
  }

  /** A chunk already in IPC bytes (`chunk` describes it). */
  addBytes(ipc: Uint8Array, chunk: ChunkRef): void {
    if (this.fd === undefined && this.inlineBytes + ipc.byteLength <= this.inlineAllowance) {
      this.inlineBytes += ipc.byteLength;
      this.chunks.push({ ...chunk, ipc, file: undefined, offset: undefined });
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
      throw new Error(`${this.operator}: spilling partitions to ${this.file} failed: ${(e as Error).message}`);
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

/** A chunk's IPC bytes, from memory or its spill file. */
export function chunkBytes(chunk: ChunkRef): Uint8Array {
  if (chunk.ipc) return chunk.ipc;
  const bytes = new Uint8Array(chunk.bytes);
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
  return bytes;
}

/** A piece's rows: its chunk read back (from memory or its spill file), sliced to [start, end). */
export function readPiece(piece: ReducePiece): Block {
  const block = blockFromIPC(chunkBytes(piece.chunk));
  return piece.start === undefined && piece.end === undefined ? block : sliceBlock(block, piece.start ?? 0, piece.end ?? block.numRows);
}

/**
 * On a cluster the driver is the hub partitions move through: a map task on a node sends its chunks
 * over the node link, the driver spills them here, and sends each reduce task its pieces' bytes.
 */
export function landMapOutput(output: MapOutput, operator: string, spillDir: string): MapOutput {
  const sink = new ChunkSink(operator, spillDir, `landed-${output.side}-${String(output.taskIndex).padStart(6, "0")}.arrows`, 0);
  for (const chunk of output.chunks) sink.addBytes(chunkBytes(chunk), chunk);
  sink.close();
  return { ...output, chunks: sink.chunks };
}

export function inlinePieces(pieces: ReducePiece[]): ReducePiece[] {
  return pieces.map((piece) => ({ ...piece, chunk: { ...piece.chunk, ipc: chunkBytes(piece.chunk), file: undefined, offset: undefined } }));
}
