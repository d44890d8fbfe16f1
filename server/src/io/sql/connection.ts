// Connecting: a connection factory returns a SqlConnection, or a better-sqlite3 Database or a pg Client,
// which are wrapped in their adapters here.
import { preview } from "../../block";
import type { SqlConnection } from "./types";
import { BetterSqlite3Connection, isBetterSqlite3, type BetterSqlite3Database } from "./sqlite";
import { PgConnection, isPgClient, type PgClient } from "./postgres";

/** What readSql and writeSql call, in each worker, to connect: the connection, or a better-sqlite3 Database or pg Client to wrap. */
export type ConnectionFactory = () => SqlConnection | BetterSqlite3Database | PgClient | Promise<SqlConnection | BetterSqlite3Database | PgClient>;

/** A SqlConnection for what a factory returned: wrapped when it is a better-sqlite3 Database or a pg Client. */
export function asSqlConnection(value: unknown, where: string): SqlConnection {
  if (isBetterSqlite3(value)) return new BetterSqlite3Connection(value);
  if (isPgClient(value)) return new PgConnection(value);
  const connection = value as Partial<SqlConnection> | null;
  const methods = ["query", "insertRows", "begin", "commit", "rollback", "close"] as const;
  const missing = methods.filter((m) => typeof connection?.[m] !== "function");
  if (missing.length === 0) return connection as SqlConnection;
  throw new TypeError(`${where}: the connection factory returned ${preview(value, 80)}, which is neither a SqlConnection ` +
    `(it lacks ${missing.join(", ")}) nor a better-sqlite3 Database or pg Client`);
}

/** Calls the factory and wraps what it returns; a failure to connect names `where`. */
export async function connect(factory: ConnectionFactory, where: string): Promise<SqlConnection> {
  let value: unknown;
  try {
    value = await factory();
  } catch (e) {
    throw new Error(`${where}: the connection factory failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  }
  return asSqlConnection(value, where);
}

/** The arguments readSql and writeSql share: a statement, and a factory function to run in the workers. */
export function checkSqlArguments(method: string, sql: unknown, factory: unknown): void {
  if (typeof sql !== "string" || sql.trim() === "") throw new TypeError(`${method}: expected an SQL statement, got ${preview(sql, 80)}`);
  if (typeof factory !== "function") {
    throw new TypeError(`${method}: expected a connection factory, a function returning a connection (e.g. rd.sqlite(file) or rd.postgres(config)), got ${preview(factory, 80)}`);
  }
}
