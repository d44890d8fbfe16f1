// SQL databases as a source (rd.readSql) and a sink (ds.writeSql), over a small connection interface with
// adapters for better-sqlite3 and pg.
export type { SqlColumn, SqlConnection, SqlRows, SqlType, SqlValue } from "./types";
export { SqlRowError } from "./types";
export { asSqlConnection, type ConnectionFactory } from "./connection";
export { sqliteFactory, type BetterSqlite3Database, type SqliteOptions } from "./sqlite";
export { postgresFactory, type PgClient, type PgConfig } from "./postgres";
export { SqlDatasource, type SqlReadOptions } from "./datasource";
export { SqlDatasink } from "./datasink";
