// The exchange in the workers: sort, groupBy, mapGroups, shuffles and repartition over spilled
// partitions, checked against references computed here; spill folders gone after success, failure,
// cancel and a full disk (a real tmpfs).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { renderProgress } from "../server/src/cli/progress";
import { listFilesRecursive, tempDir } from "./helpers";

const ROWS = 120_000;

/** The rows the `source` datasets below make, as the engine makes them (id order). */
function referenceRows(): { id: number; a: number | null; b: string; v: number }[] {
  return Array.from({ length: ROWS }, (_, id) => ({ id, a: id % 13 === 0 ? null : (id * 7919) % 1000, b: `s${(id * 31) % 97}`, v: (id * 17) % 1009 }));
}

function source(): rd.Dataset {
  return rd.range(ROWS, { overrideNumBlocks: 8 }).map(function row(r) {
    const id = r.id as number;
    return { id, a: id % 13 === 0 ? null : (id * 7919) % 1000, b: `s${(id * 31) % 97}`, v: (id * 17) % 1009 };
  });
}

const ids = (rows: rd.Row[]) => rows.map((r) => Number(r.id));

/** A written folder's rows per write task, in name order: files are <job>_<task>_<n>, and a task's output may span files of the block size. */
async function rowsPerTask(folder: string): Promise<rd.Row[][]> {
  const perTask = new Map<string, rd.Row[]>();
  for (const file of listFilesRecursive(folder).sort()) {
    const task = path.basename(file).replace(/_\d+\.parquet$/, "");
    perTask.set(task, [...(perTask.get(task) ?? []), ...(await rd.readParquet(file).takeAll())]);
  }
  return [...perTask.values()];
}

