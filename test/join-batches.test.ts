import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Bool, Dictionary, Float64, Int32, Int64, Table, Utf8, tableFromIPC, tableToIPC, vectorFromArray, type Vector } from "apache-arrow";
import { Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import * as rd from "../server/src/api";
import { blockFromColumns, blockToRows, joinBatches } from "../server/src/block";
import { tempDir } from "./helpers";

/** A one-batch table like a row group read: int64, float64 and strings and booleans with nulls. */
function source(rows: number, seed: number): Table {
  const table = new Table({
    id: vectorFromArray(Array.from({ length: rows }, (_, i) => BigInt(seed + i)), new Int64()),
    price: vectorFromArray(Array.from({ length: rows }, (_, i) => (i % 7 === 0 ? null : (seed + i) / 4)), new Float64()),
    name: vectorFromArray(Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? null : `n${seed + i}${"é".repeat(i % 3)}`)), new Utf8()),
    flag: vectorFromArray(Array.from({ length: rows }, (_, i) => (i % 11 === 0 ? null : i % 3 === 0)), new Bool()),
  });
  assert.equal(table.batches.length, 1);
  return table;
}

/** Batches of `size` rows as a batch UDF gives them back: the source's columns as they were and a new column. */
function udfBatches(tables: Table[], size: number): Table {
  const batches = tables.flatMap((t) => {
    const out = [];
    for (let start = 0; start < t.numRows; start += size) {
      const slice = t.slice(start, Math.min(t.numRows, start + size));
      const columns: Record<string, Vector | Float64Array> = {};
      for (const f of slice.schema.fields) columns[f.name] = slice.getChild(f.name)!;
      columns.total = Float64Array.from({ length: slice.numRows }, (_, i) => start + i * 0.5);
      out.push(blockFromColumns(columns).batches[0]);
    }
    return out;
  });
  return new Table(batches[0].schema, batches);
}

const buffer = (t: Table, column: string, batch = 0) => t.batches[batch].getChild(column)!.data[0];

