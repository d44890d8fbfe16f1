import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { inspect } from "node:util";
import { Bool, Int64, Table, vectorFromArray } from "apache-arrow";
import * as rd from "../server/src/api";
import { ColumnViews, blockFromColumns, blockFromRows, blockToColumns, blockToRows, utf8Vector } from "../server/src/block";
import { tempDir } from "./helpers";

const strings = ["a", "héllo", null, "𝄞x", "", "zz", "naïve café"];
const sample = () => new Table({
  s: utf8Vector(strings),
  b: vectorFromArray([true, false, null, true, false, true, false], new Bool()),
  n: vectorFromArray([1, null, 3, 4, 5, 6, 7]),
  f: vectorFromArray(new Float64Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5])),
});

describe("column views for batch UDFs", () => {
  it("decode strings (ASCII, multi-byte, astral, empty, null), booleans and nullable numbers, also of a slice", () => {
    const table = sample();
    for (const [start, end] of [[0, 7], [1, 6], [3, 7]]) {
      const cols = blockToColumns(table.slice(start, end), new ColumnViews());
      assert.deepEqual(Array.from(cols.s as string[]), strings.slice(start, end));
      assert.deepEqual(Array.from(cols.b as boolean[]), [true, false, null, true, false, true, false].slice(start, end));
      assert.deepEqual(Array.from(cols.n as number[]), [1, null, 3, 4, 5, 6, 7].slice(start, end));
      assert.ok(cols.f instanceof Float64Array, "a numeric column without nulls is a typed array");
      assert.equal((cols.s as string[]).length, end - start);
      assert.ok(Array.isArray(cols.s));
    }
  });

  it("hand back untouched and unchanged columns as their original Arrow buffers; a changed one is rebuilt", () => {
    const table = sample();
    const views = new ColumnViews();
    const cols = blockToColumns(table, views);
    const total = new Float64Array(7).fill(1);
    const out = blockFromColumns({ ...cols, total }, table.schema, views);
    for (const name of ["s", "b", "n", "f"] as const) {
      assert.equal(out.getChild(name)!.data[0].values, table.getChild(name)!.data[0].values, `column ${name} keeps its buffer`);
    }
    const read = blockFromColumns({ s: [...(cols.s as string[])].map((x) => x) }, table.schema, views);
    assert.deepEqual(read.getChild("s")!.toArray(), strings);

    const views2 = new ColumnViews();
    const cols2 = blockToColumns(table, views2);
    (cols2.s as string[])[1] = "changed";
    const changed = blockFromColumns({ ...cols2 }, table.schema, views2);
    assert.notEqual(changed.getChild("s")!.data[0].values, table.getChild("s")!.data[0].values);
    assert.deepEqual(changed.getChild("s")!.toArray(), ["a", "changed", null, "𝄞x", "", "zz", "naïve café"]);
  });

  it("decode nothing that the UDF does not read, and a string column in one TextDecoder call", () => {
    const table = sample();
    const decode = TextDecoder.prototype.decode;
    let calls = 0;
    TextDecoder.prototype.decode = function (this: TextDecoder, ...args: Parameters<TextDecoder["decode"]>) { calls++; return decode.apply(this, args); };
    try {
      const views = new ColumnViews();
      const cols = blockToColumns(table, views);
      blockFromColumns({ ...cols, total: new Float64Array(7) }, table.schema, views);
      assert.equal(calls, 0, "spreading and handing back columns decodes no string");
      assert.equal((cols.s as string[])[6], "naïve café");
      assert.equal((cols.s as string[])[1], "héllo");
      assert.equal(calls, 1, "the whole column is one decode");
    } finally {
      TextDecoder.prototype.decode = decode;
    }
  });

  it("show their values to console.log before any read", () => {
    const cols = blockToColumns(sample(), new ColumnViews());
    assert.match(inspect(cols.s), /'héllo'/);
  });

  it("utf8Vector encodes ASCII in one pass and anything else value by value, the same bytes", () => {
    const values = ["plain", null, "ünïcödé", "𝄞", "", "x".repeat(1000), "\ud800 lone surrogate"];
    const vector = utf8Vector(values);
    assert.deepEqual(vector.toArray(), values.map((v) => (v === null ? null : Buffer.from(v, "utf8").toString("utf8"))));
    assert.equal(vector.nullCount, 1);
    const ascii = utf8Vector(["ab", "c", null, "def"]);
    assert.deepEqual(Array.from(ascii.data[0].valueOffsets), [0, 2, 3, 3, 6]);
  });

  it("through the engine: Parquet strings, booleans and nulls pass a spreading mapBatches unchanged", async function () {
    this.timeout(60_000);
    const dir = tempDir();
    try {
      const rows = Array.from({ length: 3000 }, (_, i) => ({ id: i, name: i % 7 === 0 ? null : `name-${i}-ü`, flag: i % 3 === 0 ? null : i % 2 === 0 }));
      await rd.fromItems(rows).writeParquet(path.join(dir, "in")).run();
      await rd.readParquet(path.join(dir, "in"))
        .mapBatches((b: rd.Columns) => ({ ...b, twice: Float64Array.from(b.id as ArrayLike<number | bigint>, (v) => Number(v) * 2) }))
        .writeParquet(path.join(dir, "out")).run();
      const out = (await rd.readParquet(path.join(dir, "out")).takeAll()).sort((a, b) => Number(a.id) - Number(b.id));
      assert.deepEqual(out, rows.map((r) => ({ ...r, twice: r.id * 2 })));
      assert.ok(fs.readdirSync(path.join(dir, "out")).length > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("rows for row UDFs", () => {
  it("int64 becomes a number where exact and stays a bigint where not, both ways, nulls kept", () => {
    const big = [0n, -1n, 9007199254740991n, -9007199254740991n, 9007199254740992n, -9007199254740992n, 2n ** 62n, -(2n ** 63n), 4294967296n, -4294967297n, null];
    const block = new Table({ v: vectorFromArray(big, new Int64()) });
    const rows = blockToRows(block);
    assert.deepEqual(rows.map((r) => r.v), [0, -1, 9007199254740991, -9007199254740991, 9007199254740992n, -9007199254740992n, 2n ** 62n, -(2n ** 63n), 4294967296, -4294967297, null]);
    const back = blockFromRows(rows, block.schema);
    assert.deepEqual(back.getChild("v")!.toArray(), block.getChild("v")!.toArray());
    const safe = blockFromRows([{ v: 1 }, { v: -4294967297 }, { v: 9007199254740991 }], block.schema);
    assert.equal(String(safe.getChild("v")!.type), "Int64");
    assert.deepEqual(Array.from(safe.getChild("v")!.toArray() as BigInt64Array), [1n, -4294967297n, 9007199254740991n]);
  });

  it("rows of one shape and of many shapes give the same columns; a __proto__ column is a column", () => {
    const same = blockFromRows([{ a: 1, b: "x" }, { a: 2, b: "y" }]);
    assert.deepEqual(same.toArray().map((r) => r.toJSON()), [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
    const mixed = blockFromRows([{ a: 1, b: "x" }, { b: "y", a: 2 }, { a: 3, c: true }]);
    assert.deepEqual(mixed.schema.fields.map((f) => f.name), ["a", "b", "c"]);
    assert.deepEqual(mixed.toArray().map((r) => r.toJSON()), [{ a: 1, b: "x", c: null }, { a: 2, b: "y", c: null }, { a: 3, b: null, c: true }]);
    const proto = JSON.parse('[{"__proto__": 5, "x": 1}]') as rd.Row[];
    const block = blockFromRows(proto);
    assert.deepEqual(block.schema.fields.map((f) => f.name), ["__proto__", "x"]);
    const [row] = blockToRows(block);
    assert.equal(Object.getPrototypeOf(row), Object.prototype);
    assert.deepEqual(Object.keys(row), ["__proto__", "x"]);
    assert.throws(() => blockFromRows([{ a: 1 }, 7 as unknown as rd.Row]), /expected each row to be an object, got 7/);
  });

  it("fused map, async map, flatMap and filter give each input row's outputs in order; a failure drops all of that row's outputs", async function () {
    this.timeout(60_000);
    rd.DataContext.reset();
    rd.DataContext.getCurrent().preserveOrder = true;
    const rows = await rd.range(20, { overrideNumBlocks: 1 })
      .map((r) => ({ id: Number(r.id), sq: Number(r.id) ** 2 }))
      .map(async (r) => ({ ...r, half: (r.id as number) / 2 }))
      .flatMap((r) => [r, { ...r, id: -(r.id as number) - 100 }])
      .map((r) => { if (r.id === -107) throw new Error("seven"); return r; }, { onError: "skip" })
      .filter((r) => (r.id as number) % 2 === 0 || (r.id as number) < 0)
      .takeAll();
    const expected = [];
    for (let i = 0; i < 20; i++) {
      if (i === 7) continue;
      if (i % 2 === 0) expected.push({ id: i, sq: i * i, half: i / 2 });
      expected.push({ id: -i - 100, sq: i * i, half: i / 2 });
    }
    assert.deepEqual(rows, expected);
  });
});
