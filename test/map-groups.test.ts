// groupBy().mapGroups() in the workers' reduce tasks: each group whole (larger than a block, or of one
// row), null keys one group, multi-column keys, results of other schemas and sizes, errors naming the
// operator and the group's key; checked against references computed here, under an 8 MiB budget.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { listFilesRecursive, runCli, tempDir, writePipeline } from "./helpers";

const ROWS = 60_000;

/** What `keyed()` makes: a (nulls every 7th row), b a string, v a number. */
function referenceRows(): { id: number; a: number | null; b: string; v: number }[] {
  return Array.from({ length: ROWS }, (_, id) => ({ id, a: id % 7 === 0 ? null : id % 5, b: `b${id % 3}`, v: (id * 13) % 101 }));
}

function keyed(): rd.Dataset {
  return rd.range(ROWS, { overrideNumBlocks: 6 }).map(function row(r) {
    const id = r.id as number;
    return { id, a: id % 7 === 0 ? null : id % 5, b: `b${id % 3}`, v: (id * 13) % 101 };
  });
}

/** Rows grouped by the JSON of their key values, each group's ids in input order. */
function referenceGroups<T extends { id: number }>(rows: T[], key: (row: T) => unknown[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const row of rows) {
    const k = JSON.stringify(key(row));
    const ids = groups.get(k);
    if (ids) ids.push(row.id);
    else groups.set(k, [row.id]);
  }
  return groups;
}

