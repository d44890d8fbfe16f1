// Local disk. Writes go to a hidden temporary file beside the target, written whole and synced, then
// renamed into place: a file is never visible under its final name unless complete.
import { randomBytes } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { pathError } from "../errors";
import type { FileInfo, FileSystem, ListingPage } from "./types";

export class LocalFileSystem implements FileSystem {
  readonly description = { kind: "local" as const };

  async *listDirectory(dir: string): AsyncIterable<ListingPage> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const page: ListingPage = { files: [], directories: [] };
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      // stat answers null for an entry that went away since readdir (a temporary file renamed into place).
      const info = await this.stat(full);
      if (info === "directory") page.directories.push(full);
      else if (info) page.files.push(info);
    }
    yield page;
  }

  async stat(file: string): Promise<FileInfo | "directory" | null> {
    try {
      const stat = await fs.stat(file);
      return stat.isDirectory() ? "directory" : { path: file, size: stat.size, etag: String(stat.mtimeMs) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  async readRange(file: string, start: number, end: number): Promise<Uint8Array> {
    const handle = await fs.open(file, "r");
    try {
      // Not zeroed first: only the bytes read are returned.
      const bytes: Uint8Array = Buffer.allocUnsafeSlow(end - start);
      let filled = 0;
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === bytes.length ? bytes : bytes.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async readAll(file: string): Promise<Uint8Array> {
    return new Uint8Array(await fs.readFile(file));
  }

  readStream(file: string): Readable {
    return createReadStream(file);
  }

  async write(file: string, chunks: Iterable<Uint8Array>): Promise<number> {
    const dir = path.dirname(file);
    const tempPath = path.join(dir, `.${path.basename(file)}.tmp`);
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
      // The rename itself must reach the disk before anything that depends on the file (a checkpoint commit).
      await syncFolder(dir);
      return bytes;
    } catch (e) {
      await fs.rm(tempPath, { force: true }).catch(() => undefined);
      throw pathError(file, e, "write failed");
    }
  }

  async writeIfAbsent(file: string, data: Uint8Array): Promise<"created" | "exists"> {
    // Written whole under a name of its own, then linked to the target: link() fails if the target exists.
    const dir = path.dirname(file);
    const tempPath = path.join(dir, `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
    await fs.mkdir(dir, { recursive: true });
    try {
      await fs.writeFile(tempPath, data, { flag: "wx", flush: true });
      await fs.link(tempPath, file);
      await syncFolder(dir);
      return "created";
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return "exists";
      throw e;
    } finally {
      await fs.rm(tempPath, { force: true });
    }
  }

  async deleteByPrefix(dir: string, namePrefix: string): Promise<number> {
    if (namePrefix === "") {
      const existed = (await this.stat(dir)) !== null;
      await fs.rm(dir, { recursive: true, force: true });
      return existed ? 1 : 0;
    }
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw e;
    }
    // Our own in-flight temporary files (.name.tmp) go too.
    const doomed = names.filter((name) => name.startsWith(namePrefix) || (name.startsWith(`.${namePrefix}`) && name.endsWith(".tmp")));
    await Promise.all(doomed.map((name) => fs.rm(path.join(dir, name), { force: true })));
    return doomed.length;
  }

  async renameFile(from: string, to: string): Promise<void> {
    await fs.rename(from, to);
    await syncFolder(path.dirname(to));
  }

  async deleteFiles(paths: string[]): Promise<void> {
    await Promise.all(paths.map((file) => fs.rm(file, { force: true })));
  }

  join(dir: string, name: string): string {
    return path.join(dir, name);
  }

  // ---------------------------------------------------------------- folders (overwrite's staging swap)

  async renameFolder(from: string, to: string): Promise<void> {
    await fs.rename(from, to);
    for (const dir of new Set([path.dirname(from), path.dirname(to)])) await syncFolder(dir);
  }

  async makeFolder(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
  }

  async removeEmptyFolder(dir: string): Promise<boolean> {
    try {
      await fs.rmdir(dir);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return true;
      if (code === "ENOTEMPTY" || code === "EEXIST") return false;
      throw e;
    }
  }
}

async function syncFolder(dir: string): Promise<void> {
  const folder = await fs.open(dir, "r");
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/**
 * Writes all of the chunks, in order, with as few system calls as the chunks allow (one writev each for
 * up to WRITEV_CHUNKS of them: a Parquet file arrives as dozens of pieces, and in a busy worker every
 * further call waits for its event loop's next turn). A write may store fewer bytes than asked (a disk
 * filling up); the rest is written until the disk says why it cannot.
 */
async function writeFully(handle: FileHandle, chunks: Iterable<Uint8Array>): Promise<number> {
  let pending = [...chunks].filter((chunk) => chunk.byteLength > 0);
  let total = 0;
  while (pending.length > 0) {
    const batch = pending.slice(0, WRITEV_CHUNKS);
    const { bytesWritten } = await handle.writev(batch);
    const asked = batch.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    if (bytesWritten === 0) throw new Error(`the disk took none of the last ${pending.reduce((sum, chunk) => sum + chunk.byteLength, 0)} bytes`);
    total += bytesWritten;
    pending = bytesWritten === asked ? pending.slice(batch.length) : afterBytes(pending, bytesWritten);
  }
  return total;
}

/** Chunks at once in one writev (Linux's IOV_MAX is 1024). */
const WRITEV_CHUNKS = 1024;

/** The chunks past their first `written` bytes. */
function afterBytes(chunks: Uint8Array[], written: number): Uint8Array[] {
  let skip = written;
  let first = 0;
  while (skip >= chunks[first].byteLength) skip -= chunks[first++].byteLength;
  return [chunks[first].subarray(skip), ...chunks.slice(first + 1)];
}
