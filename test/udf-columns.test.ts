// Projection pushdown through a mapGroups UDF whose source shows the columns it reads: the analysis on
// functions as a pipeline file's bundle gives them (every escape gives "may read anything"), a job that
// reads fewer bytes with the same result, a property that is no column, and the guard that makes a
// missed read fail naming the column.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromArrays } from "apache-arrow";
import * as rd from "../server/src/api";
import { TaskError, TaskRun } from "../server/src/cluster";
import { mapGroupBlocks } from "../server/src/exec/all-to-all";
import { loadPipeline } from "../server/src/loader";
import { udfColumns } from "../server/src/plan/udf-columns";
import { tempDir, writePipeline } from "./helpers";

/** Each UDF of the pipeline file below, with what the analysis must give for it (null: undefined, may read any column). */
const EXPECTED: Record<string, string[] | null> = {
  member: ["key", "v"],
  castAlias: ["v", "key"],
  aliasOfAlias: ["x", "y"],
  bracketLiteral: ["key", "a b"],
  destructured: ["a", "b"],
  destructuredParam: ["a", "b"],
  memberAssigned: ["z", "x"],
  usedInClosure: ["v", "key"],
  noParameter: [],
  asyncFunction: ["v"],
  classCall: ["k"],
  passedOn: null,
  methodCall: null,
  memberCalled: null,
  returned: null,
  spread: null,
  inOperator: null,
  forIn: null,
  objectKeys: null,
  computedKey: null,
  numericKey: null,
  letAlias: null,
  reassigned: null,
  shorthand: null,
  template: null,
  argumentsUsed: null,
  evalUsed: null,
  restPattern: null,
  defaultInPattern: null,
  defaultParameter: null,
  computedPattern: null,
  // The bundle gives the inner names other names (g3, h2): what the text shows is read.
  redeclaredInNested: ["x"],
  aliasRedeclared: ["x"],
  inheritedName: null,
  classWithSuper: null,
  classCallUsesThisCall: null,
  classPatched: null,
};

const UDFS = `
  import * as rd from "rdpipe";
  type G = rd.Columns;
  declare function helper(g: unknown): void;
  class Base { call(g: G) { return g.k; } }
  // Its text shows a call that reads k; the call it runs (patched in after) reads j.
  class Patched { call(g: G) { return { k: g.k }; } }
  (Patched.prototype as { call: unknown }).call = function (g: G) { return { j: g.j }; };
  const udfs: Record<string, Function> = {
    member: (g: G) => ({ key: g.key, n: [(g.v as Float64Array).length] }),
    castAlias: function summarize(batch: rd.Batch) { const group = batch as rd.Columns; const v = group.v as Float64Array; return { key: group.key, n: [v.length] }; },
    aliasOfAlias: (g: G) => { const h = g; const i = h; return { x: i.x, y: h["y"] }; },
    bracketLiteral: (g: G) => ({ key: g["key"], ab: g["a b"] }),
    destructured: (g: G) => { const { a, b: renamed } = g; return { a, renamed }; },
    destructuredParam: ({ a, b }: G) => ({ a, b }),
    memberAssigned: (g: G) => { g.z = g.x; return { z: g.z }; },
    usedInClosure: (g: G) => { const f = () => g.v; return { key: g.key, v: f() }; },
    noParameter: () => ({ one: [1] }),
    asyncFunction: async (g: G) => { await null; return { v: g.v }; },
    classCall: class { call(g: G) { return { k: g.k }; } },
    passedOn: (g: G) => { helper(g); return g.x; },
    methodCall: (g: G) => (g.hasOwnProperty("x") ? g.x : g.y),
    memberCalled: (g: G) => (g.x as unknown as () => unknown)(),
    returned: (g: G) => g,
    spread: (g: G) => ({ ...g }),
    inOperator: (g: G) => ("x" in g ? g.x : g.y),
    forIn: (g: G) => { const out: G = {}; for (const k in g) out[k] = g[k]; return out; },
    objectKeys: (g: G) => Object.keys(g),
    computedKey: (g: G) => { const k = "x" + ""; return { x: g[k] }; },
    numericKey: (g: G) => ({ x: (g as unknown as unknown[])[0] }),
    letAlias: (g: G) => { let h = g; h = { ...h }; return { x: h.x }; },
    reassigned: (g: G) => { g = { x: [1] }; return g.x; },
    shorthand: (g: G) => ({ g }),
    template: (g: G) => ({ s: [\`\${g}\`] }),
    argumentsUsed: function (g: G) { return { x: (arguments[0] as G).x, y: g.y }; },
    evalUsed: (g: G) => ({ x: eval("g.x"), y: g.y }),
    restPattern: ({ a, ...rest }: G) => ({ a, rest: [Object.keys(rest).length] }),
    defaultInPattern: ({ a = [0] }: G) => ({ a }),
    defaultParameter: (g: G = { x: [] }) => ({ x: g.x }),
    computedPattern: (g: G) => { const k = "x"; const { [k]: x } = g; return { x }; },
    redeclaredInNested: (g: G) => { const f = (h: G) => { const g = h; return g.z; }; return { x: g.x, z: f({}) }; },
    aliasRedeclared: (g: G) => { const h = g; const f = () => { const h = { y: [1] }; return h.y; }; return { x: h.x, y: f() }; },
    inheritedName: (g: G) => ({ x: g.constructor }),
    classWithSuper: class extends Base { call(g: G) { return { k: g.k }; } },
    classPatched: Patched,
    classCallUsesThisCall: class { call(g: G): unknown { return (this as { call: (g: G) => unknown }).call === undefined ? g.k : g.j; } },
  };
  (globalThis as { rdpipeUdfColumnsTest?: unknown }).rdpipeUdfColumnsTest = udfs;
  export default rd.range(1);
`;

