// rd.readSql's datasource: one read task, or with shard keys one task per shard, each running the query
// restricted to the rows whose keys hash to its shard (as Ray Data's read_sql), so every row is read once.
import { blockBytes, concatBlocks, type Block } from "../../block";
import type { Datasource, ReadContext, ReadTask } from "../datasource";
import { checkSqlArguments, connect, type ConnectionFactory } from "./connection";
import { blockFromSqlRows } from "./columns";
import type { SqlConnection } from "./types";

export interface SqlReadOptions {
  /** Columns whose hash splits the query into `parallelism` shards, one read task each; without them the query is one task. */
  shardKeys?: string[];
  /** How many shards (read tasks) with shardKeys; by default overrideNumBlocks, else twice the CPU slots. */
  parallelism?: number;
}

/** What one read task gets: its shard, and the size its blocks should reach. */
export interface SqlReadInput { shard: number; shards: number; targetBlockBytes: number }

/** Rows fetched from the database at a time. */
const FETCH_ROWS = 10_000;

export class SqlDatasource implements Datasource<SqlReadInput> {
  readonly name = "Sql";
  private readonly sql: string;

  constructor(sql: string, private readonly factory: ConnectionFactory, private readonly options: SqlReadOptions = {}) {
    checkSqlArguments("readSql", sql, factory);
    const { shardKeys, parallelism } = options;
    if (shardKeys !== undefined && !(Array.isArray(shardKeys) && shardKeys.every((k) => typeof k === "string" && k !== ""))) {
      throw new TypeError(`readSql: shardKeys must be a list of column names, got ${JSON.stringify(shardKeys)}`);
    }
    if (parallelism !== undefined && !(Number.isInteger(parallelism) && parallelism > 0)) {
      throw new RangeError(`readSql: parallelism must be a positive integer, got ${parallelism}`);
    }
    if (parallelism !== undefined && !shardKeys?.length) throw new RangeError("readSql: parallelism needs shardKeys: without them the query is read by one task");
    // A trailing semicolon would end the query where it becomes a subquery or a cursor's.
    this.sql = sql.trim().replace(/;\s*$/, "");
  }

  *getReadTasks(context: ReadContext): Iterable<ReadTask<SqlReadInput>> {
    const shards = this.options.shardKeys?.length ? this.options.parallelism ?? context.overrideNumBlocks ?? context.parallelism : 1;
    for (let shard = 0; shard < shards; shard++) yield { input: { shard, shards, targetBlockBytes: context.targetBlockBytes } };
  }

  /** The shard's rows, in blocks of about the target size. */
  async *read(input: SqlReadInput): AsyncGenerator<Block> {
    const where = `ReadSql (shard ${input.shard} of ${input.shards})`;
    const connection = await connect(this.factory, where);
    try {
      let pending: Block[] = [];
      let bytes = 0;
      let rows = 0;
      for await (const batch of connection.query(this.shardQuery(connection, input), FETCH_ROWS)) {
        const block = blockFromSqlRows(batch, rows, where);
        rows += block.numRows;
        pending.push(block);
        bytes += blockBytes(block);
        if (bytes >= input.targetBlockBytes) {
          yield concatBlocks(pending);
          pending = [];
          bytes = 0;
        }
      }
      if (pending.length > 0) yield concatBlocks(pending);
    } finally {
      await connection.close();
    }
  }

  private shardQuery(connection: SqlConnection, { shard, shards }: SqlReadInput): string {
    const keys = this.options.shardKeys ?? [];
    if (keys.length === 0 || shards === 1) return this.sql;
    if (!connection.shardPredicate) {
      throw new Error("ReadSql: shardKeys need a connection that can hash rows into shards (SqlConnection.shardPredicate); this one cannot");
    }
    return `SELECT * FROM (${this.sql}) AS rdpipe_shard WHERE ${connection.shardPredicate(keys, shards, shard)}`;
  }
}
