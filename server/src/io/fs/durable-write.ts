// A durable write to local disk: a hidden temporary file beside the target, written whole and synced,
// renamed into place, and the rename synced (a checkpoint commit that follows depends on it).
//
// Two forms of the same steps. In a worker thread the event loop is held by the block being made, and
// each step of the asynchronous form (mkdir, open, writev, fsync, close, rename, the folder's fsync)
// waits for its next turn: a checkpointed file's commit record and its task's done record took several
// blocks' time to land, and a task's end waited for them. So a worker writes a small file (up to
// NOW_MAX_BYTES: commit and done records, small outputs) synchronously: it blocks ~0.5 ms + 1.3 ms per MiB
// on this machine kind's disk. A bigger file, an output, is written asynchronously: its fsync overlaps
// the next block. The main thread (the driver, the server) always writes asynchronously.
// Measured: see README, "Checkpoint overhead".
import { closeSync, fsyncSync, mkdirSync, openSync, promises as fs, renameSync, rmSync, writevSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { isMainThread } from "node:worker_threads";
import { pathError } from "../errors";

/** The largest write a worker thread makes synchronously. */
const NOW_MAX_BYTES = 2 ** 20;

/** Writes `file` durably (see above); returns the bytes written. Nothing is left under its temporary name on failure. */
export function durableWrite(file: string, chunks: Iterable<Uint8Array>): Promise<number> {
  const pieces = nonEmpty(chunks);
  if (isMainThread || pieces.reduce((sum, chunk) => sum + chunk.byteLength, 0) > NOW_MAX_BYTES) return durableWriteAsync(file, pieces);
  try {
    return Promise.resolve(durableWriteNow(file, pieces));
  } catch (e) {
    return Promise.reject(e);
  }
}

const tempPathOf = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.tmp`);

async function durableWriteAsync(file: string, chunks: Uint8Array[]): Promise<number> {
  const dir = path.dirname(file);
  const tempPath = tempPathOf(file);
  try {
    const created = await fs.mkdir(dir, { recursive: true });
    if (created) await syncFolder(path.dirname(created));
    const handle = await fs.open(tempPath, "w");
    let bytes = 0;
    try {
      bytes = await writeFully(handle, chunks);
      await handle.sync();
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
    await handle.close();
    await fs.rename(tempPath, file);
    await syncFolder(dir);
    return bytes;
  } catch (e) {
    await fs.rm(tempPath, { force: true }).catch(() => undefined);
    throw pathError(file, e, "write failed");
  }
}

function durableWriteNow(file: string, chunks: Uint8Array[]): number {
  const dir = path.dirname(file);
  const tempPath = tempPathOf(file);
  try {
    const created = mkdirSync(dir, { recursive: true });
    if (created) syncFolderNow(path.dirname(created));
    const fd = openSync(tempPath, "w");
    let bytes = 0;
    try {
      for (let pending = chunks; pending.length > 0;) {
        const batch = pending.slice(0, WRITEV_CHUNKS);
        const written = writevSync(fd, batch);
        bytes += written;
        pending = afterWrite(pending, batch, written);
      }
      fsyncSync(fd);
    } catch (e) {
      try { closeSync(fd); } catch { /* the write's error is the one to report */ }
      throw e;
    }
    closeSync(fd);
    renameSync(tempPath, file);
    syncFolderNow(dir);
    return bytes;
  } catch (e) {
    rmSync(tempPath, { force: true });
    throw pathError(file, e, "write failed");
  }
}

/** Syncs a folder, so that a rename or a new entry in it reaches the disk. */
export async function syncFolder(dir: string): Promise<void> {
  const folder = await fs.open(dir, "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

function syncFolderNow(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes all of the chunks, in order, with as few system calls as the chunks allow (one writev each for
 * up to WRITEV_CHUNKS of them: a Parquet file arrives as dozens of pieces, and in a busy thread every
 * further call waits for its event loop's next turn).
 */
async function writeFully(handle: FileHandle, chunks: Uint8Array[]): Promise<number> {
  let total = 0;
  for (let pending = chunks; pending.length > 0;) {
    const batch = pending.slice(0, WRITEV_CHUNKS);
    const { bytesWritten } = await handle.writev(batch);
    total += bytesWritten;
    pending = afterWrite(pending, batch, bytesWritten);
  }
  return total;
}

/** Chunks at once in one writev (Linux's IOV_MAX is 1024). */
const WRITEV_CHUNKS = 1024;

const nonEmpty = (chunks: Iterable<Uint8Array>) => [...chunks].filter((chunk) => chunk.byteLength > 0);

/**
 * What is left to write after a writev of `batch` (the first chunks of `pending`) stored `written` bytes.
 * A write may store fewer bytes than asked (a disk filling up): the rest is written until the disk says
 * why it cannot; a write that stores nothing fails.
 */
function afterWrite(pending: Uint8Array[], batch: Uint8Array[], written: number): Uint8Array[] {
  if (written === 0) throw new Error(`the disk took none of the last ${pending.reduce((sum, chunk) => sum + chunk.byteLength, 0)} bytes`);
  const asked = batch.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  if (written === asked) return pending.slice(batch.length);
  let skip = written;
  let first = 0;
  while (skip >= pending[first].byteLength) skip -= pending[first++].byteLength;
  return [pending[first].subarray(skip), ...pending.slice(first + 1)];
}