describe("UDF column inference", function () {
  this.timeout(240_000);
  let tmp: string;
  let input: string;

  before(async () => {
    tmp = tempDir("rdpipe-udf-columns-");
    input = path.join(tmp, "facts.parquet");
    const duck = await DuckDBInstance.create(":memory:");
    const conn = await duck.connect();
    // s is wide (64 chars): reading it or not shows in the bytes read.
    await conn.run(`COPY (SELECT i::BIGINT AS id, (i % 997)::BIGINT AS key, (i * 7 % 1000)::DOUBLE AS v, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s
      FROM range(200000) t(i)) TO '${input}' (FORMAT parquet)`);
    conn.closeSync();
    duck.closeSync();
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  beforeEach(() => { rd.DataContext.reset(); });

  it("gives exactly the keys read for static reads, aliases, brackets and destructuring, and undefined for every escape, on a pipeline file's bundle", async () => {
    await loadPipeline(writePipeline(tmp, "udfs.rdpipe.ts", UDFS));
    const udfs = (globalThis as { rdpipeUdfColumnsTest?: Record<string, Function> }).rdpipeUdfColumnsTest!;
    assert.deepEqual(Object.keys(udfs).sort(), Object.keys(EXPECTED).sort());
    const reads = (fn: Function) => udfColumns(fn)?.reads;
    const wrong = Object.entries(EXPECTED).filter(([name, expected]) => JSON.stringify(reads(udfs[name])) !== JSON.stringify(expected ?? undefined));
    assert.deepEqual(wrong.map(([name]) => `${name}: ${JSON.stringify(reads(udfs[name]))} from ${udfs[name].toString()}`), []);
    // The result's columns: every return an object literal with fixed keys (a conditional of two), else none known.
    assert.deepEqual(udfColumns(udfs.castAlias)?.returns, ["key", "n"]);
    assert.deepEqual(udfColumns(udfs.usedInClosure)?.returns, ["key", "v"]);
    assert.deepEqual(udfColumns(udfs.noParameter)?.returns, ["one"]);
    assert.deepEqual(udfColumns(strict("g", "if (g.x) return { a: g.x }; return g.y ? { b: [1] } : { ['c']: [2] };"))?.returns, ["a", "b", "c"]);
    assert.equal(udfColumns(strict("g", "const out = { a: g.x }; return out;"))?.returns, undefined);
    assert.equal(udfColumns(strict("g", "return { ...{ a: g.x } };"))?.returns, undefined);
    // Text no bundler renamed: a name declared again in a nested scope, var.
    const unbundled: [string, string][] = [
      ["g", "const f = (h) => { const g = h; return g.z; }; return { x: g.x, z: f({}) };"],
      ["g", "const h = g; const f = () => { const h = { y: [1] }; return h.y; }; return { x: h.x, y: f() };"],
      ["g", "function g2() {} var g; return g.x;"],
      ["g", "var h = g; return h.x;"],
    ];
    // Sloppy-mode functions: the row is `f.arguments[0]` while f runs (a pipeline bundle is strict, as its modules are).
    assert.equal(udfColumns(new Function("g", "return g.x;")), undefined, "a sloppy function");
    assert.equal(udfColumns(new Function("g", "with (g) { return x; }")), undefined, "with");
    // A constructor may return another object, whose call runs instead of the class's own.
    assert.equal(udfColumns(strict("", "return class C { constructor() { return { call: (g) => ({ n: Object.keys(g).length }) }; } call(g) { return { n: g.a }; } };")() as Function), undefined, "a class with a constructor");
    for (const [param, body] of unbundled) assert.equal(udfColumns(strict(param, body)), undefined, body);
    assert.deepEqual(udfColumns(strict("g", "const h = g; return [h.x, g.y];"))?.reads, ["x", "y"]);
    assert.equal(udfColumns(Math.max), undefined, "native code");
    assert.equal(udfColumns(((g: rd.Columns) => g.x).bind(null)), undefined, "a bound function");
  });

  /** A strict function of this text (as the functions of a pipeline bundle are). */
  const strict = (param: string, body: string) => new Function(param, `"use strict"; ${body}`);

  /** Bytes this process has read through read()/pread() so far (the worker threads are part of it). */
  const bytesRead = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);

  /** Per key of the rows kept: row count and the sum of v (what the jobs below compute). */
  async function reference(keep = (_row: rd.Row) => true): Promise<Map<number, [number, number]>> {
    const out = new Map<number, [number, number]>();
    for (const row of await rd.readParquet(input).takeAll()) {
      if (!keep(row)) continue;
      const key = Number(row.key), [n, sum] = out.get(key) ?? [0, 0];
      out.set(key, [n + 1, sum + (row.v as number)]);
    }
    return out;
  }
  const byKey = (rows: rd.Row[]) => new Map(rows.map((r) => [Number(r.key), [Number(r.n), r.sum as number] as [number, number]]));

  it("a groupBy().mapGroups() whose UDF reads key and v reads only those columns, with the result of a full read", async () => {
    function summarize(batch: rd.Batch) {
      const group = batch as rd.Columns;
      const v = group.v as Float64Array;
      let sum = 0;
      for (let i = 0; i < v.length; i++) sum += v[i];
      return { key: [Number((group.key as BigInt64Array)[0])], n: [v.length], sum: [sum] };
    }
    // The same computation, but the group escapes to a helper: nothing can be left out.
    function escapes(batch: rd.Batch) {
      const summed = (g: rd.Columns) => {
        const v = g.v as Float64Array;
        let sum = 0;
        for (let i = 0; i < v.length; i++) sum += v[i];
        return { key: [Number((g.key as BigInt64Array)[0])], n: [v.length], sum: [sum] };
      };
      return summed(batch as rd.Columns);
    }
    const pruned = rd.readParquet(input).groupBy("key").mapGroups(summarize);
    const full = rd.readParquet(input).groupBy("key").mapGroups(escapes);
    assert.match(pruned.explain(), /MapGroups\(summarize\) reads only key, v \(from its source\)/);
    // Its result's n and sum are read too where the file has them (it has not): they would give those columns their types.
    assert.match(pruned.explain(), /ReadParquet: reads only columns key, v, n, sum \(of these, what the files have\)$/m);
    assert.doesNotMatch(full.explain(), /reads only/);

    await pruned.takeAll(); // every worker starts (and reads its code) before the reads are counted
    const before = bytesRead();
    const prunedRows = await pruned.takeAll();
    const prunedBytes = bytesRead() - before;
    const middle = bytesRead();
    const fullRows = await full.takeAll();
    const fullBytes = bytesRead() - middle;
    const expected = await reference();
    assert.deepEqual(byKey(prunedRows), expected);
    assert.deepEqual(byKey(fullRows), expected);
    // s holds most of the file's bytes: without it the read is a fraction.
    assert.ok(prunedBytes * 2 < fullBytes, `pruned read ${prunedBytes} bytes, full read ${fullBytes}`);
  });

  it("a property the UDF reads that is no column is read as absent, not an error", async () => {
    const withDefault = (batch: rd.Batch) => {
      const g = batch as rd.Columns;
      return { key: [Number((g.key as BigInt64Array)[0])], n: [(g.weights ?? g.v as Float64Array).length] };
    };
    const ds = rd.readParquet(input).groupBy("key").mapGroups(withDefault);
    assert.match(ds.explain(), /ReadParquet: reads only columns key, weights, v, n \(of these, what the files have\)$/m);
    const rows = await ds.takeAll();
    const expected = await reference();
    assert.deepEqual(new Map(rows.map((r) => [Number(r.key), Number(r.n)])), new Map([...expected].map(([k, [n]]) => [k, n])));
  });

  it("a filter reading only a property no file has, under a count, reads every column and counts every row", async () => {
    const ds = rd.readParquet(input).filter((r) => r.deleted !== true).aggregate(rd.Count());
    assert.doesNotMatch(ds.explain(), /reads only columns/);
    const [row] = await ds.takeAll();
    assert.equal(Number(row["count()"]), [...(await reference()).values()].reduce((n, [count]) => n + count, 0));
  });

  it("a result column named like an input column the UDF does not read keeps that column's type", async () => {
    // id is BIGINT in the file: the UDF's plain numbers for id become int64 only with the input's id to go by.
    const tagged = (batch: rd.Batch) => {
      const g = batch as rd.Columns;
      return { key: [Number((g.key as BigInt64Array)[0])], id: [7] };
    };
    const ds = rd.readParquet(input).groupBy("key").mapGroups(tagged);
    assert.match(ds.explain(), /ReadParquet: reads only columns key, id \(of these, what the files have\)$/m);
    const table = await ds.toArrow();
    assert.equal(String(table.schema.fields.find((f) => f.name === "id")!.type), "Int64");
    assert.equal(table.numRows, 997);
  });

  it("a filter UDF passes the projection of what comes after it, plus what its source reads", async () => {
    const big = (row: rd.Row) => (row.v as number) >= 500;
    const ds = rd.readParquet(input).filter(big).groupBy("key").aggregate(rd.Count(), rd.Sum("v"));
    const text = ds.explain();
    assert.match(text, /Filter\(big\) reads only v \(from its source\)/);
    assert.match(text, /ReadParquet: reads only columns key, v$/m);
    assert.match(text, /ReadParquet: filter and limit pushdown stop at Filter\(big\) \(a UDF\)/);
    await ds.takeAll(); // every worker starts (and reads its code) before the reads are counted
    const bytes = bytesRead();
    const rows = await ds.takeAll();
    assert.ok(bytesRead() - bytes < fs.statSync(input).size / 2, "the read left s out");
    const expected = await reference(big);
    assert.deepEqual(new Map(rows.map((r) => [Number(r.key), [Number(r["count()"]), r["sum(v)"] as number] as [number, number]])), expected);
    // Not through a filter that skips failing rows (their record keeps the whole row), nor one whose row escapes, nor to a write.
    assert.doesNotMatch(rd.readParquet(input).filter(big, { onError: "skip" }).groupBy("key").aggregate(rd.Count()).explain(), /reads only/);
    const escapes = (row: rd.Row) => JSON.stringify(row).length > 0;
    assert.doesNotMatch(rd.readParquet(input).filter(escapes).groupBy("key").aggregate(rd.Count()).explain(), /reads only/);
    assert.doesNotMatch(rd.readParquet(input).filter(big).writeParquet(path.join(tmp, "out")).explain(), /reads only/);
  });

  it("a read of a column the read left out fails naming the operator and the column, not undefined", async () => {
    // v is put in group order up front (a field of each group), name on its first read (a getter).
    const block = tableFromArrays({ key: new Float64Array([1, 1, 2]), v: new Float64Array([0.5, 1.5, 2.5]), name: ["a", "b", "c"] });
    const spec = { keys: ["key"], batchFormat: "columns" as const, operator: "MapGroups(f)", udfReads: ["key", "v", "name", "extra"] };
    const run = new TaskRun(undefined, () => undefined);
    const collect = async (fn: (g: rd.Columns) => unknown) => {
      const out = [];
      for await (const b of mapGroupBlocks([block], fn, spec, run, 1 << 20)) out.push(...b.toArray().map((r) => r.toJSON()));
      return out;
    };
    // What the analysis saw is there (a listed name that is no column is undefined, as without pruning).
    const ok = await collect((g) => ({ key: [(g.key as Float64Array)[0]], n: [(g.v as Float64Array).length], name: [(g.name as string[]).join("")], extra: [g.extra === undefined ? 1 : 0] }));
    assert.deepEqual(ok, [{ key: 1, n: 2, name: "ab", extra: 1 }, { key: 2, n: 1, name: "c", extra: 1 }]);
    // A name it did not see: the group's prototype catches it.
    const name = ["s"][0];
    await assert.rejects(collect((g) => ({ key: [(g.key as Float64Array)[0]], s: [g[name]] })), (e: unknown) => {
      assert.ok(e instanceof TaskError);
      assert.match(e.message, /^MapGroups\(f\): column s was left out of the read because f's source reads only key, v, name, extra; /);
      return true;
    });
  });
});
