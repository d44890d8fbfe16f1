// ds.writeSql's datasink: each block is inserted in one transaction, so a block is in the table whole or
// not at all; a failing insert rolls its block back and names the row.
import { blockBytes, blockToRows, preview, sliceBlock, type Block } from "../../block";
import type { Datasink, WriteContext, WriteResult } from "../datasink";
import { sqlParameters } from "./columns";
import { checkSqlArguments, connect, type ConnectionFactory } from "./connection";
import { SqlRowError, type SqlValue } from "./types";

export class SqlDatasink implements Datasink {
  readonly name = "WriteSql";
  /** What the results name as written to: the insert's table. */
  private readonly target: string;

  constructor(private readonly insertSql: string, private readonly factory: ConnectionFactory) {
    checkSqlArguments("writeSql", insertSql, factory);
    this.target = /^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+("[^"]+"|[^\s(]+)/i.exec(insertSql)?.[1] ?? "sql";
  }

  async write(block: Block, context: WriteContext): Promise<WriteResult> {
    const rows = sqlParameters(block);
    const connection = await connect(this.factory, `WriteSql (block ${context.blockIndex} of write task ${context.taskIndex})`);
    try {
      await connection.begin();
      try {
        await connection.insertRows(this.insertSql, rows);
        await connection.commit();
      } catch (e) {
        await connection.rollback().catch(() => undefined);
        throw new Error(`${failure(e, rows, block)}; the block's transaction was rolled back, so none of its ${rows.length} rows were written`, { cause: e });
      }
    } finally {
      await connection.close().catch(() => undefined);
    }
    return { path: `${this.target} (${context.name})`, rows: block.numRows, bytes: blockBytes(block) };
  }
}

function failure(e: unknown, rows: SqlValue[][], block: Block): string {
  if (e instanceof SqlRowError) {
    const row = e.index < rows.length ? blockToRows(sliceBlock(block, e.index, e.index + 1))[0] : undefined;
    return `row ${e.index} of the block ${preview(row, 200)} failed: ${describe(e.cause)}`;
  }
  return `inserting its rows failed: ${describe(e)}`;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
}
