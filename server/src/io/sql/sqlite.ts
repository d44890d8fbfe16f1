// SQLite through better-sqlite3 (synchronous, so it runs in the worker thread that reads or writes):
// typed columns from the declared types, integers as bigint, shards by a hash function registered on the
// connection, inserts through one prepared statement.
import { hashText } from "../../block";
import { optionalPackage } from "../optional";
import { quoteIdentifier, SqlRowError, type SqlColumn, type SqlConnection, type SqlRows, type SqlType, type SqlValue } from "./types";

/** The part of better-sqlite3's Database (12.x) the adapter uses. */
export interface BetterSqlite3Database {
  prepare(sql: string): BetterSqlite3Statement;
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
  function(name: string, options: { deterministic: boolean; varargs: boolean; safeIntegers: boolean }, fn: (...args: unknown[]) => unknown): unknown;
  close(): unknown;
  readonly inTransaction: boolean;
}

interface BetterSqlite3Statement {
  readonly reader: boolean;
  raw(on: boolean): this;
  safeIntegers(on: boolean): this;
  columns(): { name: string; type: string | null }[];
  iterate(): IterableIterator<SqlValue[]>;
  run(...params: unknown[]): unknown;
}

export function isBetterSqlite3(value: unknown): value is BetterSqlite3Database {
  const db = value as Partial<BetterSqlite3Database> | null;
  return typeof db?.prepare === "function" && typeof db.pragma === "function" && typeof db.exec === "function";
}

export interface SqliteOptions {
  /** How long a write waits for another connection's lock, in ms (default 60 000: tasks write concurrently). */
  timeout?: number;
  /** Opens the file read-only. */
  readonly?: boolean;
  /**
   * Switches the file to write-ahead logging, so that readers and a writer do not wait for each other: a
   * pipeline that reads and writes one SQLite file needs it (a read holds its lock while the task writes).
   */
  wal?: boolean;
}

/** A connection factory for a SQLite file, with better-sqlite3 (loaded where the factory is first called). */
export function sqliteFactory(file: string, options: SqliteOptions = {}): () => BetterSqlite3Database {
  return () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Database = optionalPackage(() => require("better-sqlite3") as new (file: string, options: object) => BetterSqlite3Database, "better-sqlite3", "12.11.1", "SQLite connections");
    const db = new Database(file, { timeout: options.timeout ?? 60_000, readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    try {
      if (options.wal) switchToWal(db, options.timeout ?? 60_000);
    } catch (error) {
      db.close();
      throw error;
    }
    return db;
  };
}

/**
 * SQLite does not call the busy handler when connections opening a new file race to switch it to WAL; the
 * loser gets "database is locked" at once (1 of 800 connections, four workers opening one new file), so the
 * switch is retried until the connection's own lock timeout.
 */
function switchToWal(db: BetterSqlite3Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 100)) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() >= deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
    }
  }
}

const SHARD_HASH = "rdpipe_shard_hash";

/** The column type SQLite's affinity rules give a declared type; undeclared (an expression's) is typed from values. */
export function sqliteColumnType(declared: string | null): SqlType {
  const type = (declared ?? "").toUpperCase();
  if (type.includes("BOOL")) return "bool";
  if (type.includes("INT")) return "int";
  if (/CHAR|CLOB|TEXT/.test(type)) return "text";
  if (type.includes("BLOB")) return "binary";
  if (/REAL|FLOA|DOUB/.test(type)) return "float";
  return "unknown";
}

/** A hash of the keys' text: the same keys give the same shard in every worker. */
function shardHash(...keys: unknown[]): number {
  return hashText(keys.map((key) => (key === null ? "\u0000" : key instanceof Uint8Array ? Buffer.from(key).toString("hex") : String(key))).join("\u001f"));
}

/** A value better-sqlite3 can bind: booleans as 0/1, dates as ISO text, bytes as a Buffer. */
function bindable(value: SqlValue): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

export class BetterSqlite3Connection implements SqlConnection {
  constructor(private readonly db: BetterSqlite3Database) {
    db.function(SHARD_HASH, { deterministic: true, varargs: true, safeIntegers: true }, shardHash);
  }

  async *query(sql: string, batchRows: number): AsyncGenerator<SqlRows> {
    const statement = this.db.prepare(sql);
    if (!statement.reader) throw new Error(`not a query (it returns no rows): ${sql}`);
    statement.raw(true).safeIntegers(true);
    const columns: SqlColumn[] = statement.columns().map((c) => ({ name: c.name, type: sqliteColumnType(c.type) }));
    let rows: SqlValue[][] = [];
    for (const row of statement.iterate()) {
      rows.push(row);
      if (rows.length >= batchRows) { yield { columns, rows }; rows = []; }
    }
    if (rows.length > 0) yield { columns, rows };
  }

  shardPredicate(keys: string[], shards: number, shard: number): string {
    return `${SHARD_HASH}(${keys.map(quoteIdentifier).join(", ")}) % ${shards} = ${shard}`;
  }

  async insertRows(insertSql: string, rows: SqlValue[][]): Promise<void> {
    const statement = this.db.prepare(insertSql);
    for (let i = 0; i < rows.length; i++) {
      try {
        statement.run(...rows[i].map(bindable));
      } catch (e) {
        throw new SqlRowError(i, e);
      }
    }
  }

  // IMMEDIATE takes the write lock at once: two writers never both hold read locks they must upgrade.
  async begin(): Promise<void> { this.db.exec("BEGIN IMMEDIATE"); }
  async commit(): Promise<void> { this.db.exec("COMMIT"); }
  async rollback(): Promise<void> { if (this.db.inTransaction) this.db.exec("ROLLBACK"); }
  async close(): Promise<void> { this.db.close(); }
}
