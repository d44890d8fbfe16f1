// PostgreSQL through pg (node-postgres): a query streams through a cursor in a transaction, columns are
// typed by their type OIDs (int8 as bigint, numeric as exact text), and inserts of the usual
// `INSERT … VALUES ($1, …, $k)` form are sent many rows to a statement.
import { quoteIdentifier, SqlRowError, type SqlConnection, type SqlRows, type SqlType, type SqlValue } from "./types";

interface PgQueryConfig {
  text: string;
  values?: unknown[];
  rowMode?: "array";
  types?: { getTypeParser(oid: number, format?: string): (text: string) => unknown };
}

/** The part of pg's Client (8.x) the adapter uses. */
export interface PgClient {
  query(config: PgQueryConfig | string): Promise<{ fields: { name: string; dataTypeID: number }[]; rows: SqlValue[][] }>;
  connect(): Promise<unknown>;
  end(): Promise<unknown>;
  escapeIdentifier(name: string): string;
}

/** A pg Client (not a Pool: a transaction must stay on one connection). */
export function isPgClient(value: unknown): value is PgClient {
  const client = value as Partial<PgClient> | null;
  return typeof client?.query === "function" && typeof client.connect === "function" && typeof client.escapeIdentifier === "function";
}

/** pg's connection settings (host may be a unix socket folder); see node-postgres' Client. */
export type PgConfig = Record<string, unknown> & { host?: string; port?: number; user?: string; password?: string; database?: string };

/** A connection factory for PostgreSQL, with pg (loaded where the factory is first called). */
export function postgresFactory(config: PgConfig | string): () => Promise<PgClient> {
  return async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pg = require("pg") as { Client: new (config: PgConfig | string) => PgClient };
    const client = new pg.Client(config);
    await client.connect();
    return client;
  };
}

const INT = [20, 21, 23, 26];
const FLOAT = [700, 701];
const TEXT = [18, 19, 25, 1042, 1043, 1700];

function pgColumnType(oid: number): SqlType {
  if (INT.includes(oid)) return "int";
  if (FLOAT.includes(oid)) return "float";
  if (TEXT.includes(oid)) return "text";
  if (oid === 16) return "bool";
  if (oid === 17) return "binary";
  return "unknown";
}

/** int8 as bigint (exact beyond 2^53) and numeric as its exact text; every other type as pg parses it. */
const typeParsers: PgQueryConfig["types"] = {
  getTypeParser(oid, format) {
    if (oid === 20) return (text) => BigInt(text);
    if (oid === 1700) return (text) => text;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("pg") as { types: NonNullable<PgQueryConfig["types"]> }).types.getTypeParser(oid, format);
  },
};

/** A value pg sends as a parameter: bigint as its text, bytes as a Buffer. */
function parameter(value: SqlValue): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

/** `INSERT … VALUES ($1, …, $k)`, split where more rows' tuples can go; undefined for any other form. */
function multiRowForm(insertSql: string): { head: string; width: number } | undefined {
  const match = /^([\s\S]*\bVALUES\s*)\(([^()]*)\)\s*;?\s*$/i.exec(insertSql);
  if (!match) return undefined;
  const params = match[2].split(",").map((p) => p.trim());
  return params.every((p, i) => p === `$${i + 1}`) ? { head: match[1], width: params.length } : undefined;
}

const CURSOR = "rdpipe_read";
const SAVEPOINT = "rdpipe_insert";
/** Rows per multi-row insert: PostgreSQL takes at most 65 535 parameters a statement. */
const MAX_ROWS_PER_INSERT = 1000;

export class PgConnection implements SqlConnection {
  constructor(private readonly client: PgClient) {}

  /** Through a cursor, so a large result arrives batch by batch. */
  async *query(sql: string, batchRows: number): AsyncGenerator<SqlRows> {
    await this.client.query("BEGIN READ ONLY");
    let open = true;
    try {
      await this.client.query(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${sql}`);
      for (;;) {
        const result = await this.client.query({ text: `FETCH FORWARD ${batchRows} FROM ${CURSOR}`, rowMode: "array", types: typeParsers });
        if (result.rows.length > 0) {
          yield { columns: result.fields.map((f) => ({ name: f.name, type: pgColumnType(f.dataTypeID) })), rows: result.rows };
        }
        if (result.rows.length < batchRows) break;
      }
      open = false;
      await this.client.query("COMMIT");
    } finally {
      if (open) await this.client.query("ROLLBACK").catch(() => undefined);
    }
  }

  shardPredicate(keys: string[], shards: number, shard: number): string {
    const text = keys.map((k) => `${quoteIdentifier(k)}::text`).join(", ");
    // mod of a negative hash is negative: shifted into 0..shards-1 (abs would overflow on the smallest bigint).
    return `mod(mod(hashtextextended(concat_ws(chr(31), ${text}), 0), ${shards}) + ${shards}, ${shards}) = ${shard}`;
  }

  async insertRows(insertSql: string, rows: SqlValue[][]): Promise<void> {
    const form = multiRowForm(insertSql);
    if (!form || rows.length <= 1) return this.insertOneByOne(insertSql, rows);
    await this.client.query(`SAVEPOINT ${SAVEPOINT}`);
    const perInsert = Math.max(1, Math.min(MAX_ROWS_PER_INSERT, Math.floor(65_535 / form.width)));
    for (let start = 0; start < rows.length; start += perInsert) {
      const chunk = rows.slice(start, start + perInsert);
      const tuples = chunk.map((_, r) => `(${Array.from({ length: form.width }, (_, c) => `$${r * form.width + c + 1}`).join(", ")})`);
      try {
        await this.client.query({ text: form.head + tuples.join(", "), values: chunk.flat().map(parameter) });
      } catch (e) {
        // Which row failed: the block's rows again, one at a time, from where the batch began.
        await this.client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
        await this.insertOneByOne(insertSql, rows.slice(0, start + chunk.length));
        throw e;
      }
    }
  }

  private async insertOneByOne(insertSql: string, rows: SqlValue[][]): Promise<void> {
    for (let i = 0; i < rows.length; i++) {
      try {
        await this.client.query({ text: insertSql, values: rows[i].map(parameter) });
      } catch (e) {
        throw new SqlRowError(i, e);
      }
    }
  }

  async begin(): Promise<void> { await this.client.query("BEGIN"); }
  async commit(): Promise<void> { await this.client.query("COMMIT"); }
  async rollback(): Promise<void> { await this.client.query("ROLLBACK"); }
  async close(): Promise<void> { await this.client.end(); }
}
