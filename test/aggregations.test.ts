// The further aggregations (AbsMax, Quantile, Unique, CountDistinct, AsList, ApproximateQuantile,
// ApproximateTopK) through the exchange in worker threads: partials folded in 8 map tasks, merged in
// reduce tasks, checked against values computed here over data with nulls; the sketches within
// their stated bounds; dataset-level sum/min/max/mean/std.
import assert from "node:assert/strict";
import fs from "node:fs";
import { DataType, type Table } from "apache-arrow";
import * as rd from "../server/src/api";
import { blockToRows } from "../server/src/block";
import {
  quantileRankErrorBound, quantileSketch, quantileSketchAdd, quantileSketchMerge, quantileSketchQuery,
  topKErrorBound, topKSketch, topKSketchAdd, topKSketchMerge, topKSketchQuery,
} from "../server/src/api/sketch";
import { tempDir } from "./helpers";

const ROWS = 60_000;
const GROUPS = 6;

/** Group 5 has only null x and s: its lists are empty. t is skewed (1 in half the rows, v ≥ 1 in about 1/(v(v+1)) of them). */
function reference(id: number): { id: number; g: number; x: number | null; s: string | null; t: number } {
  const g = id % GROUPS;
  const x = g === 5 || id % 11 === 0 ? null : ((id * 7919) % 2001) - 1000;
  const s = g === 5 || id % 17 === 0 ? null : `w${(id * 31) % 37}`;
  return { id, g, x, s, t: Math.floor(1 / (((id * 104729) % 10_000) / 10_000 + 0.02)) };
}

function source(): rd.Dataset {
  return rd.range(ROWS, { overrideNumBlocks: 8 }).map(function row(r) {
    const id = r.id as number;
    const g = id % 6;
    const x = g === 5 || id % 11 === 0 ? null : ((id * 7919) % 2001) - 1000;
    const s = g === 5 || id % 17 === 0 ? null : `w${(id * 31) % 37}`;
    return { id, g, x, s, t: Math.floor(1 / (((id * 104729) % 10_000) / 10_000 + 0.02)) };
  });
}

function groups(): Map<number, ReturnType<typeof reference>[]> {
  const out = new Map<number, ReturnType<typeof reference>[]>();
  for (let id = 0; id < ROWS; id++) {
    const r = reference(id);
    out.set(r.g, [...(out.get(r.g) ?? []), r]);
  }
  return out;
}

const present = <T>(values: (T | null)[]) => values.filter((v): v is T => v !== null);
const ascending = (a: number, b: number) => a - b;

/** numpy's default (linear) quantile. */
function exactQuantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort(ascending);
  const k = (sorted.length - 1) * q;
  const lo = Math.floor(k);
  return lo === k ? sorted[k] : sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (k - lo);
}

/** Where q·n must fall for `estimate` to be within `bound` ranks of the q-quantile of `values`. */
function assertRankWithin(values: number[], estimate: number, q: number, bound: number, what: string): void {
  const below = values.filter((v) => v < estimate).length;
  const atMost = values.filter((v) => v <= estimate).length;
  const target = q * values.length;
  assert.ok(below - bound <= target && target <= atMost + bound, `${what}: ${estimate} has ranks [${below}, ${atMost}], q·n = ${target}, bound ${bound}`);
}

/** Each estimate is at most the true count and within `bound` of it; nothing left out beat the smallest reported by more than `bound`. */
function assertTopK(values: unknown[], top: { value: unknown; count: number }[], k: number, bound: number, what: string): void {
  const counts = new Map<unknown, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  assert.ok(top.length <= Math.min(k, counts.size), what);
  for (const { value, count } of top) {
    const truth = counts.get(value) ?? 0;
    assert.ok(count <= truth && count >= truth - bound, `${what}: ${String(value)} estimated ${count}, true ${truth}, bound ${bound}`);
  }
  const least = top.length < k ? 0 : Math.min(...top.map((e) => e.count));
  const reported = new Set(top.map((e) => e.value));
  for (const [value, truth] of counts) {
    if (!reported.has(value)) assert.ok(truth <= least + bound, `${what}: ${String(value)} (true ${truth}) missing, smallest reported ${least}`);
  }
}

const fieldType = (table: Table, name: string) => table.schema.fields.find((f) => f.name === name)!.type;