describe("mapGroups in the reduce tasks", function () {
  this.timeout(120_000);
  let spill: string;

  beforeEach(() => {
    const context = rd.DataContext.reset();
    context.resourceLimits = { cpu: 2, memoryBytes: 8 * 2 ** 20 };
    spill = tempDir("rdpipe-spill-test-");
    context.spillDir = spill;
  });
  afterEach(() => {
    assert.deepEqual(fs.readdirSync(spill), [], "spill files left behind");
    fs.rmSync(spill, { recursive: true, force: true });
  });

  it("hands each group whole, in input order: null keys as one group, multi-column keys with nulls in either", async () => {
    const summarize = function ids(batch: rd.Batch) {
      const columns = batch as Record<string, ArrayLike<unknown>>;
      const list = Array.from(columns.id as ArrayLike<number>);
      return { a: [columns.a[0]], ids: [list.join(",")] };
    };
    const single = await keyed().groupBy("a").mapGroups(summarize).takeAll();
    const expectedSingle = referenceGroups(referenceRows(), (r) => [r.a]);
    assert.equal(single.length, expectedSingle.size, "one call per distinct a, null included");
    for (const row of single) assert.equal(row.ids, expectedSingle.get(JSON.stringify([row.a]))!.join(","), `group a = ${row.a}`);
    assert.equal(single.filter((r) => r.a === null).length, 1, "the null keys are one group");

    const pairs = await keyed().map(function nullB(r) { return { ...r, b: (r.id as number) % 11 === 0 ? null : r.b }; })
      .groupBy(["a", "b"]).mapGroups(function pair(batch: rd.Batch) {
        const columns = batch as Record<string, ArrayLike<unknown>>;
        return { a: [columns.a[0]], b: [columns.b[0]], ids: [Array.from(columns.id as ArrayLike<number>).join(",")] };
      }).takeAll();
    const rows = referenceRows().map((r) => ({ ...r, b: r.id % 11 === 0 ? null : r.b }));
    const expectedPairs = referenceGroups(rows, (r) => [r.a, r.b]);
    assert.equal(pairs.length, expectedPairs.size);
    for (const row of pairs) assert.equal(row.ids, expectedPairs.get(JSON.stringify([row.a, row.b]))!.join(","), `group (${row.a}, ${row.b})`);
  });

  it("gives a group larger than a block whole, and many one-row groups each their own call", async () => {
    // 40k rows of 40-character strings in one group: about 2 MiB, where blocks are 1 MiB under this budget.
    const big = await rd.range(ROWS, { overrideNumBlocks: 6 }).map(function wide(r) {
      const id = r.id as number;
      return { id, k: id < 40_000 ? "big" : `small${id}`, text: `${id}`.padStart(40, "x") };
    }).groupBy("k").mapGroups(function sizes(batch: rd.Batch) {
      const columns = batch as Record<string, ArrayLike<unknown>>;
      const ids = columns.id as ArrayLike<number>;
      let ascending = true;
      for (let i = 1; i < ids.length; i++) if (ids[i] <= ids[i - 1]) ascending = false;
      const text = columns.text as string[];
      const spread = { ...columns, n: [ids.length] };
      return { key: [columns.k[0]], n: spread.n, ascending: [ascending], textOk: [text.every((t, i) => t === `${ids[i]}`.padStart(40, "x"))], names: [Object.keys(spread).join(",")] };
    }).takeAll();
    assert.equal(big.length, 1 + (ROWS - 40_000));
    const bigGroup = big.find((r) => r.key === "big")!;
    assert.deepEqual([Number(bigGroup.n), bigGroup.ascending, bigGroup.textOk, bigGroup.names], [40_000, true, true, "id,k,text,n"], "every column an own enumerable property");
    assert.ok(big.filter((r) => r.key !== "big").every((r) => Number(r.n) === 1 && r.textOk === true), "each small group is its one row");
  });

  it("takes results of another schema, of no rows and of more rows than the group; typed arrays keep their type", async () => {
    const table = await keyed().groupBy("a").mapGroups(function reshape(batch: rd.Batch) {
      const columns = batch as Record<string, ArrayLike<unknown>>;
      const a = columns.a[0] as number | null;
      if (a === 1) return { a: [], label: [], count: new Int32Array(0), even: [], id: new Float64Array(0) }; // no rows
      const n = columns.id.length;
      // Two rows per input row (more than it got): its id twice, flagged.
      const ids = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) { ids[2 * i] = Number(columns.id[i]); ids[2 * i + 1] = Number(columns.id[i]); }
      const labels = Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? `first ${a}` : `second ${a}`));
      return { a: Array.from({ length: 2 * n }, () => a), label: labels, count: new Int32Array(2 * n).fill(n), even: labels.map((_, i) => i % 2 === 0), id: ids };
    }).toArrow();
    assert.deepEqual(table.schema.fields.map((f) => `${f.name}: ${f.type}`), ["a: Float64", "label: Utf8", "count: Int32", "even: Bool", "id: Float64"]);
    const rows = referenceRows();
    const kept = rows.filter((r) => r.a !== 1);
    assert.equal(table.numRows, 2 * kept.length);
    const ids = Array.from(table.getChild("id")!.toArray() as Float64Array).sort((x, y) => x - y);
    assert.deepEqual(ids, kept.flatMap((r) => [r.id, r.id]).sort((x, y) => x - y));
    const counts = new Map<string, number>();
    for (const r of kept) counts.set(String(r.a), (counts.get(String(r.a)) ?? 0) + 1);
    const out = table.toArray().map((r) => r.toJSON());
    for (const r of out) assert.equal(r.count, counts.get(String(r.a)), `count of group ${r.a}`);
    assert.ok(!out.some((r) => r.a === 1), "the group that returned no rows has none");
  });

  it("hands rows and Arrow tables when asked, and writes its results in few files", async () => {
    const expected = referenceGroups(referenceRows(), (r) => [r.b]);
    const rows = await keyed().groupBy("b").mapGroups(function fromRows(batch: rd.Batch) {
      const list = batch as rd.Row[];
      return [{ b: list[0].b, n: list.length, sum: list.reduce((s, r) => s + (r.v as number), 0) }];
    }, { batchFormat: "rows" }).takeAll();
    assert.deepEqual(rows.map((r) => [r.b, Number(r.n)]).sort(), [...expected].map(([k, ids]) => [JSON.parse(k)[0], ids.length]).sort());
    const sums = new Map(rows.map((r) => [r.b, Number(r.sum)]));
    for (const b of ["b0", "b1", "b2"]) assert.equal(sums.get(b), referenceRows().filter((r) => r.b === b).reduce((s, r) => s + r.v, 0));

    const arrow = await keyed().groupBy("b").mapGroups(function fromArrow(batch: rd.Batch) {
      const table = batch as import("apache-arrow").Table;
      return table.select(["b", "id"]).slice(0, 2);
    }, { batchFormat: "arrow" }).takeAll();
    assert.deepEqual(arrow.map((r) => [r.b, Number(r.id)]).sort(), [["b0", 0], ["b0", 3], ["b1", 1], ["b1", 4], ["b2", 2], ["b2", 5]]);

    // 60k one-row results: gathered into blocks, not a block (and a file) per group.
    const dir = tempDir();
    try {
      await keyed().groupBy("id").mapGroups(function same(batch: rd.Batch) { return batch; }).writeParquet(dir).run();
      const files = listFilesRecursive(dir);
      assert.ok(files.length <= 64, `${files.length} files for ${ROWS} groups`);
      const back = await rd.readParquet(dir).takeAll();
      assert.deepEqual(back.map((r) => Number(r.id)).sort((x, y) => x - y), referenceRows().map((r) => r.id));
      assert.deepEqual(back.find((r) => Number(r.id) === 14), { id: 14, a: null, b: "b2", v: (14 * 13) % 101 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the operator and the group's key when the UDF fails or returns a batch of unequal columns", async () => {
    await assert.rejects(keyed().groupBy(["a", "b"]).mapGroups(function picky(batch: rd.Batch) {
      const columns = batch as Record<string, ArrayLike<unknown>>;
      if (columns.a[0] === 3 && columns.b[0] === "b1") throw new Error("no threes");
      return { n: [columns.id.length] };
    }).takeAll(), /MapGroups\(picky\) failed on the group \(a = 3, b = "b1"\) \(\d+ rows\): Error: no threes/);
    await assert.rejects(keyed().groupBy("a").mapGroups(function ragged(batch: rd.Batch) {
      const columns = batch as Record<string, ArrayLike<unknown>>;
      return columns.a[0] === null ? { x: [1, 2], y: [1] } : { x: [1], y: [1] };
    }).takeAll(), /MapGroups\(ragged\): the result for the group a = null: column 'y' has 1 values but other columns have 2/);
  });

  it("keeps a reduce task's memory flat in the number of groups: peak RSS near a run without the groupBy", function () {
    // 600k rows in 125k groups of about 5 under a 32 MB budget. A block per group (as before) peaked
    // over 300 MiB above the same job without mapGroups; the process's own peak RSS, threads and all.
    const dir = tempDir();
    try {
      const pipeline = writePipeline(dir, "groups.rdpipe.ts", `import * as rd from "rdpipe";
const input = rd.range(600_000, { overrideNumBlocks: 16 }).mapBatches(function columns(batch: rd.Batch) {
  const ids = (batch as rd.Columns).id as BigInt64Array;
  const n = ids.length, key = new Float64Array(n), v = new Float64Array(n), s = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const id = Number(ids[i]);
    key[i] = (id * 2654435761) % 125000; v[i] = (id * 7919) % 1000003; s[i] = String(id).padStart(16, "s");
  }
  return { id: ids, key, v, s };
});
const out = process.env.PLAIN ? input : input.groupBy("key").mapGroups(function summarize(batch: rd.Batch) {
  const c = batch as rd.Columns, v = c.v as Float64Array;
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > max) max = v[i];
  return { key: [c.key[0]], n: [v.length], vmax: [max] };
});
export default out.writeParquet(${JSON.stringify(path.join(dir, "out"))}, { mode: "overwrite" });
`);
      const report = writePipeline(dir, "rss.js", `if (require("node:worker_threads").isMainThread) process.on("exit", () => require("node:fs").writeSync(2, "maxrss " + process.resourceUsage().maxRSS + "\\n"));`);
      const peak = (env: Record<string, string>) => {
        const run = runCli(["run", pipeline, "--memory", "32MB", "--workers", "2", "--quiet"], { env: { ...env, NODE_OPTIONS: `--require ${report}` } });
        assert.equal(run.code, 0, run.stderr);
        return Number(/maxrss (\d+)/.exec(run.stderr)![1]) / 1024;
      };
      const plain = peak({ PLAIN: "1" });
      const grouped = peak({});
      assert.equal(listFilesRecursive(path.join(dir, "out")).length > 0, true);
      assert.ok(grouped <= plain + 100, `mapGroups peaked at ${grouped.toFixed(0)} MiB, the job without it at ${plain.toFixed(0)} MiB`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
