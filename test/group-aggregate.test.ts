// The typed group-by: KeyTable's key numbering and the built-ins' typed accumulators, directly and
// two-phase (partials merged with rows), against references computed here from the rows; the
// exchange's typed bucket hashes against hashValue; and a job through the workers.
import { strict as assert } from "node:assert";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DataType, Float64, Int32, Int64, type Vector, makeVector, vectorFromArray } from "apache-arrow";
import { type Block, type Row, blockFromColumns, blockToRows, columnValues, utf8Vector } from "../server/src/block";
import * as rd from "../server/src/api";
import { type AggregateFn, Count, Max, Mean, Min, Std, Sum, customAggregate } from "../server/src/api";
import { GroupAggregator } from "../server/src/exec/all-to-all";
import { KeyTable } from "../server/src/exec/all-to-all/key-table";
import { hashBuckets, hashValue } from "../server/src/exec/exchange/keys";

function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const BIG = 2n ** 60n;
const K64 = [BIG, BIG + 1n, -(2n ** 62n), -(2n ** 62n) - 1n, 0n, 9007199254740993n, null];
const KF = [NaN, -0, 0, 1.5, -Infinity, null];
const KS = ["", "a", "é", "日本", "A", null];
const KI = [1, 2, -3, null];

interface Input { k64: bigint | null; kf: number | null; ks: string | null; ki: number | null; v: number | null; w: bigint | null }

const random = lcg(11);
const pick = <T>(values: T[]) => values[Math.floor(random() * values.length)];
const INPUT: Input[] = Array.from({ length: 6000 }, () => ({
  k64: pick(K64), kf: pick(KF), ks: pick(KS), ki: pick(KI),
  v: random() < 0.1 ? null : Math.round((random() - 0.4) * 1e6) / 100,
  w: random() < 0.1 ? null : 2n ** 50n + BigInt(Math.floor(random() * 1000)) - 500n, // sums beyond 2^53, within int64
}));

function blockOf(rows: Input[]): Block {
  return blockFromColumns({
    k64: vectorFromArray(rows.map((r) => r.k64), new Int64()),
    kf: vectorFromArray(rows.map((r) => r.kf), new Float64()),
    ks: utf8Vector(rows.map((r) => r.ks)),
    ki: vectorFromArray(rows.map((r) => r.ki), new Int32()),
    v: vectorFromArray(rows.map((r) => r.v), new Float64()),
    w: vectorFromArray(rows.map((r) => r.w), new Int64()),
  });
}

/** Blocks of uneven sizes. */
function blocks(rows: Input[]): Block[] {
  const out: Block[] = [];
  for (let start = 0, size = 700; start < rows.length; start += size, size = 1700 - size) out.push(blockOf(rows.slice(start, start + size)));
  return out;
}

/** One key tuple as a string: every NaN alike, -0 as 0, int64 as bigint whether it came as a number or not. */
function keyString(row: Record<string, unknown>, keys: string[]): string {
  return keys.map((k) => {
    const v = row[k];
    if (v === null) return "null";
    if (k === "k64") return `${BigInt(v as number)}n`;
    if (typeof v === "number") return Number.isNaN(v) ? "NaN" : String(v === 0 ? 0 : v);
    return JSON.stringify(v);
  }).join("|");
}

const AGGS = () => [
  Count(), Count("v"), Count("v", { ignoreNulls: true, alias: "nonnull" }), Sum("v"), Min("v"), Max("v"), Mean("v"), Std("v"),
  Sum("w"), Min("w"), Max("w"), Mean("w"),
];

