// The small connection interface rdpipe's SQL source and sink talk to (readSql, writeSql); better-sqlite3
// and pg are adapted to it in ./sqlite and ./postgres, and a user can implement it for another database.

/** A value as it goes into or comes out of a database. */
export type SqlValue = null | number | bigint | string | boolean | Uint8Array | Date;

/** A result column's type as rdpipe maps it to Arrow; "unknown" columns are typed from their values. */
export type SqlType = "int" | "float" | "text" | "bool" | "binary" | "unknown";

export interface SqlColumn { name: string; type: SqlType }

/** Some rows of a query: each row holds one value per column, in the columns' order. */
export interface SqlRows { columns: SqlColumn[]; rows: SqlValue[][] }

/** What readSql and writeSql need of a database connection. Adapters for better-sqlite3 and pg come built in. */
export interface SqlConnection {
  /** The rows of a query, in batches of about batchRows rows, streamed where the driver can. */
  query(sql: string, batchRows: number): AsyncIterable<SqlRows>;
  /**
   * An SQL condition true for exactly the rows whose key columns hash to `shard` (of `shards`): readSql's
   * shardKeys need it. The hash must be a function of the keys' values alone, so every row is in one shard.
   */
  shardPredicate?(keys: string[], shards: number, shard: number): string;
  /** Runs insertSql once per row (batched as the driver allows) in the open transaction; a failure throws SqlRowError. */
  insertRows(insertSql: string, rows: SqlValue[][]): Promise<void>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}

/** An insert failed on one row: `index` is its position among the rows given to insertRows. */
export class SqlRowError extends Error {
  override name = "SqlRowError";
  constructor(readonly index: number, override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** `"name"`: an identifier quoted for SQLite and PostgreSQL alike. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
