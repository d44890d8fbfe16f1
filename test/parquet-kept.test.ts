// A Parquet read written to Parquet in one task copies the column chunks a UDF hands back unchanged
// (io/parquet-kept.ts, io/parquet-compose.ts): the output holds the input's chunks byte for byte,
// every reader reads the same rows, and a column written to in place is encoded from its new values.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type Data, Field, Float16, Int64, RecordBatch, Schema, Struct, Table, makeData, tableToIPC } from "apache-arrow";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import * as rd from "../server/src/api";
import { DuckCheck, runCli, tempDir, writePipeline } from "./helpers";

const ROWS = 40_000;
const ROW_GROUP_ROWS = 10_000;

describe("Parquet columns handed back unchanged are written as they were read", function () {
  this.timeout(120_000);
  let dir: string;
  let input: string;
  let duck: DuckCheck;

  before(async () => {
    dir = tempDir("rdpipe-kept-");
    input = path.join(dir, "input.parquet");
    duck = await DuckCheck.open();
    // Plain, dictionary-encoded, nullable, boolean, date and decimal columns, in row groups of ROW_GROUP_ROWS.
    await duck.conn.run(`COPY (SELECT i::BIGINT AS id, (i * 0.25)::DOUBLE AS price, (i % 9)::INTEGER AS qty,
        CASE WHEN i % 13 = 0 THEN NULL ELSE 'name-' || (i * 7919 % 100003) END AS name, i % 3 = 0 AS flag,
        DATE '2020-01-01' + (i % 500)::INTEGER AS day, (i / 8)::DECIMAL(18, 3) AS amount
      FROM range(${ROWS}) t(i)) TO '${input}' (FORMAT parquet, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`);
  });
  after(() => {
    duck.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => { rd.DataContext.reset(); });

  const rows = (sql: string) => duck.rows(sql);
  /** Each column chunk of the files: its column, encodings, codec and compressed size (what identifies a copied chunk). */
  const chunks = async (glob: string) => rows(`SELECT row_group_num_rows AS n, path_in_schema AS col, encodings, compression, total_compressed_size AS size
    FROM parquet_metadata('${glob}') ORDER BY file_name, row_group_id, column_id`);
  /** One column's chunks in the files `glob` names. */
  const columnChunks = async (glob: string, col: string) => (await chunks(glob)).filter((c) => c.col === col).map(({ n, encodings, compression, size }) => ({ n, encodings, compression, size }));
  const inputChunks = (col: string) => columnChunks(input, col);
  const outputChunks = (out: string, col: string) => columnChunks(`${out}/*.parquet`, col);
  const difference = (a: string, b: string) => duck.difference(a, b);

  it("copies the unchanged columns' chunks (plain, dictionary, nulls, booleans, dates, decimals) and encodes the new one", async () => {
    const out = path.join(dir, "spread");
    await rd.readParquet(input)
      .mapBatches((b: rd.Batch) => {
        const cols = b as rd.Columns;
        const price = cols.price as Float64Array;
        const qty = cols.qty as Int32Array;
        return { ...cols, total: Float64Array.from(price, (p, i) => p * qty[i]) };
      })
      .writeParquet(out).run();
    for (const col of ["id", "price", "qty", "name", "flag", "day", "amount"]) {
      assert.deepEqual(await outputChunks(out, col), await inputChunks(col), `column ${col}: the input's chunks`);
    }
    assert.deepEqual((await outputChunks(out, "total")).map((c) => c.n), (await inputChunks("id")).map((c) => c.n), "one row group per input row group");
    assert.equal(await difference(`SELECT *, price * qty AS total FROM '${input}'`, `SELECT * FROM '${out}/*.parquet'`), 0, "DuckDB reads the same rows");
    const back = await rd.readParquet(out).takeAll();
    assert.equal(back.length, ROWS);
    const i = 2614;
    const sample = back.find((r) => Number(r.id) === i)!;
    assert.deepEqual({ name: sample.name, flag: sample.flag, qty: sample.qty, total: sample.total }, { name: `name-${i * 7919 % 100003}`, flag: i % 3 === 0, qty: i % 9, total: i * 0.25 * (i % 9) });
    assert.equal(back.filter((r) => r.name === null).length, Math.ceil(ROWS / 13), "rdpipe reads the nulls back");
  });

  it("encodes a zero-copy column written to in place, and a renamed column keeps its chunks under its new name", async () => {
    const out = path.join(dir, "in-place");
    await rd.readParquet(input)
      .mapBatches((b: rd.Batch) => {
        const cols = b as rd.Columns;
        const price = cols.price as Float64Array;
        for (let i = 0; i < price.length; i++) price[i] *= 2;
        return cols;
      })
      .renameColumns({ name: "label" })
      .writeParquet(out).run();
    assert.notDeepEqual(await outputChunks(out, "price"), await inputChunks("price"), "price is encoded anew");
    assert.deepEqual(await outputChunks(out, "label"), await inputChunks("name"), "name's chunks, as label");
    assert.equal(await difference(`SELECT id, price * 2 AS price, qty, name AS label, flag, day, amount FROM '${input}'`, `SELECT * FROM '${out}/*.parquet'`), 0);
  });

  it("keeps a write into a typed array copied from two row groups (a batch across their boundary)", async () => {
    const out = path.join(dir, "across");
    // 10,000-row groups in batches of 768: some batches hold the end of one row group and the start of the next.
    await rd.readParquet(input)
      .mapBatches((b: rd.Batch) => {
        const qty = (b as rd.Columns).qty as Int32Array;
        for (let i = 0; i < qty.length; i++) qty[i] += 100;
        return b;
      }, { batchSize: 768 })
      .writeParquet(out).run();
    assert.equal(await difference(`SELECT id, price, qty + 100 AS qty, name, flag, day, amount FROM '${input}'`, `SELECT * FROM '${out}/*.parquet'`), 0);
  });

  it("encodes a column an Arrow batch UDF wrote into (booleans flipped in their buffer)", async () => {
    const out = path.join(dir, "arrow");
    await rd.readParquet(input, { columns: ["id", "flag"] })
      .mapBatches((b: rd.Batch) => {
        const table = b as unknown as { getChild(name: string): { data: { values: Uint8Array; offset: number; length: number }[] } };
        for (const data of table.getChild("flag").data) {
          for (let i = data.offset; i < data.offset + data.length; i++) data.values[i >> 3] ^= 1 << (i & 7);
        }
        return b;
      }, { batchFormat: "arrow", batchSize: null })
      .writeParquet(out).run();
    assert.deepEqual(await outputChunks(out, "id"), await inputChunks("id"));
    assert.equal(await difference(`SELECT id, NOT flag AS flag FROM '${input}'`, `SELECT * FROM '${out}/*.parquet'`), 0);
  });

  /** A Parquet file parquet-wasm writes of these columns, in row groups of 10,000 rows. */
  function arrowFile(name: string, fields: Field[], columns: Data[]): string {
    const schema = new Schema(fields);
    const table = new Table(schema, [new RecordBatch(schema, makeData({ type: new Struct(fields), length: columns[0].length, children: columns }))]);
    const file = path.join(dir, name);
    const properties = new WriterPropertiesBuilder().setMaxRowGroupSize(10_000).setCompression(Compression.SNAPPY).build();
    fs.writeFileSync(file, writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), properties));
    return file;
  }
  const n = 20_000;
  const int64s = (f: (i: number) => number) => makeData({ type: new Int64(), length: n, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i))) });

  it("gives each of two columns of one name its own values", async () => {
    const file = arrowFile("same-names.parquet", [new Field("c", new Int64(), false), new Field("c", new Int64(), false)], [int64s((i) => i), int64s((i) => -7 * i)]);
    const out = path.join(dir, "same-names");
    await rd.readParquet(file).writeParquet(out).run();
    assert.deepEqual(await rows(`SELECT * FROM '${out}/*.parquet' WHERE c = 5`), [{ c: "5", c_1: "-35" }]);
    assert.deepEqual(await rows(`SELECT count(*) AS n FROM '${out}/*.parquet' WHERE c_1 = -7 * c`), [{ n: String(n) }]);
  });

  it("gives a batch UDF half floats as numbers, in a batch within a row group and across two alike", async () => {
    const half = makeData({ type: new Float16(), length: n, data: Uint16Array.from({ length: n }, () => 0x3c00) }); // 1.0
    const file = arrowFile("half.parquet", [new Field("id", new Int64(), false), new Field("h", new Float16(), false)], [int64s((i) => i), half]);
    const out = path.join(dir, "half");
    await rd.readParquet(file)
      .mapBatches((b: rd.Batch) => {
        const h = (b as rd.Columns).h as unknown[];
        if (h[0] !== 1) throw new Error(`h[0] is ${String(h[0])}`);
        for (let i = 0; i < h.length; i++) h[i] = 2;
        return b;
      }, { batchSize: 768 })
      .writeParquet(out).run();
    assert.deepEqual(await rows(`SELECT count(*) AS n, min(h) AS lo, max(h) AS hi FROM '${out}/*.parquet'`), [{ n: String(n), lo: 2, hi: 2 }]);
  });

  it("copies them in a checkpointed job too: a batch UDF's blocks are not cut to keep runs of one ID together when no ID crosses them", async () => {
    const out = path.join(dir, "checkpointed");
    rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: path.join(dir, "checkpointed-ckpt") });
    await rd.readParquet(input)
      .mapBatches((b: rd.Batch) => {
        const cols = b as rd.Columns;
        return { ...cols, total: Float64Array.from(cols.price as Float64Array, (p, i) => p * (cols.qty as Int32Array)[i]) };
      })
      .writeParquet(out).run();
    for (const col of ["id", "name", "amount"]) assert.deepEqual(await outputChunks(out, col), await inputChunks(col), `column ${col}: the input's chunks`);
    assert.equal(await difference(`SELECT * FROM '${input}'`, `SELECT * EXCLUDE (total) FROM '${out}/*.parquet'`), 0);
  });

  it("encodes every column when the write's codec differs from the file's", async () => {
    const out = path.join(dir, "zstd");
    await rd.readParquet(input).writeParquet(out, { compression: "zstd" }).run();
    assert.ok((await chunks(`${out}/*.parquet`)).every((c) => c.compression === "ZSTD"));
    assert.equal(await difference(`SELECT * FROM '${input}'`, `SELECT * FROM '${out}/*.parquet'`), 0);
  });

  /**
   * Runs `rdpipe run` on one worker (a pool of one: the row groups' tasks, one each, reach the same worker
   * in order) of a pipeline whose batch UDF is `udf`, writing a file per row group into `out`.
   */
  const runOnOneWorker = (out: string, groupRows: number, udf: string) => {
    const file = writePipeline(dir, `${path.basename(out)}.rdpipe.ts`, `import * as rd from "rdpipe";
export default rd.readParquet(${JSON.stringify(input)})
  .mapBatches(${udf}, { batchFormat: "arrow", batchSize: ${groupRows} })
  .writeParquet(${JSON.stringify(out)}, { maxRowsPerFile: ${groupRows} });
`);
    const run = runCli(["run", file, "--workers", "1", "--quiet"]);
    assert.equal(run.code, 0, run.stderr);
  };

  it("encodes a row group a UDF hands back again after its chunks were written and freed", async () => {
    const out = path.join(dir, "again");
    const groupRows = Number((await inputChunks("id"))[0].n); // DuckDB rounds ROW_GROUP_SIZE up to its vectors
    // Row groups 0, 0, 2, 2: each odd call hands back the batch the call before it had, written by then.
    runOnOneWorker(out, groupRows, `(b: rd.Batch) => {
    const state = globalThis as { calls?: number; previous?: rd.Batch };
    const calls = state.calls ?? 0;
    const batch = calls % 2 === 1 ? state.previous! : b;
    state.calls = calls + 1;
    state.previous = b;
    return batch;
  }`);
    const expected = `SELECT * FROM '${input}' WHERE id < ${groupRows} OR id BETWEEN ${2 * groupRows} AND ${3 * groupRows - 1}`;
    assert.equal(await difference(`SELECT * FROM (${expected} UNION ALL ${expected})`, `SELECT * FROM '${out}/*.parquet'`), 0, "DuckDB reads row groups 0, 0, 2, 2");
    const [first, again] = await outputChunks(out, "name");
    assert.deepEqual(first, (await inputChunks("name"))[0], "the first time, row group 0's chunk as read");
    assert.equal(again.n, first.n);
  });

  it("writes whole a row group that the writes of two tasks in flight on one worker share", async () => {
    // A worker takes its next task while the last file of the one before is still written (and synced): a
    // UDF handing back the batch of the task before makes the next write copy the chunks that write copies.
    const out = path.join(dir, "shared");
    const groupRows = Number((await inputChunks("id"))[0].n);
    runOnOneWorker(out, groupRows, `(b: rd.Batch) => {
    const state = globalThis as { sharedPrevious?: rd.Batch };
    const batch = state.sharedPrevious ?? b;
    state.sharedPrevious = b;
    return batch;
  }`);
    const expected = `SELECT * FROM '${input}' WHERE id < ${3 * groupRows}`;
    assert.equal(await difference(`SELECT * FROM (SELECT * FROM '${input}' WHERE id < ${groupRows} UNION ALL ${expected})`, `SELECT * FROM '${out}/*.parquet'`), 0,
      "DuckDB reads row groups 0, 0, 1, 2");
  });
});
