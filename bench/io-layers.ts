// Parquet decode/encode and the Arrow hand-off, per IO library, on the overhead bench's input and on a
// string-heavy file: `node -r tsx/cjs bench/io-layers.ts`. One thread each; best of 3; rows/s per core.
// nodejs-polars is not installed in this project (no package added), so it is not measured here.
import fs from "node:fs";
import path from "node:path";
import { tableFromIPC, tableToIPC, type Table } from "apache-arrow";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, readParquet, writeParquet } from "parquet-wasm";
import { DuckDBInstance } from "@duckdb/node-api";
import { ensureInput } from "./duck";

const DATA = path.join(__dirname, "data");
const best = async (fn: () => Promise<number> | number) => { let t = Infinity; let n = 0; for (let r = 0; r < 3; r++) { const s = performance.now(); n = await fn(); t = Math.min(t, performance.now() - s); } return { ms: t, rows: n }; };

async function stringFile(): Promise<string> {
  const file = path.join(DATA, "strings-200k.parquet");
  if (fs.existsSync(file)) return file;
  const db = await DuckDBInstance.create(":memory:");
  const conn = await db.connect();
  await conn.run(`COPY (SELECT i::BIGINT AS id, repeat(md5(i::VARCHAR), 3) AS a, md5((i * 7)::VARCHAR) || ' ü ' || md5(i::VARCHAR) AS b, repeat('x', (i % 50)::INTEGER) AS c
    FROM range(200000) t(i)) TO '${file}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 50000)`);
  conn.closeSync(); db.closeSync();
  return file;
}

function wasmDecode(bytes: Uint8Array): Table {
  return tableFromIPC(readParquet(bytes, { batchSize: 65536 }).intoIPCStream());
}

function wasmEncode(table: Table): Uint8Array {
  const props = new WriterPropertiesBuilder().setCompression(Compression.SNAPPY).setDictionaryEnabled(false).build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), props);
}

async function main(): Promise<void> {
  const input = await ensureInput(path.join(DATA, "input"));
  const files = { "5-column job (500k rows)": input.files[0], "string-heavy (200k rows, 3 strings)": await stringFile() };
  const db = await DuckDBInstance.create(":memory:");
  const conn = await db.connect();
  await conn.run("SET threads = 1");
  const out = path.join(DATA, "io-layers-out.parquet");
  for (const [label, file] of Object.entries(files)) {
    const bytes = new Uint8Array(fs.readFileSync(file));
    const table = wasmDecode(bytes);
    const rows = table.numRows;
    const rate = (ms: number) => `${Math.round(rows / ms * 1000).toLocaleString("en-US")} rows/s`;
    const wd = await best(() => wasmDecode(bytes).numRows);
    const we = await best(() => wasmEncode(table).length);
    const dd = await best(async () => {
      const result = await conn.run(`SELECT * FROM read_parquet('${file}')`);
      let n = 0;
      for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) { n += chunk.getColumns()[0].length; }
      return n;
    });
    const dNative = await best(async () => { await conn.run(`COPY (SELECT * FROM read_parquet('${file}')) TO '${out}' (FORMAT parquet, COMPRESSION snappy)`); return rows; });
    process.stdout.write(`${label}:\n` +
      `  parquet-wasm decode → Arrow JS (wasm copy in, IPC copy out, zero-copy views): ${rate(wd.ms)}\n` +
      `  parquet-wasm encode ← Arrow JS (IPC copy in, wasm copy out): ${rate(we.ms)}\n` +
      `  DuckDB decode → JS values (per-value conversion; no Arrow export in @duckdb/node-api): ${rate(dd.ms)}\n` +
      `  DuckDB Parquet → Parquet inside DuckDB, 1 thread (no JS hand-off at all): ${rate(dNative.ms)}\n`);
  }
  conn.closeSync(); db.closeSync();
  fs.rmSync(out, { force: true });
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
