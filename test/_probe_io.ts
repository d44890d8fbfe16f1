import fs from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { readFileBlocks, listFiles } from "../server/src/io";
import { blockToRows, describeSchema } from "../server/src/block";
async function rows(f: string, columns?: string[]) { const out = []; for await (const b of readFileBlocks({ format: "parquet", files: await listFiles(f), options: { targetBlockBytes: 1 << 30, columns } })) out.push(b); return out; }
(async () => {
  for (const codec of ["snappy", "gzip", "zstd", "brotli", "lz4_raw", "uncompressed"]) {
    const f = `/tmp/iox/corrupt_${codec}.parquet`;
    try { const r = await rows(f); console.log(codec, "read", r.length, "blocks?!"); } catch (e) { console.log(codec, String(e).slice(0, 200)); }
  }
  const r = await rows("/tmp/iox/duck_zstd.parquet"); console.log("after corruption, good file ok:", r.reduce((a, b) => a + b.block.numRows, 0));
  const c = await (await DuckDBInstance.create(":memory:")).connect();
  await c.run(`COPY (SELECT i AS id, [i, i+1] AS l, {'a': i, 'b': 'x' || i} AS st, map([1],[i]) AS m, 'z' AS last FROM range(5) t(i)) TO '/tmp/iox/nested.parquet' (FORMAT parquet)`);
  for (const cols of [undefined, ["st", "id"], ["last", "l"], ["m"]]) {
    const b = (await rows("/tmp/iox/nested.parquet", cols))[0].block;
    console.log(cols, describeSchema(b.schema), JSON.stringify(blockToRows(b)[2], (k, v) => typeof v === "bigint" ? String(v) : v));
  }
  let t = performance.now(); let n = 0;
  for (const b of await rows("/tmp/iox/big.parquet")) n += b.block.numRows;
  console.log("big", n, (performance.now() - t).toFixed(0), "ms");
  t = performance.now(); n = 0;
  for (const b of await rows("/tmp/iox/big.parquet")) n += b.block.numRows;
  console.log("big", n, (performance.now() - t).toFixed(0), "ms");
  t = performance.now(); n = 0;
  for (const b of await rows("/tmp/iox/big.parquet", ["id"])) n += b.block.numRows;
  console.log("big id", n, (performance.now() - t).toFixed(0), "ms");
})();
