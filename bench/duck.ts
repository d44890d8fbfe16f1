// DuckDB helpers for the bench: generate the Parquet input once, and read results back independently
// of the engine (so a bench cannot pass by writing nothing).
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";

export const INPUT_FILES = 10;
export const ROWS_PER_FILE = 500_000;
export const ROW_GROUP_ROWS = 100_000;

/** A fresh in-memory DuckDB for `fn`, with settings such as `{ threads: "2", memory_limit: "256MB" }`. */
export async function withDuck<T>(fn: (conn: DuckDBConnection) => Promise<T>, options: Record<string, string> = {}): Promise<T> {
  const instance = await DuckDBInstance.create(":memory:", options);
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const sqlPath = (p: string) => `'${p.replace(/'/g, "''")}'`;

/**
 * Writes dir/part-XX.parquet (id BIGINT, price DOUBLE, qty INT, name VARCHAR(20), flag BOOLEAN) unless already
 * there: `fileCount` files of `rowsPerFile` rows, ids 0..N-1 in order.
 */
export async function ensureInput(dir: string, fileCount = INPUT_FILES, rowsPerFile = ROWS_PER_FILE): Promise<{ files: string[]; generated: boolean; seconds: number }> {
  const spec = `v1 files=${fileCount} rows=${rowsPerFile} rowGroup=${ROW_GROUP_ROWS} snappy`;
  // The marker sits beside the folder: a reader given the folder should see only Parquet files.
  const marker = `${dir}.SPEC`;
  const files = Array.from({ length: fileCount }, (_, i) => path.join(dir, `part-${String(i).padStart(2, "0")}.parquet`));
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === spec && files.every((f) => fs.existsSync(f))) {
    return { files, generated: false, seconds: 0 };
  }
  const started = performance.now();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  await withDuck(async (conn) => {
    for (let f = 0; f < fileCount; f++) {
      const base = f * rowsPerFile;
      // Row order is kept (ORDER BY) so every row group holds ~ROW_GROUP_ROWS rows in id order.
      await conn.run(`
        COPY (
          SELECT (${base} + i)::BIGINT AS id,
                 round(((${base} + i) * 7919 % 100000) / 100.0 + 0.01, 2)::DOUBLE AS price,
                 ((${base} + i) * 31 % 97 + 1)::INTEGER AS qty,
                 substr(md5((${base} + i)::VARCHAR), 1, 20) AS name,
                 ((${base} + i) % 3 = 0) AS flag
          FROM range(${rowsPerFile}) t(i)
          ORDER BY i
        ) TO ${sqlPath(files[f])} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`);
    }
  });
  fs.writeFileSync(marker, spec);
  return { files, generated: true, seconds: (performance.now() - started) / 1000 };
}

export interface ParquetSummary { rows: number; files: number; sumTotal: number; sumPriceQty: number; distinctIds: number }

/** Counts rows and sums `total` (if present) and price*qty over every Parquet file in dir, with DuckDB. */
export async function summarize(dir: string, withTotal: boolean): Promise<ParquetSummary> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".parquet")).length;
  if (files === 0) return { rows: 0, files: 0, sumTotal: 0, sumPriceQty: 0, distinctIds: 0 };
  return withDuck(async (conn) => {
    const glob = sqlPath(path.join(dir, "*.parquet"));
    const reader = await conn.runAndReadAll(
      `SELECT count(*)::DOUBLE, ${withTotal ? "sum(total)" : "0"}::DOUBLE, sum(price * qty)::DOUBLE, count(DISTINCT id)::DOUBLE
       FROM read_parquet(${glob})`);
    const [rows, sumTotal, sumPriceQty, distinctIds] = reader.getRows()[0].map(Number);
    return { rows, files, sumTotal, sumPriceQty, distinctIds };
  });
}

/** Rows per row group of one file, as DuckDB sees them. */
export async function rowGroupSizes(file: string): Promise<number[]> {
  return withDuck(async (conn) => {
    const reader = await conn.runAndReadAll(
      `SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(${sqlPath(file)}) ORDER BY row_group_id`);
    return reader.getRows().map((r) => Number(r[1]));
  });
}

/** DuckDB's own run of the batch job (read, total = price × qty, write snappy Parquet) on `threads` threads; seconds. */
export async function duckBatchJob(inputDir: string, outFile: string, threads: number): Promise<number> {
  fs.rmSync(outFile, { force: true });
  return withDuck(async (conn) => {
    await conn.run(`SET threads = ${threads}`);
    const started = performance.now();
    await conn.run(`COPY (SELECT *, price * qty AS total FROM read_parquet(${sqlPath(path.join(inputDir, "*.parquet"))}))
      TO ${sqlPath(outFile)} (FORMAT parquet, COMPRESSION snappy)`);
    return (performance.now() - started) / 1000;
  });
}