describe("aggregations in the workers: AbsMax, Quantile, Unique, CountDistinct, AsList, approximate ones", function () {
  this.timeout(120_000);
  let spill: string;

  beforeEach(() => {
    const context = rd.DataContext.reset();
    context.resourceLimits = { cpu: 2, memoryBytes: 64 * 2 ** 20 };
    spill = tempDir("rdpipe-spill-aggs-");
    context.spillDir = spill;
  });
  afterEach(() => fs.rmSync(spill, { recursive: true, force: true }));

  it("groupBy: each exact aggregation equals the reference per group, nulls ignored, an all-null group's lists []", async () => {
    let last: rd.ProgressSnapshot | undefined;
    const table = await source().groupBy("g").aggregate(
      rd.AbsMax("x"), rd.Quantile("x"), rd.Quantile("x", 0.9, { alias: "p90" }), rd.Unique("s"), rd.CountDistinct("s"), rd.AsList("x"), rd.AsList("id"),
    ).toArrow({ onProgress: (s) => { last = s; } });
    const map = last!.operators.find((op) => op.name.endsWith("(map)"))!;
    assert.ok(map.tasksDone >= 8, `${map.tasksDone} map tasks folded partials`);
    for (const [name, item] of [["unique(s)", "Utf8"], ["list(x)", "Float64"], ["list(id)", "Int64"]]) {
      const type = fieldType(table, name);
      assert.ok(DataType.isList(type) && String(type.children[0].type) === item, `${name} is ${type}`);
    }
    const rows = blockToRows(table).sort((a, b) => Number(a.g) - Number(b.g));
    const reference = groups();
    assert.deepEqual(rows.map((r) => Number(r.g)), [0, 1, 2, 3, 4, 5]);
    for (const row of rows) {
      const members = reference.get(Number(row.g))!;
      const xs = present(members.map((r) => r.x));
      const ss = present(members.map((r) => r.s));
      const what = `group ${row.g}`;
      assert.equal(row["abs_max(x)"], xs.length ? Math.max(...xs.map(Math.abs)) : null, what);
      assert.equal(row["quantile(x)"], exactQuantile(xs, 0.5), what);
      assert.ok(xs.length === 0 ? row.p90 === null : Math.abs((row.p90 as number) - exactQuantile(xs, 0.9)!) < 1e-9, what);
      assert.deepEqual(row["unique(s)"], [...new Set(ss)].sort(), what);
      assert.equal(Number(row["count_distinct(s)"]), new Set(ss).size, what);
      assert.deepEqual((row["list(x)"] as number[]).sort(ascending), xs.sort(ascending), what);
      assert.deepEqual((row["list(id)"] as number[]).sort(ascending), members.map((r) => r.id), what);
    }
    assert.deepEqual(rows[5]["list(x)"], [], "the all-null group's list is [] (not null)");
  });

  it("ds.aggregate: one row over all blocks, the same as groupBy over one group", async () => {
    const [row] = await source().aggregate(rd.AbsMax("x"), rd.Quantile("x", 0.25), rd.CountDistinct("t"), rd.Unique("t"), rd.AsList("s")).takeAll();
    const all = Array.from({ length: ROWS }, (_, id) => reference(id));
    const xs = present(all.map((r) => r.x));
    assert.equal(row["abs_max(x)"], Math.max(...xs.map(Math.abs)));
    assert.ok(Math.abs((row["quantile(x)"] as number) - exactQuantile(xs, 0.25)!) < 1e-9);
    assert.equal(row["count_distinct(t)"], new Set(all.map((r) => r.t)).size);
    assert.deepEqual(row["unique(t)"], [...new Set(all.map((r) => r.t))].sort(ascending));
    assert.deepEqual((row["list(s)"] as string[]).sort(), present(all.map((r) => r.s)).sort());
  });

  it("ApproximateQuantile and ApproximateTopK per group within their stated bounds; exact top-k when the counters suffice", async () => {
    const qs = [0, 0.1, 0.5, 0.9, 0.99, 1];
    const precision = 64;
    const logCapacity = 4;
    const rows = await source().groupBy("g").aggregate(
      rd.ApproximateQuantile("x", qs, { quantilePrecision: precision }), rd.ApproximateQuantile("t", [0.5], { alias: "median(t)" }),
      rd.ApproximateTopK("t", 5, { logCapacity }), rd.ApproximateTopK("s", 3, { alias: "top(s)" }),
    ).takeAll();
    const reference = groups();
    for (const row of rows) {
      const members = reference.get(Number(row.g))!;
      const what = `group ${row.g}`;
      const xs = present(members.map((r) => r.x));
      if (xs.length === 0) assert.equal(row["approx_quantile(x)"], null, what);
      else {
        const estimates = row["approx_quantile(x)"] as number[];
        assert.equal(estimates.length, qs.length);
        qs.forEach((q, i) => assertRankWithin(xs, estimates[i], q, quantileRankErrorBound(xs.length, precision), `${what} q=${q}`));
        assert.ok(quantileRankErrorBound(xs.length, precision) > 0, "the sketch compacted (its bound is not exact)");
      }
      const ts = members.map((r) => r.t);
      assertRankWithin(ts, (row["median(t)"] as number[])[0], 0.5, quantileRankErrorBound(ts.length, 800), `${what} median(t)`);
      const topT = (row["approx_topk(t)"] as { t: number; count: number }[]).map((e) => ({ value: e.t, count: e.count }));
      assertTopK(ts, topT, 5, topKErrorBound(ts.length, 2 ** logCapacity), `${what} approx_topk(t)`);
      assert.deepEqual(topT.slice(0, 2).map((e) => e.value), [1, 2], `${what}: the two most frequent values lead`);
      const topS = (row["top(s)"] as { s: string; count: number }[]).map((e) => ({ value: e.s, count: e.count }));
      const ss = present(members.map((r) => r.s));
      assertTopK(ss, topS, 3, 0, `${what} top(s) with 2^15 counters is exact`);
      assert.equal(topS.length, Math.min(3, new Set(ss).size), what);
    }
  });

  it("a non-numeric column, a bad quantile and a missing column fail naming the aggregation and column", async () => {
    assert.throws(() => rd.Quantile("x", 1.5), /Quantile\(x\): q must be in \[0, 1\], got 1.5/);
    assert.throws(() => rd.ApproximateTopK("s", 0), /ApproximateTopK\(s\): k must be a positive integer/);
    await assert.rejects(source().groupBy("g").aggregate(rd.Quantile("s")).takeAll(), /quantile\(s\) needs a numeric column; 's' is Utf8/);
    await assert.rejects(source().aggregate(rd.Unique("nope")).takeAll(), /nope/);
  });

  it("dataset-level sum/min/max/mean/std return the value (an object for several columns)", async () => {
    const xs = present(Array.from({ length: ROWS }, (_, id) => reference(id).x));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (xs.length - 1));
    const ds = source();
    assert.equal(await ds.sum("x"), xs.reduce((a, b) => a + b, 0));
    assert.equal(await ds.min("x"), Math.min(...xs));
    assert.equal(await ds.max("x"), Math.max(...xs));
    assert.ok(Math.abs((await ds.mean("x")) as number - mean) < 1e-9);
    assert.ok(Math.abs((await ds.std("x")) as number - std) < 1e-6);
    assert.deepEqual(await ds.max(["x", "t"]), { "max(x)": Math.max(...xs), "max(t)": Math.max(...Array.from({ length: ROWS }, (_, id) => reference(id).t)) });
    assert.equal(await ds.filter(function none() { return false; }).sum("x"), null, "no rows: null, as Ray's None");
  });
});

