// The faster paths under groupBy and mapGroups, each against a reference computed here: gathering
// null-free columns by index (one chunk or several, -1 for a null), sorting by the typed words of a
// number column, mapGroups results of plain numbers, mapGroups groups with shared getters, and a
// groupBy that reads only the columns its built-in aggregations use.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Float16, Float32, Int64, Schema, Field, Utf8, Vector, makeData, makeVector, vectorFromArray } from "apache-arrow";
import * as rd from "../server/src/api";
import { blockFromColumns, concatBlocks, takeVector } from "../server/src/block";
import { GroupAggregator, sortBlocks } from "../server/src/exec/all-to-all";
import { GroupOutputs } from "../server/src/exec/all-to-all/group-output";
import { tempDir } from "./helpers";

/** A deterministic PRNG for test data. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/** `values` as a column of `chunks` chunks. */
function chunked(values: unknown[], make: (part: unknown[]) => Vector, chunks: number): Vector {
  const size = Math.ceil(values.length / chunks);
  const blocks = Array.from({ length: chunks }, (_, c) => blockFromColumns({ x: make(values.slice(c * size, (c + 1) * size)) }));
  return concatBlocks(blocks).getChild("x")!;
}

describe("groupBy and mapGroups fast paths", function () {
  this.timeout(120_000);

  it("takeVector gathers null-free numbers and strings by index, from one chunk or several, -1 making a null", () => {
    const gen = lcg(3);
    const n = 5_000;
    const ints = Array.from({ length: n }, () => BigInt(Math.floor((gen() - 0.5) * 2 ** 40)) * 4097n);
    const floats = Array.from({ length: n }, () => (gen() - 0.5) * 1e9);
    const texts = Array.from({ length: n }, (_, i) => (i % 9 === 0 ? "" : `t${i}-${"é".repeat(i % 40)}`));
    // Float32 NaNs of two payloads: their bits must come through unchanged.
    const f32 = new Float32Array(n).map((_, i) => i * 0.25);
    const f32Bits = new Uint32Array(f32.buffer);
    f32Bits[10] = 0x7fc00001;
    f32Bits[11] = 0xffc00123;
    const indices = Int32Array.from({ length: 3 * n }, (_, i) => (i % 17 === 5 ? -1 : Math.floor(gen() * n)));
    for (const chunks of [1, 3]) {
      const columns: [string, Vector, (i: number) => unknown][] = [
        ["int64", chunked(ints, (p) => makeVector(BigInt64Array.from(p as bigint[])), chunks), (i) => ints[i]],
        ["float64", chunked(floats, (p) => makeVector(Float64Array.from(p as number[])), chunks), (i) => floats[i]],
        ["utf8", chunked(texts, (p) => vectorFromArray(p as string[], new Utf8()), chunks), (i) => texts[i]],
      ];
      for (const [name, vector, expected] of columns) {
        const out = takeVector(vector, indices);
        assert.equal(out.data.length, 1, `${name}: one chunk`);
        assert.equal(out.nullCount, Array.from(indices).filter((i) => i < 0).length, `${name} (${chunks} chunks): a null per -1`);
        for (let i = 0; i < indices.length; i++) {
          assert.deepEqual(out.get(i), indices[i] < 0 ? null : expected(indices[i]), `${name} (${chunks} chunks) row ${i}`);
        }
      }
      if (chunks === 3) {
        // Empty chunks among them (an Arrow string chunk of no rows may have no offsets at all).
        const s = new Vector([...vectorFromArray(["a", "bc"], new Utf8()).data, makeData({ type: new Utf8(), length: 0, nullCount: 0, valueOffsets: new Int32Array(0), data: new Uint8Array(0) }),
          ...vectorFromArray(["def"], new Utf8()).data]);
        const f = new Vector([...makeVector(Float64Array.of(1, 2)).data, ...makeVector(new Float64Array(0)).data, ...makeVector(Float64Array.of(3)).data]);
        const picked = Uint32Array.of(2, 0, 1, 2);
        assert.deepEqual(Array.from(takeVector(s, picked)), ["def", "a", "bc", "def"]);
        assert.deepEqual(Array.from(takeVector(f, picked)), [3, 1, 2, 3]);
      }
      const float32 = takeVector(chunked(Array.from(f32), (p) => makeVector(Float32Array.from(p as number[])), chunks), Uint32Array.from([11, 10, 3]));
      const bits = new Uint32Array((float32.data[0].values as Float32Array).slice().buffer);
      if (chunks === 1) assert.deepEqual(Array.from(bits), [0xffc00123, 0x7fc00001, f32Bits[3]], "float32 NaN payloads kept");
      else assert.equal(bits[2], f32Bits[3]);
    }
  });

  it("takeVector keeps a half-float column half-float, gathered from one chunk or several", () => {
    const bits = new Uint16Array([0x3c00, 0x4000, 0x4200, 0x4400]); // 1, 2, 3, 4
    const one = makeVector(makeData({ type: new Float16(), length: 4, data: bits }));
    const two = makeVector([makeData({ type: new Float16(), length: 2, data: bits.slice(0, 2) }), makeData({ type: new Float16(), length: 2, data: bits.slice(2) })]);
    for (const [vector, indices] of [[one, [2, 0]], [two, [2, 0]], [two, [3, 2, 1, 0, 0]]] as const) {
      const taken = takeVector(vector, indices);
      assert.ok(taken.type instanceof Float16, `got ${String(taken.type)}`);
      assert.deepEqual([...taken], indices.map((i) => i + 1));
    }
  });

  it("numbers one int64 key without nulls by its fast loop, alike with chunks that have nulls (the general path) in one table", () => {
    const gen = lcg(5);
    const keys = Array.from({ length: 30_000 }, () => {
      const r = gen();
      return r < 0.05 ? null : r < 0.1 ? 2n ** 62n + BigInt(Math.floor(gen() * 3)) : r < 0.15 ? -(2n ** 53n) - 1n : BigInt(Math.floor(gen() * 4000) - 2000);
    });
    // Blocks of 1,000 rows, every third one without its nulls (those rows keyed 7 instead).
    const blocks = Array.from({ length: 30 }, (_, b) => {
      const part = keys.slice(b * 1000, (b + 1) * 1000).map((k) => (b % 3 === 0 ? k ?? 7n : k));
      return blockFromColumns({ k: b % 3 === 0 ? makeVector(BigInt64Array.from(part as bigint[])) : vectorFromArray(part, new Int64()) });
    });
    const expected = new Map<string, number>();
    blocks.forEach((block) => { for (const k of block.getChild("k")!) expected.set(String(k), (expected.get(String(k)) ?? 0) + 1); });
    assert.ok(blocks.filter((b) => b.getChild("k")!.nullCount === 0).length >= 10 && expected.has("null"));
    const aggregator = new GroupAggregator(["k"], [rd.Count()]);
    blocks.forEach((block) => aggregator.add(block));
    const result = aggregator.result();
    const got = new Map<string, number>();
    for (let i = 0; i < result.numRows; i++) got.set(String(result.getChild("k")!.get(i)), Number(result.getChild("count()")!.get(i)));
    assert.deepEqual([...got].sort(), [...expected].sort());
  });

  it("sorts by the typed words of int64, uint64, small int and float columns: exact, stable, either direction", () => {
    const gen = lcg(7);
    const n = 20_000;
    const pick = <T>(values: T[]) => values[Math.floor(gen() * values.length)];
    const int64 = Array.from({ length: n }, () => pick([2n ** 62n, -(2n ** 62n), 2n ** 53n + 1n, 2n ** 53n, -1n, 0n, BigInt(Math.floor(gen() * 1000) - 500)]));
    const uint64 = Array.from({ length: n }, () => pick([2n ** 63n + 5n, 2n ** 63n, 1n, 0n, BigInt(Math.floor(gen() * 1000))]));
    const int16 = Array.from({ length: n }, () => Math.floor(gen() * 200) - 100);
    const float32 = Array.from({ length: n }, () => pick([-0, 0, -1.5, 2.25, Math.fround(gen() * 100 - 50)]));
    const cases: [string, Vector, unknown[], (a: unknown, b: unknown) => number][] = [
      ["int64", makeVector(BigInt64Array.from(int64)), int64, (a, b) => ((a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0)],
      ["uint64", makeVector(BigUint64Array.from(uint64)), uint64, (a, b) => ((a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0)],
      ["int16", makeVector(Int16Array.from(int16)), int16, (a, b) => (a as number) - (b as number)],
      ["float32", makeVector(Float32Array.from(float32)), float32, (a, b) => (a as number) - (b as number)],
    ];
    for (const [name, vector, values, compare] of cases) {
      for (const descending of [false, true]) {
        const block = blockFromColumns({ k: vector, id: Int32Array.from({ length: n }, (_, i) => i) });
        const halves = [block.slice(0, n / 2), block.slice(n / 2)];
        const sorted = concatBlocks(sortBlocks(halves, "k", descending));
        // Stable: equal keys keep their input order (ids ascending), in either direction.
        const expected = values.map((_, i) => i).sort((a, b) => (descending ? compare(values[b], values[a]) : compare(values[a], values[b])) || a - b);
        assert.deepEqual(Array.from(sorted.getChild("id")!.toArray() as Int32Array), expected, `${name} ${descending ? "descending" : "ascending"}`);
        assert.equal(String(sorted.getChild("k")!.type), String(vector.type), `${name} keeps its type`);
      }
    }
  });

  it("gathers mapGroups results of plain numbers as the UDF gave them, also mixed with typed arrays, nulls and strings", () => {
    const hint = new Schema([new Field("k", new Int64()), new Field("f", new Float32())]);
    const outputs = new GroupOutputs(hint, 1 << 30, (i, message) => new Error(`result ${i}: ${message}`));
    const results = [
      { k: [1, 2], f: [0.5, -0], x: [1, 2], y: [1.5, 2] },
      { k: [3], f: [1.25], x: new Float64Array([3]), y: [null] },
      { k: [2 ** 40], f: [NaN], x: [4], y: [5] },
    ];
    results.forEach((result, i) => assert.equal(outputs.add(result, i), undefined));
    const block = outputs.take()!;
    const values = (name: string) => Array.from({ length: block.numRows }, (_, i) => block.getChild(name)!.get(i));
    assert.equal(String(block.getChild("k")!.type), "Int64", "plain numbers take the hint's type");
    assert.deepEqual(values("k"), [1n, 2n, 3n, 2n ** 40n]);
    assert.equal(String(block.getChild("f")!.type), "Float32");
    assert.deepEqual(values("f").map((v) => Object.is(v, -0) ? "-0" : v), [0.5, "-0", 1.25, NaN]);
    assert.equal(String(block.getChild("x")!.type), "Float64", "numbers then a Float64Array then numbers: one float64 column");
    assert.deepEqual(values("x"), [1, 2, 3, 4]);
    assert.deepEqual(values("y"), [1.5, 2, null, 5], "a null among numbers");
    assert.throws(() => {
      const mixed = new GroupOutputs(hint, 1 << 30, (i, message) => new Error(`result ${i}: ${message}`));
      [{ z: [7, 8] }, { z: ["nine"] }].forEach((result, i) => mixed.add(result, i));
      mixed.take();
    }, /column 'z' has mixed types: number at row 0 \(7\) and string at row 2 \("nine"\)/, "numbers then a string: the block names the mix, as before");
  });

  it("gathers an Arrow vector a mapGroups result gives after results of the same columns as arrays", () => {
    const outputs = new GroupOutputs(new Schema([]), 1 << 30, (i, message) => new Error(`result ${i}: ${message}`));
    const results = [{ k: [1], v: [10] }, { k: [2, 2], v: vectorFromArray([20, 21]) }];
    const blocks = results.map((result, i) => outputs.add(result, i)).filter((b) => b !== undefined);
    const last = outputs.take();
    if (last) blocks.push(last);
    const rows = blocks.flatMap((block) => Array.from({ length: block.numRows }, (_, i) => [Number(block.getChild("k")!.get(i)), Number(block.getChild("v")!.get(i))]));
    assert.deepEqual(rows, [[1, 10], [2, 20], [2, 21]]);
  });

  it("hands mapGroups groups their columns in schema order, read or not, in every partition of a worker", async () => {
    const rows = Array.from({ length: 3_000 }, (_, id) => ({ id, k: id % 250, v: id % 13 === 0 ? null : id * 0.5, s: `s${id}`, n: id % 7 }));
    const run = (keys: string) => rd.fromItems(rows, { overrideNumBlocks: 5 }).repartition(4).groupBy(keys).mapGroups(function probe(batch: rd.Batch) {
      const group = batch as Record<string, ArrayLike<unknown>>;
      const names = Object.keys(group).join(",");
      const ids = group.id as ArrayLike<number>;
      // Only some groups read the strings; every group reads the ids (its numbers come up front).
      const first = ids[0] as number;
      const strings = first % 2 === 0 ? Array.from(group.s as ArrayLike<string>).join("|") : "";
      const spreadNames = first % 3 === 0 ? Object.keys({ ...group }).join(",") : names;
      if (first % 5 === 0) group.n = [-1];
      return { first: [first], size: [ids.length], names: [names], spreadNames: [spreadNames], strings: [strings], n: [Number(group.n[0])], v: [group.v[0] ?? null] };
    }).takeAll();
    const results = await run("k");
    assert.equal(results.length, 250);
    for (const r of results) {
      const first = Number(r.first);
      const members = rows.filter((row) => row.k === first % 250);
      assert.equal(Number(r.size), members.length, `group ${first}`);
      assert.equal(first, members[0].id);
      assert.equal(r.names, "id,k,v,s,n", `group ${first}: every column an own property, in schema order`);
      assert.equal(r.spreadNames, "id,k,v,s,n");
      assert.equal(r.strings, first % 2 === 0 ? members.map((m) => m.s).join("|") : "");
      assert.equal(Number(r.n), first % 5 === 0 ? -1 : members[0].n, "an assigned column reads back");
      assert.equal(r.v, members[0].v);
    }
    // Another grouping in the same workers: the same names at other positions of the schema.
    const byN = await rd.fromItems(rows.map(({ n, s, id, k, v }) => ({ n, s, id, k, v })), { overrideNumBlocks: 3 }).groupBy("n").mapGroups(function names(batch: rd.Batch) {
      const group = batch as Record<string, ArrayLike<unknown>>;
      return { n: [group.n[0]], names: [Object.keys(group).join(",")], ids: [Array.from(group.id as ArrayLike<number>).join(",")] };
    }).takeAll();
    assert.equal(byN.length, 7);
    for (const r of byN) {
      assert.equal(r.names, "n,s,id,k,v");
      assert.equal(r.ids, rows.filter((row) => row.n === Number(r.n)).map((row) => row.id).join(","));
    }
  });

  it("groupBy with built-in aggregations reads only its key and aggregated columns; a custom one reads all", async () => {
    const dir = tempDir("rdpipe-group-projection-");
    try {
      const rows = Array.from({ length: 4_000 }, (_, id) => ({ id, k: id % 37, v: (id * 7) % 101, wide: "w".repeat(200) + id }));
      await rd.fromItems(rows, { overrideNumBlocks: 4 }).writeParquet(path.join(dir, "in")).run();
      const input = rd.readParquet(path.join(dir, "in"));
      const grouped = input.groupBy("k").aggregate(rd.Count(), rd.Sum("v"), rd.Max("id"));
      assert.match(grouped.explain(), /ReadParquet: reads only columns k, v, id/);
      const expected = new Map<number, { n: number; sum: number; max: number }>();
      for (const r of rows) {
        const e = expected.get(r.k) ?? { n: 0, sum: 0, max: -1 };
        expected.set(r.k, { n: e.n + 1, sum: e.sum + r.v, max: Math.max(e.max, r.id) });
      }
      const got = await grouped.takeAll();
      assert.equal(got.length, expected.size);
      for (const r of got) assert.deepEqual({ n: Number(r["count()"]), sum: Number(r["sum(v)"]), max: Number(r["max(id)"]) }, expected.get(Number(r.k)));
      const custom = input.groupBy("k").aggregate(rd.Count(), rd.customAggregate({
        name: "longest", init: () => 0, accumulateRow: (acc: number, row: rd.Row) => Math.max(acc, String(row.wide).length), merge: (a: number, b: number) => Math.max(a, b),
      }));
      assert.doesNotMatch(custom.explain(), /reads only columns/);
      const longest = await custom.takeAll();
      assert.ok(longest.every((r) => Number(r.longest) >= 201), "the custom aggregation saw the column no built-in names");
      assert.ok(fs.existsSync(path.join(dir, "in")));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
