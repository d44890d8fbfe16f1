// File metadata (rows, row groups, Arrow schema) cached on disk, keyed by (path, size, etag), so a
// later run, `schema()` and the editor skip the footer reads. One JSON file per listed source, under
// RDPIPE_CACHE_DIR (default ~/.cache/rdpipe/metadata). Entries whose size or etag changed are misses.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Table, tableFromIPC, tableToIPC, type Schema } from "apache-arrow";
import type { FileRef } from "./types";

export interface FileMetadata {
  rows?: number;
  inMemoryBytes?: number;
  schema?: Schema;
  /** Rows and uncompressed bytes of each Parquet row group. */
  rowGroups?: { rows: number; bytes: number }[];
}

interface StoredEntry {
  size: number;
  etag: string;
  rows?: number;
  inMemoryBytes?: number;
  /** The Arrow schema as a schema-only IPC stream, base64. */
  schema?: string;
  rowGroups?: { rows: number; bytes: number }[];
}

const VERSION = 1;

export function metadataCacheDir(): string {
  return process.env.RDPIPE_CACHE_DIR || path.join(os.homedir() || os.tmpdir(), ".cache", "rdpipe", "metadata");
}

export class MetadataCache {
  private changed = false;

  private constructor(private readonly file: string, private readonly entries: Map<string, StoredEntry>) {}

  /** The cache for a source (its format and listed paths); empty when there is none yet or it cannot be read. */
  static async open(format: string, paths: string[]): Promise<MetadataCache> {
    const key = createHash("sha256").update(JSON.stringify([format, [...paths].sort()])).digest("hex").slice(0, 32);
    const file = path.join(metadataCacheDir(), `${key}.json`);
    let entries = new Map<string, StoredEntry>();
    try {
      const stored = JSON.parse(await fs.readFile(file, "utf8")) as { version: number; entries: Record<string, StoredEntry> };
      if (stored.version === VERSION) entries = new Map(Object.entries(stored.entries));
    } catch {
      // No cache yet, or an unreadable one: start empty.
    }
    return new MetadataCache(file, entries);
  }

  get(file: FileRef): FileMetadata | undefined {
    const entry = this.entries.get(file.path);
    if (!entry || entry.size !== file.size || entry.etag !== (file.etag ?? "")) return undefined;
    return {
      rows: entry.rows, inMemoryBytes: entry.inMemoryBytes, rowGroups: entry.rowGroups,
      schema: entry.schema === undefined ? undefined : tableFromIPC(Buffer.from(entry.schema, "base64")).schema,
    };
  }

  set(file: FileRef, metadata: FileMetadata): void {
    this.entries.set(file.path, {
      size: file.size, etag: file.etag ?? "", rows: metadata.rows, inMemoryBytes: metadata.inMemoryBytes, rowGroups: metadata.rowGroups,
      schema: metadata.schema === undefined ? undefined : Buffer.from(tableToIPC(new Table(metadata.schema), "stream")).toString("base64"),
    });
    this.changed = true;
  }

  /** Writes the cache if it changed (to a temporary file, then renamed); a cache that cannot be written is skipped. */
  async save(): Promise<void> {
    if (!this.changed) return;
    const temp = `${this.file}.${process.pid}.tmp`;
    try {
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      await fs.writeFile(temp, JSON.stringify({ version: VERSION, entries: Object.fromEntries(this.entries) }));
      await fs.rename(temp, this.file);
      this.changed = false;
    } catch {
      await fs.rm(temp, { force: true }).catch(() => undefined);
    }
  }
}