describe("joining a batch UDF's small batches before they are written", function () {
  this.timeout(120_000);

  it("joins runs of small batches into one batch per source, the same rows in order, input columns without a copy", () => {
    const first = source(10_000, 0);
    const second = source(5_000, 1_000_000);
    const small = udfBatches([first, second], 512);
    assert.equal(small.batches.length, 20 + 10);
    const joined = joinBatches(small);
    assert.deepEqual(blockToRows(joined), blockToRows(small));
    assert.deepEqual(joined.batches.map((b) => b.numRows), [10_000, 5_000]);
    for (const [batch, from] of [[0, first], [1, second]] as const) {
      for (const column of ["id", "price", "flag"]) assert.equal(buffer(joined, column, batch).values.buffer, from.getChild(column)!.data[0].values.buffer, column);
      assert.equal(buffer(joined, "name", batch).valueOffsets.buffer, from.getChild("name")!.data[0].valueOffsets.buffer);
      assert.equal(buffer(joined, "price", batch).nullBitmap.buffer, from.getChild("price")!.data[0].nullBitmap.buffer);
    }
    // The IPC stream (what parquet-wasm reads) holds the same rows.
    assert.deepEqual(blockToRows(tableFromIPC(tableToIPC(joined, "stream"))), blockToRows(small));
  });

  it("copies columns that are not adjacent slices (batches cut at odd places, pieces of other sources), keeping nulls", () => {
    const a = source(3_000, 0);
    const b = source(3_000, 50_000);
    // Each batch takes its rows alternately from two sources: no column is adjacent to the batch before.
    const pieces = [];
    for (let start = 0; start < 3_000; start += 700) {
      for (const t of [a, b]) pieces.push(t.slice(start, Math.min(3_000, start + 700)).batches[0]);
    }
    const small = new Table(a.schema, pieces);
    const joined = joinBatches(small);
    assert.equal(joined.batches.length, 1);
    assert.deepEqual(blockToRows(joined), blockToRows(small));
    assert.equal(joined.getChild("price")!.nullCount, small.getChild("price")!.nullCount);
    assert.equal(joined.getChild("flag")!.nullCount, small.getChild("flag")!.nullCount);
  });

  it("leaves large batches and columns of types it does not join as they are", () => {
    const large = udfBatches([source(40_000, 0)], 20_000);
    assert.deepEqual(joinBatches(large).batches.map((b) => b.numRows), [20_000, 20_000]);
    const dictionary = new Table({ tag: vectorFromArray(Array.from({ length: 2_000 }, (_, i) => `t${i % 3}`), new Dictionary(new Utf8(), new Int32())) });
    const sliced = new Table(dictionary.schema, [0, 1000].map((s) => dictionary.slice(s, s + 1000).batches[0]));
    assert.equal(joinBatches(sliced), sliced);
  });

  it("batches built from columns of the same names and types share one Schema; another shape or a dictionary gets its own", () => {
    const batch = (n: number, extra?: Record<string, ArrayLike<unknown>>) =>
      blockFromColumns({ id: Float64Array.from({ length: n }, (_, i) => i), name: Array.from({ length: n }, (_, i) => `s${i}`), ...extra });
    const first = batch(3);
    const second = batch(5);
    assert.equal(second.schema, first.schema);
    assert.deepEqual(blockToRows(second), [0, 1, 2, 3, 4].map((i) => ({ id: i, name: `s${i}` })));
    const wider = batch(2, { flag: [true, false] });
    assert.notEqual(wider.schema, first.schema);
    assert.deepEqual(wider.schema.fields.map((f) => `${f.name}: ${f.type}`), ["id: Float64", "name: Utf8", "flag: Bool"]);
    const ints = blockFromColumns({ id: Int32Array.from([1, 2]), name: ["a", "b"] });
    assert.deepEqual(ints.schema.fields.map((f) => String(f.type)), ["Int32", "Utf8"]);
    const dictionary = (values: string[]) => blockFromColumns({ tag: vectorFromArray(values, new Dictionary(new Utf8(), new Int32())) });
    const [d1, d2] = [dictionary(["a", "b"]), dictionary(["c", "c"])];
    assert.notEqual(d2.schema, d1.schema);
    assert.deepEqual(blockToRows(tableFromIPC(tableToIPC(d2, "stream"))), [{ tag: "c" }, { tag: "c" }]);
  });

  describe("through the engine", () => {
    let dir: string;
    let input: string;
    const rows = 3_000;
    before(() => {
      dir = tempDir();
      input = path.join(dir, "in.parquet");
      const table = source(rows, 0);
      const properties = new WriterPropertiesBuilder().setMaxRowGroupSize(1_000).build();
      fs.writeFileSync(input, writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), properties));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    beforeEach(() => {
      rd.DataContext.reset();
      rd.DataContext.getCurrent().resourceLimits.cpu = 1;
    });

    it("new, dropped and reordered columns of 128-row batches are written as the rows they belong to, in order", async () => {
      const out = path.join(dir, "out");
      await rd.readParquet(input)
        .mapBatches((b: rd.Columns) => {
          const id = b.id as BigInt64Array;
          return { twice: Float64Array.from(id, (v) => Number(v) * 2), name: b.name, id: b.id, flag: b.flag };
        }, { batchSize: 128 })
        .writeParquet(out, { mode: "overwrite" }).run();
      const written = (await rd.readParquet(out).takeAll()).sort((x, y) => Number(x.id) - Number(y.id));
      const expected = blockToRows(source(rows, 0)).map((r) => ({ twice: Number(r.id) * 2, name: r.name, id: r.id, flag: r.flag }));
      assert.deepEqual(written, expected);
    });

    it("a UDF whose output changes shape midway fails naming the new column, where it first came and the schema", async () => {
      await assert.rejects(rd.readParquet(input)
        .mapBatches((b: rd.Columns) => ((b.id as BigInt64Array)[0] >= 1_500n ? { ...b, extra: new Float64Array((b.id as BigInt64Array).length) } : b), { batchSize: 500 })
        .writeParquet(path.join(dir, "shapes"), { mode: "overwrite" }).run(),
      /column 'extra' \(Float64, first set at row 1500 of .*in\.parquet\) is not in the dataset's schema \{id: Int64, price: Float64, name: Utf8, flag: Bool\}/);
    });
  });
});
