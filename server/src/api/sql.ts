// SQL databases in the public API: rd.readSql and the connection factories rd.sqlite and rd.postgres
// (ds.writeSql is a Dataset method). Connection factories run in the workers, so the pipeline file defines them.
import { SqlDatasource, postgresFactory, type BetterSqlite3Database, sqliteFactory, type ConnectionFactory, type PgConfig, type SqlReadOptions, type SqliteOptions } from "../io";
import { newOpId } from "../plan";
import { Dataset } from "./dataset";
import { resolveUserPath } from "./paths";

/**
 * The rows of an SQL query (Ray Data's read_sql). With `shardKeys`, `parallelism` read tasks each read the
 * rows whose keys hash to their shard; without them one task reads the whole query.
 */
export function readSql(sql: string, connectionFactory: ConnectionFactory, options: SqlReadOptions = {}): Dataset {
  const datasource = new SqlDatasource(sql, connectionFactory, options);
  return new Dataset({ id: newOpId(), kind: "read", name: "ReadSql", source: { type: "datasource", datasource } });
}

/** A connection factory for a SQLite file (relative to the pipeline file), through better-sqlite3. */
export function sqlite(file: string, options: SqliteOptions = {}): () => BetterSqlite3Database {
  if (typeof file !== "string" || file === "") throw new TypeError(`sqlite: expected a file path, got ${JSON.stringify(file)}`);
  return sqliteFactory(resolveUserPath(file), options);
}

/** A connection factory for PostgreSQL through pg: its Client's settings (host may be a unix socket folder) or a connection string. */
export function postgres(config: PgConfig | string): ConnectionFactory {
  return postgresFactory(config);
}