describe("the sketches against their stated error bounds", () => {
  /** A deterministic stream, independent of the sketches' own coin. */
  function lcg(seed: number): () => number {
    let state = seed;
    return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  }

  it("a quantile sketch merged from 40 partials of 5000 values stays within n·L/k ranks", () => {
    const random = lcg(7);
    const values: number[] = [];
    let merged = quantileSketch(400);
    for (let part = 0; part < 40; part++) {
      const s = quantileSketch(400);
      for (let i = 0; i < 5000; i++) {
        const v = Math.floor(random() ** 2 * 1e6); // skewed towards 0
        values.push(v);
        quantileSketchAdd(s, v);
      }
      merged = quantileSketchMerge(merged, structuredClone(s));
    }
    assert.equal(merged.n, values.length);
    const qs = [0, 0.01, 0.25, 0.5, 0.75, 0.99, 1];
    const bound = quantileRankErrorBound(values.length, 400);
    assert.ok(bound < 0.025 * values.length, `bound ${bound}`);
    quantileSketchQuery(merged, qs).forEach((estimate, i) => assertRankWithin(values, estimate, qs[i], bound, `q=${qs[i]}`));
    const kept = merged.levels.reduce((n, level) => n + level.length, 0);
    assert.ok(kept <= 400 * merged.levels.length && kept < values.length / 20, `${kept} values kept for ${values.length}`);
  });

  it("a Misra-Gries summary merged from partials under-counts by at most n/(capacity+1)", () => {
    const random = lcg(11);
    const values: number[] = [];
    let merged = topKSketch(20);
    for (let part = 0; part < 10; part++) {
      const s = topKSketch(20);
      for (let i = 0; i < 3000; i++) {
        const v = Math.floor(1 / (random() + 0.002)); // Zipf-like: small values common
        values.push(v);
        topKSketchAdd(s, v, v);
      }
      merged = topKSketchMerge(structuredClone(merged), s);
    }
    assert.ok(merged.counters.size <= 20);
    assertTopK(values, topKSketchQuery(merged, 10), 10, topKErrorBound(values.length, 20), "merged top 10");
  });
});