/** The aggregates of each group computed from the rows. */
function reference(keys: string[]): Map<string, Row> {
  const groups = new Map<string, Input[]>();
  for (const row of INPUT) {
    const key = keyString(row as unknown as Row, keys);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return new Map([...groups].map(([key, members]) => {
    const vs = members.map((r) => r.v).filter((v): v is number => v !== null);
    const ws = members.map((r) => r.w).filter((w): w is bigint => w !== null);
    const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
    return [key, {
      "count()": members.length, "count(v)": members.length, nonnull: vs.length,
      "sum(v)": vs.length ? vs.reduce((a, b) => a + b, 0) : null, "min(v)": vs.length ? Math.min(...vs) : null, "max(v)": vs.length ? Math.max(...vs) : null,
      "mean(v)": vs.length ? mean : null, "std(v)": vs.length === 0 ? null : vs.length < 2 ? 0 : Math.sqrt(vs.reduce((a, b) => a + (b - mean) ** 2, 0) / (vs.length - 1)),
      "sum(w)": ws.length ? ws.reduce((a, b) => a + b, 0n) : null,
      "min(w)": ws.length ? ws.reduce((a, b) => (b < a ? b : a)) : null, "max(w)": ws.length ? ws.reduce((a, b) => (b > a ? b : a)) : null,
      "mean(w)": ws.length ? Number(ws.reduce((a, b) => a + b, 0n)) / ws.length : null,
    }];
  }));
}

/** The result's rows against the reference: counts and int64 aggregates exact, floats to 1e-9 relative. */
function assertEqualsReference(result: Block, keys: string[]): void {
  const expected = reference(keys);
  const rows = blockToRows(result);
  assert.equal(rows.length, expected.size, `groups by ${keys}`);
  const int64 = (vector: Vector | null, i: number) => (vector!.get(i) as bigint | null);
  rows.forEach((row, i) => {
    const e = expected.get(keyString(row, keys));
    assert.ok(e, `group ${keyString(row, keys)} is not in the reference`);
    for (const name of ["count()", "count(v)", "nonnull"]) assert.equal(Number(row[name]), e[name], `${name} of ${keyString(row, keys)}`);
    for (const name of ["sum(w)", "min(w)", "max(w)"]) assert.equal(int64(result.getChild(name), i), e[name], `${name} of ${keyString(row, keys)}`);
    for (const name of ["sum(v)", "min(v)", "max(v)", "mean(v)", "std(v)", "mean(w)"]) {
      const got = row[name] as number | null, want = e[name] as number | null;
      if (want === null) assert.equal(got, null, name);
      else assert.ok(Math.abs(got! - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${name} of ${keyString(row, keys)}: ${got} vs ${want}`);
    }
  });
}

const KEY_SETS = [["k64"], ["kf"], ["ks"], ["ki", "ks", "kf"], ["k64", "ki"]];

describe("typed group-by: KeyTable and the built-ins' typed state", () => {
  it("takes int, float and utf8 key columns; others go to the Map-based index", () => {
    assert.ok(KeyTable.supports([new Int64(), new Float64(), new Int32(), DataType.isUtf8(utf8Vector(["a"]).type) ? utf8Vector(["a"]).type : new Int32()]));
    assert.ok(!KeyTable.supports([vectorFromArray([true]).type]));
  });

  for (const keys of KEY_SETS) {
    it(`groups by ${keys.join(", ")} equal to the reference (int64 beyond 2^53 exact, one NaN group, -0 with 0, null its own group)`, () => {
      const aggregator = new GroupAggregator(keys, AGGS());
      for (const block of blocks(INPUT)) aggregator.add(block);
      const result = aggregator.result();
      assertEqualsReference(result, keys);
      for (const k of keys) assert.equal(String(result.getChild(k)!.type), String(blockOf([]).getChild(k)!.type), `key ${k} keeps its type`);
    });

    it(`two-phase by ${keys.join(", ")}: partials of three map aggregators (taken mid-way too) merged with rows equal the reference`, () => {
      const all = blocks(INPUT);
      const reduce = new GroupAggregator(keys, AGGS());
      const maps = [0, 1, 2].map(() => new GroupAggregator(keys, AGGS()));
      all.forEach((block, i) => {
        if (i % 4 === 3) { reduce.addRowsOrPartials(block); return; } // a map task that sent its rows
        const map = maps[i % 3];
        map.add(block);
        if (i === 1) reduce.addRowsOrPartials(map.takePartials());
      });
      for (const map of maps) reduce.addRowsOrPartials(map.takePartials());
      assertEqualsReference(reduce.result(), keys);
    });
  }

  it("outputs the key of the -0/0 group as 0 and of the NaN group as NaN; sorts NaN then null last", () => {
    const aggregator = new GroupAggregator(["kf"], [Count()]);
    aggregator.add(blockOf(INPUT));
    const keys = blockToRows(aggregator.result()).map((r) => r.kf);
    assert.ok(keys.some((k) => Object.is(k, 0)) && !keys.some((k) => Object.is(k, -0)));
    assert.deepEqual(keys.slice(-2).map(String), ["NaN", "null"]);
  });

  it("NaN values: Max has it, Min skips it unless every value is NaN (DuckDB's order); sums carry it", () => {
    const block = blockFromColumns({ k: makeVector(Int32Array.from([1, 1, 1, 2, 2])), v: makeVector(Float64Array.from([3, NaN, 1, NaN, NaN])) });
    for (const typed of [true, false]) {
      // A spec-less copy of a built-in takes the generic path: both paths agree.
      const aggs = [Min("v"), Max("v"), Sum("v")].map((agg) => (typed ? agg : { ...agg, spec: undefined }));
      const aggregator = new GroupAggregator(["k"], aggs);
      aggregator.add(block);
      assert.deepEqual(blockToRows(aggregator.result()).map((r) => [r.k, r["min(v)"], r["max(v)"], r["sum(v)"]].map(String)), [["1", "1", "NaN", "NaN"], ["2", "NaN", "NaN", "NaN"]], typed ? "typed" : "generic");
    }
  });

  it("std stays accurate for values far from zero (Welford per group, Chan's merge of partials)", () => {
    const values = Array.from({ length: 2000 }, (_, i) => 1e9 + (i % 10) * 0.001);
    const mean = values.reduce((a, b) => a + b - 1e9, 0) / values.length + 1e9;
    const expected = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    const reduce = new GroupAggregator([], [Std("v")]);
    for (let part = 0; part < 4; part++) {
      const map = new GroupAggregator([], [Std("v")]);
      map.add(blockFromColumns({ v: makeVector(Float64Array.from(values.slice(part * 500, part * 500 + 500))) }));
      reduce.addRowsOrPartials(map.takePartials());
    }
    const got: number = blockToRows(reduce.result())[0]["std(v)"] as number;
    // The values themselves carry float64 rounding of about 1e-7 at 1e9; a sum of squares would be off by orders of magnitude.
    assert.ok(Math.abs(got - expected) < 1e-5 * expected, `${got} vs ${expected}`);
  });

  it("mixes user aggregations (customAggregate, a hand-written AggregateFn) with built-ins in one aggregate(), also through partials", () => {
    const distinctKs = customAggregate<string[]>({
      name: "distinct_ks", init: () => [], accumulateRow: (acc, row) => (acc.includes(row.ks as string) ? acc : [...acc, row.ks as string]),
      merge: (a, b) => [...new Set([...a, ...b])], finalize: (acc) => acc.length,
    });
    const firstKey: AggregateFn<{ key: unknown; n: number }> = {
      name: "keyed_rows",
      init: (key) => ({ key, n: 0 }),
      accumulateBlock: (acc, _block, rows) => ({ key: acc.key, n: acc.n + rows.length }),
      merge: (a, b) => ({ key: a.key, n: a.n + b.n }),
      finalize: (acc) => `${acc.key}:${acc.n}`,
    };
    const aggs = () => [Count(), distinctKs, Sum("w"), firstKey as AggregateFn];
    const reduce = new GroupAggregator(["ki"], aggs());
    blocks(INPUT).forEach((block, i) => {
      const map = new GroupAggregator(["ki"], aggs());
      map.add(block);
      reduce.addRowsOrPartials(i % 2 === 0 ? map.takePartials() : block);
    });
    const rows = blockToRows(reduce.result());
    const expected = reference(["ki"]);
    for (const row of rows) {
      const members = INPUT.filter((r) => keyString(r as unknown as Row, ["ki"]) === keyString(row, ["ki"]));
      assert.equal(Number(row["count()"]), members.length);
      assert.equal(row.distinct_ks, new Set(members.map((r) => r.ks)).size);
      assert.equal(row.keyed_rows, `${row.ki}:${members.length}`, "init got the group's key");
      assert.equal(BigInt(row["sum(w)"] as number), expected.get(keyString(row, ["ki"]))!["sum(w)"]);
    }
  });
});

describe("typed bucket hashes of the exchange's map side", () => {
  it("equal hashValue's over the values, for int64 (safe or not), small ints, floats, ASCII and other strings, with nulls", () => {
    const vectors: Vector[] = [
      vectorFromArray([0n, -1n, 2n ** 53n - 1n, -(2n ** 53n) + 1n, 2n ** 53n, -(2n ** 53n), BIG, -BIG - 7n, null, 123456789012n], new Int64()),
      vectorFromArray([0, -1, 2 ** 31 - 1, -(2 ** 31), null, 5, 6, 7, 8, 9], new Int32()),
      vectorFromArray([0, -0, NaN, 1.5, -2, 2 ** 40, Infinity, null, 1e-300, 3], new Float64()),
      utf8Vector(["", "a", "é", "日本", null, "abc", "x".repeat(40), "Ω", "a b", "z"]),
    ];
    for (const vector of vectors) {
      const values = columnValues(vector);
      const expected = values.map((v) => {
        let h = Math.imul(17, 31) + hashValue(v) >>> 0;
        h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
        return ((h ^ (h >>> 16)) >>> 0) % 64;
      });
      assert.deepEqual(Array.from(hashBuckets([vector], vector.length, 64)), expected, String(vector.type));
    }
  });
});

describe("groupBy().aggregate through the exchange in the workers", function () {
  this.timeout(120_000);
  beforeEach(() => { rd.DataContext.reset().resourceLimits = { cpu: 2, memoryBytes: 8 * 2 ** 20 }; });

  it("reads feeding the exchange run as even tasks, one per small file (no 1, 2, 4… ramp)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rdpipe-groupby-files-"));
    try {
      for (let f = 0; f < 8; f++) await rd.fromItems(Array.from({ length: 500 }, (_, i) => ({ k: i % 10, v: f })), { overrideNumBlocks: 1 }).writeParquet(path.join(dir, `part-${f}`)).run();
      let last: rd.ProgressSnapshot | undefined;
      const rows = blockToRows(await rd.readParquet(dir).groupBy("k").aggregate(Count(), Sum("v")).toArrow({ onProgress: (snapshot) => { last = snapshot; } }));
      assert.deepEqual(rows.map((r) => [Number(r.k), Number(r["count()"]), Number(r["sum(v)"])]).sort((a, b) => a[0] - b[0]), Array.from({ length: 10 }, (_, k) => [k, 400, 50 * 28]));
      const files = fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".parquet")).length;
      assert.equal(files, 8);
      assert.equal(last!.operators.find((op) => op.name.endsWith("(map)"))!.tasksDone, files);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("groups emptied by a filter are absent; a filter that empties every group gives no rows (one row without keys)", async () => {
    const source = () => rd.range(20_000, { overrideNumBlocks: 6 }).map(function keyed(r) {
      const id = r.id as number;
      return { id, k: id % 50, s: `g${id % 7}`, v: id % 11 === 0 ? null : id / 4 };
    });
    const rows = await source().filter(function some(r) { return (r.k as number) % 5 !== 0; })
      .groupBy(["k", "s"]).aggregate(Count(), Count("v", { ignoreNulls: true, alias: "n_v" }), Sum("v"), Mean("v")).takeAll();
    const expected = new Map<string, { n: number; nv: number; sum: number }>();
    for (let id = 0; id < 20_000; id++) {
      if ((id % 50) % 5 === 0) continue;
      const key = `${id % 50}|g${id % 7}`;
      const e = expected.get(key) ?? { n: 0, nv: 0, sum: 0 };
      e.n++;
      if (id % 11 !== 0) { e.nv++; e.sum += id / 4; }
      expected.set(key, e);
    }
    assert.equal(rows.length, expected.size);
    for (const row of rows) {
      const e = expected.get(`${row.k}|${row.s}`)!;
      assert.ok(e, `group ${row.k}|${row.s} should have been filtered out`);
      assert.deepEqual([Number(row["count()"]), Number(row.n_v)], [e.n, e.nv]);
      assert.ok(Math.abs((row["sum(v)"] as number) - e.sum) < 1e-6 && Math.abs((row["mean(v)"] as number) - e.sum / e.nv) < 1e-9);
    }
    const none = (ds: rd.Dataset) => ds.filter(function nothing() { return false; });
    assert.deepEqual(await none(source()).groupBy("k").aggregate(Count(), Sum("v")).takeAll(), []);
    assert.deepEqual((await none(source()).aggregate(Count(), Sum("v")).takeAll()).map((r) => [Number(r["count()"]), r["sum(v)"]]), [[0, null]]);
  });
});