describe("the exchange: all-to-all operators in the workers", function () {
  this.timeout(120_000);
  let spill: string;
  let dir: string;

  beforeEach(() => {
    const context = rd.DataContext.reset();
    context.resourceLimits = { cpu: 2, memoryBytes: 8 * 2 ** 20 };
    spill = tempDir("rdpipe-spill-test-");
    context.spillDir = spill;
    dir = tempDir();
  });
  afterEach(() => {
    // Whatever the case did (succeed, fail, cancel), the job's spill folder is gone.
    assert.deepEqual(fs.readdirSync(spill), [], "spill files left behind");
    fs.rmSync(spill, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("sorts by several keys, a direction each, nulls last, stably, over spilled sorted runs", async () => {
    let last: rd.ProgressSnapshot | undefined;
    const table = await source().sort(["a", "b"], { descending: [false, true] }).toArrow({ onProgress: (s) => { last = s; } });
    const expected = referenceRows().sort((x, y) => {
      if (x.a !== y.a) return x.a === null ? 1 : y.a === null ? -1 : x.a - y.a;
      return x.b === y.b ? 0 : x.b < y.b ? 1 : -1; // ties keep input (id) order: Array#sort is stable
    });
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expected.map((r) => r.id));
    const map = last!.operators.find((op) => op.name.endsWith("->Sort(a, b)(map)"))!;
    const reduce = last!.operators.find((op) => op.name === "Sort(a, b)")!;
    assert.ok((map.bytesSpilled ?? 0) > 0, "the map side spilled under an 8 MiB budget");
    assert.match(renderProgress(last!).find((line) => line.startsWith(map.name))!, /spilled \d/);
    assert.ok(reduce.tasksDone > 1, `${reduce.tasksDone} reduce tasks`);
    assert.equal(reduce.rowsDone, ROWS);
  });

  it("cuts a skewed sort key (3 values) into more partitions than values, still stable", async () => {
    let last: rd.ProgressSnapshot | undefined;
    const table = await source().map(function three(r) { return { id: r.id, k: (r.id as number) % 3, pad: "x".repeat(100) }; }).sort("k", { descending: true })
      .toArrow({ onProgress: (s) => { last = s; } });
    const expected = referenceRows().map((r) => ({ id: r.id, k: r.id % 3 })).sort((x, y) => y.k - x.k).map((r) => r.id);
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expected);
    assert.ok(last!.operators.find((op) => op.name === "Sort(k)")!.tasksDone > 3, "equal keys were cut into several partitions");
  });

  it("writes a sorted dataset into files whose name order is the row order (an overwrite replacing what was there)", async () => {
    const out = path.join(dir, "sorted");
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "stale.parquet"), "old");
    await source().sort("v", { descending: true }).writeParquet(out, { mode: "overwrite" }).run();
    const files = listFilesRecursive(out).sort();
    assert.ok(!files.some((f) => f.endsWith("stale.parquet")), "the overwrite replaced the old file");
    assert.ok(files.length > 1, `${files.length} files`);
    const values: number[] = [];
    for (const file of files) values.push(...(await rd.readParquet(file).takeAll()).map((r) => Number(r.v)));
    assert.deepEqual(values, referenceRows().map((r) => r.v).sort((x, y) => y - x));
  });

  it("groups two-phase (partials) with few groups and by rows with many, equal to a reference", async () => {
    for (const [name, groupOf] of [["few", (r: { id: number }) => r.id % 7], ["many", (r: { id: number }) => Math.floor(r.id / 2)]] as const) {
      const keyed = source().map(name === "few" ? function few(r) { return { ...r, k: (r.id as number) % 7 }; } : function many(r) { return { ...r, k: Math.floor((r.id as number) / 2) }; });
      const rows = await keyed.groupBy("k").aggregate(rd.Count(), rd.Sum("v"), rd.Min("a"), rd.Max("a"), rd.Mean("v"), rd.Std("v")).takeAll();
      const groups = new Map<number, { n: number; sum: number; min: number | null; max: number | null; values: number[] }>();
      for (const r of referenceRows()) {
        const g = groups.get(groupOf(r)) ?? { n: 0, sum: 0, min: null, max: null, values: [] };
        g.n++; g.sum += r.v; g.values.push(r.v);
        if (r.a !== null) { g.min = g.min === null ? r.a : Math.min(g.min, r.a); g.max = g.max === null ? r.a : Math.max(g.max, r.a); }
        groups.set(groupOf(r), g);
      }
      assert.equal(rows.length, groups.size, name);
      for (const row of rows) {
        const g = groups.get(Number(row.k))!;
        const mean = g.sum / g.n;
        const std = g.n < 2 ? 0 : Math.sqrt(g.values.reduce((s, v) => s + (v - mean) ** 2, 0) / (g.n - 1));
        assert.deepEqual([Number(row["count()"]), Number(row["sum(v)"]), row["min(a)"] === null ? null : Number(row["min(a)"]), row["max(a)"] === null ? null : Number(row["max(a)"])], [g.n, g.sum, g.min, g.max], `${name} group ${row.k}`);
        assert.ok(Math.abs((row["mean(v)"] as number) - mean) < 1e-9 && Math.abs((row["std(v)"] as number) - std) < 1e-6, `${name} group ${row.k}`);
      }
    }
  });

  it("groups a Parquet read decoding only the columns it aggregates, a hive partition column as key", async () => {
    const input = path.join(dir, "hive");
    for (const part of ["a", "b"]) {
      await rd.fromItems(Array.from({ length: 1000 }, (_, i) => ({ v: part === "a" ? i : 2 * i, unused: `x${i}` }))).writeParquet(path.join(input, `part=${part}`)).run();
    }
    const rows = await rd.readParquet(input).groupBy("part").aggregate(rd.Count(), rd.Sum("v")).takeAll();
    assert.deepEqual(rows.map((r) => [r.part, Number(r["count()"]), Number(r["sum(v)"])]).sort(), [["a", 1000, 499_500], ["b", 1000, 999_000]]);
  });

  it("mapGroups gives each group whole: columns by default, rows when asked, and to a class UDF", async () => {
    const keyed = source().map(function bucket(r) { return { id: r.id, k: (r.id as number) % 11 }; });
    const sizes = await keyed.groupBy("k").mapGroups(function size(batch: rd.Batch) {
      const columns = batch as Record<string, number[]>;
      return { k: [columns.k[0]], n: [columns.id.length], distinctK: [new Set(columns.k).size] };
    }).takeAll();
    assert.deepEqual(sizes.map((r) => [Number(r.k), Number(r.n), Number(r.distinctK)]).sort((x, y) => x[0] - y[0]),
      Array.from({ length: 11 }, (_, k) => [k, Math.ceil((ROWS - k) / 11), 1]));
    const firstIds = await keyed.groupBy("k").mapGroups(function first(rows: rd.Batch) {
      const list = rows as rd.Row[];
      return [{ k: list[0].k, minId: Math.min(...list.map((r) => r.id as number)) }];
    }, { batchFormat: "rows" }).takeAll();
    assert.deepEqual(firstIds.map((r) => Number(r.minId)).sort((x, y) => x - y), Array.from({ length: 11 }, (_, k) => k));
    class Scaled {
      constructor(private readonly factor: number) {}
      call(batch: rd.Batch) {
        const columns = batch as Record<string, number[]>;
        return { k: [columns.k[0]], scaled: [columns.id.length * this.factor] };
      }
    }
    const scaled = await keyed.groupBy("k").mapGroups(Scaled, { fnConstructorArgs: [10] }).takeAll();
    assert.deepEqual(scaled.map((r) => Number(r.scaled)).sort((x, y) => x - y), Array.from({ length: 11 }, (_, k) => Math.ceil((ROWS - k) / 11) * 10).sort((x, y) => x - y));
  });

  it("randomShuffle is a seeded permutation; repartition cuts in order or by key; unique", async () => {
    const once = ids(await source().randomShuffle({ seed: 7 }).takeAll());
    assert.deepEqual(once, ids(await source().randomShuffle({ seed: 7 }).takeAll()), "the same seed, the same order");
    assert.notDeepEqual(once, ids(await source().randomShuffle({ seed: 8 }).takeAll()));
    assert.notDeepEqual(once, referenceRows().map((r) => r.id));
    assert.deepEqual([...once].sort((x, y) => x - y), referenceRows().map((r) => r.id));

    const inOrder = path.join(dir, "in-order");
    await source().repartition(5).writeParquet(inOrder).run();
    const perTask = await rowsPerTask(inOrder);
    assert.deepEqual(perTask.map((rows) => rows.length), [24_000, 24_000, 24_000, 24_000, 24_000]);
    assert.deepEqual(perTask.flatMap(ids), referenceRows().map((r) => r.id));

    const byKey = path.join(dir, "by-key");
    await source().map(function key(r) { return { id: r.id, k: (r.id as number) % 10 }; }).repartition(3, { keys: "k" }).writeParquet(byKey).run();
    const keysPerTask = (await rowsPerTask(byKey)).map((rows) => new Set(rows.map((r) => Number(r.k))));
    assert.deepEqual(keysPerTask.flatMap((keys) => [...keys]).sort((x, y) => x - y), Array.from({ length: 10 }, (_, k) => k), "each key in exactly one block");

    assert.deepEqual((await source().unique("b")).sort(), [...new Set(referenceRows().map((r) => r.b))].sort());
  });

  it("names a missing key column and its operator (when building, if the columns are known); refuses a struct sort key", async () => {
    const items = rd.fromItems([{ a: 1, b: "x" }]);
    assert.throws(() => items.sort("c"), /Sort\(c\): unknown column 'c'; available columns: a, b/);
    assert.throws(() => items.selectColumns(["a"]).groupBy(["a", "b"]), /groupBy\(a, b\): unknown column 'b'; available columns: a/);
    assert.throws(() => items.repartition(2, { keys: "z" }), /Repartition\(2\): unknown column 'z'/);
    assert.throws(() => items.sort(["a", "b"], { descending: [true] }), /Sort\(a, b\): 2 key column\(s\) but 1 descending flag/);
    // Columns a UDF makes are known only when blocks come: the first block names the column.
    await assert.rejects(source().sort("nope").takeAll(), /Sort\(nope\).*unknown column 'nope'; available columns: id, a, b, v/s);
    await assert.rejects(source().groupBy("nope").count().takeAll(), /unknown column 'nope'/);
    const structs = rd.range(100).map(function nest(r) { return { id: r.id, s: { x: r.id } }; });
    await assert.rejects(structs.sort("s").takeAll(), /Sort\(s\): column 's' has type Struct.*cannot be compared/s);
  });

  it("removes the spill folder when the job fails or is cancelled mid-exchange", async () => {
    const failing = source().sort("v").map(function explode(r) {
      if ((r.v as number) === 1000) throw new Error("boom at 1000");
      return r;
    });
    await assert.rejects(failing.takeAll(), /boom at 1000/);
    assert.deepEqual(fs.readdirSync(spill), []);

    const controller = new AbortController();
    let sawSpill = false;
    const slowSort = source().map(function slow(r) {
      const until = Date.now() + ((r.id as number) % 2000 === 0 ? 20 : 0);
      while (Date.now() < until);
      return r;
    }).sort("v");
    await assert.rejects(slowSort.toArrow({
      signal: controller.signal,
      onProgress: (s) => {
        const map = s.operators.find((op) => op.name.endsWith("(map)"));
        if ((map?.bytesSpilled ?? 0) > 0 && !sawSpill) { sawSpill = true; controller.abort(); }
      },
    }), /cancelled/);
    assert.ok(sawSpill, "cancelled once partitions were spilled");
  });

  describe("on a full disk (a real tmpfs)", () => {
    let mount: string;
    before(() => {
      mount = tempDir("rdpipe-spill-tmpfs-");
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]);
    });
    after(() => {
      execFileSync("umount", [mount]);
      fs.rmdirSync(mount);
    });

    it("fails with the disk's error, naming the exchange, and leaves no spill files", async () => {
      rd.DataContext.getCurrent().spillDir = mount;
      await assert.rejects(source().sort("v").takeAll(), /Sort\(v\): spilling partitions to .*: ENOSPC: no space left on device/);
      assert.deepEqual(fs.readdirSync(mount), []);
    });
  });
});
