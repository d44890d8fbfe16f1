// Bytes on their way in or out of a thread or of parquet-wasm: transfer lists, freeing scratch bytes at
// once, and scratch buffers a thread reuses.
import { RecordBatchStreamWriter } from "apache-arrow";
import { MessageChannel } from "node:worker_threads";
import type { Block } from "./arrow";

/** The ArrayBuffer to put in a transferList, when the view covers all of it (else it would be copied). */
export function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength
    ? [buffer] : [];
}

/**
 * Frees the memory of byte arrays that only the caller holds (scratch bytes on their way in or out of
 * parquet-wasm), now rather than at the next full garbage collection: V8 frees the buffers of objects that
 * lived through a few collections only in a full one, which costs a worker tens of milliseconds, and a
 * task makes such buffers for every block. A buffer transferred in a message to a closed port is freed
 * with the message. Views that share their buffer with others are left to the collector.
 */
export function freeBytes(views: Uint8Array[]): void {
  const owned = views.flatMap(transferable);
  if (owned.length === 0) return;
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(null, owned);
  port1.close();
  port2.close();
}

/**
 * Bytes that writes in flight at once may share (the reads a column chunk kept as read views, when a UDF
 * hands one row group to two tasks whose writes overlap on one worker): each write holds them while its
 * file is written, and they are freed when the last holder lets go, never under another write.
 */
export class SharedBytes {
  private readonly holders = new Map<Uint8Array, number>();

  hold(views: Uint8Array[]): void {
    for (const view of views) this.holders.set(view, (this.holders.get(view) ?? 0) + 1);
  }

  /**
   * Lets go of views `hold` took; those no other write holds are freed, unless `free` is false (a failed
   * write: parts of it may still be on their way out, so the collector frees them).
   */
  release(views: Uint8Array[], free: boolean): void {
    const unheld = views.filter((view) => {
      const count = (this.holders.get(view) ?? 1) - 1;
      if (count > 0) this.holders.set(view, count);
      else this.holders.delete(view);
      return count <= 0;
    });
    if (free) freeBytes(unheld);
  }
}

/**
 * A buffer a thread reuses for bytes that live only until a consumer has copied them (parquet-wasm
 * copies its inputs into wasm memory), so that making them costs no fresh memory: a new buffer each
 * time cost page faults, and ArrayBuffers whose allocation makes V8 start full collections early.
 */
export class ScratchBytes {
  private buffer = new Uint8Array(0);

  /** maxBytes: the largest buffer kept; a larger request gets a buffer of its own, freed after use. */
  constructor(private readonly maxBytes: number) {}

  /** Calls `use` with `size` bytes that `fill` wrote, valid only during the call. */
  with<T>(size: number, fill: (target: Uint8Array) => void, use: (bytes: Uint8Array) => T): T {
    const kept = size <= this.maxBytes;
    if (kept && this.buffer.byteLength < size) this.buffer = new Uint8Array(Math.min(this.maxBytes, Math.max(size, 2 * this.buffer.byteLength)));
    const target = kept ? this.buffer.subarray(0, size) : new Uint8Array(size);
    fill(target);
    try {
      return use(target);
    } finally {
      if (!kept) freeBytes([target]);
    }
  }
}

/** The stream writer's output kept as the pieces it writes (the column buffers themselves), not joined. */
class PiecesWriter extends RecordBatchStreamWriter {
  readonly pieces: Uint8Array[] = [];
  byteLength = 0;

  protected override _write(chunk: unknown): this {
    if (this._started && ArrayBuffer.isView(chunk) && chunk.byteLength > 0) {
      this.pieces.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.byteLength += chunk.byteLength;
      this._position += chunk.byteLength;
    }
    return this;
  }
}

/** Blocks reach parquet-wasm's encoder a row group at a time (see io's parquet-write.ts): a few MiB. */
const ipcScratch = new ScratchBytes(16 * 2 ** 20);

/**
 * Calls `use` with the block's IPC stream, valid only during the call (for a consumer that copies it, as
 * parquet-wasm does), written into a buffer this thread reuses.
 */
export function withBlockIPC<T>(block: Block, use: (ipc: Uint8Array) => T): T {
  const writer = new PiecesWriter();
  writer.writeAll(block);
  const fill = (target: Uint8Array) => {
    let offset = 0;
    for (const piece of writer.pieces) { target.set(piece, offset); offset += piece.byteLength; }
  };
  return ipcScratch.with(writer.byteLength, fill, use);
}
