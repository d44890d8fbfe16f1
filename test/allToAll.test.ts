import { strict as assert } from "node:assert";
import { Bool, DataType, Int32, Int64, TimestampMillisecond, Type, makeVector, vectorFromArray } from "apache-arrow";
import { Block, BlockError, Row, blockFromColumns, blockFromRows, blockToRows, utf8Vector } from "../server/src/block";
import { AggregateFn, Count, Max, Mean, Min, Std, Sum, customAggregate } from "../server/src/api";
import { GroupAggregator, repartitionBlocks, shuffleBlocks, sortBlocks, zipBlocks } from "../server/src/exec/all-to-all";

/** A deterministic PRNG for test data, independent of the one under test. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/** Splits rows into blocks of the given sizes (which must add up to rows.length). */
function blocksOf(rows: Row[], sizes: number[]): Block[] {
  assert.equal(sizes.reduce((a, b) => a + b, 0), rows.length);
  const blocks: Block[] = [];
  let start = 0;
  for (const size of sizes) {
    blocks.push(blockFromRows(rows.slice(start, start + size)));
    start += size;
  }
  return blocks;
}

const rowsOf = (blocks: Block[]) => blocks.flatMap(blockToRows);
const column = (blocks: Block[], name: string) => rowsOf(blocks).map((r) => r[name]);
const typeOf = (block: Block, name: string) => block.schema.fields.find((f) => f.name === name)!.type;

describe("repartitionBlocks", () => {
  const rows = Array.from({ length: 10 }, (_, i) => ({ id: i, name: `n${i}` }));

  it("splits into n blocks of nearly equal size, keeping row order", () => {
    const out = repartitionBlocks(blocksOf(rows, [1, 7, 2]), 4);
    assert.deepEqual(out.map((b) => b.numRows), [3, 3, 2, 2]);
    assert.deepEqual(rowsOf(out), rows);
  });

  it("gives exactly n blocks, some empty but with the schema, when n exceeds the rows", () => {
    const out = repartitionBlocks(blocksOf(rows.slice(0, 2), [2]), 5);
    assert.deepEqual(out.map((b) => b.numRows), [1, 1, 0, 0, 0]);
    assert.deepEqual(out[4].schema.fields.map((f) => f.name), ["id", "name"]);
  });

  it("rejects a block count that is not a positive whole number", () => {
    assert.throws(() => repartitionBlocks(blocksOf(rows, [10]), 0), BlockError);
    assert.throws(() => repartitionBlocks(blocksOf(rows, [10]), 2.5), /positive whole number/);
  });
});

describe("shuffleBlocks", () => {
  const rows = Array.from({ length: 1000 }, (_, i) => ({ id: i, double: i * 2, label: `r${i}` }));
  const input = blocksOf(rows, [100, 400, 250, 250]);

  it("is a permutation of the rows, in as many blocks as the input", () => {
    const out = shuffleBlocks(input, 42);
    assert.equal(out.length, 4);
    assert.equal(out.reduce((n, b) => n + b.numRows, 0), 1000);
    const shuffled = rowsOf(out);
    for (const row of shuffled) assert.deepEqual(row, rows[row.id as number]); // columns travel together
    assert.deepEqual([...shuffled.map((r) => r.id as number)].sort((a, b) => a - b), rows.map((r) => r.id));
    const stayed = shuffled.filter((row, i) => row.id === i).length;
    assert.ok(stayed < 20, `${stayed} of 1000 rows kept their position`);
  });

  it("is deterministic for a seed and differs between seeds", () => {
    const ids = (seed: number) => column(shuffleBlocks(input, seed), "id");
    assert.deepEqual(ids(7), ids(7));
    assert.notDeepEqual(ids(7), ids(8));
  });

  it("returns one empty block for empty input", () => {
    const out = shuffleBlocks([], 1);
    assert.equal(out.length, 1);
    assert.equal(out[0].numRows, 0);
  });
});

describe("sortBlocks", () => {
  it("gathers list and struct values (strings and int64 inside) as they were", () => {
    const nested = [
      { k: 2, tags: ["b", "c"], p: { name: "y", n: 5n }, ids: [7n, 8n] },
      { k: 1, tags: [], p: { name: "x", n: 1n }, ids: [] },
      { k: 3, tags: ["a"], p: null, ids: [9007199254740993n] },
    ];
    const out = rowsOf(sortBlocks([blockFromRows(nested)], "k"));
    assert.deepEqual(out, [
      { k: 1, tags: [], p: { name: "x", n: 1 }, ids: [] },
      { k: 2, tags: ["b", "c"], p: { name: "y", n: 5 }, ids: [7, 8] },
      { k: 3, tags: ["a"], p: null, ids: [9007199254740993n] },
    ]);
  });

  const random = lcg(3);
  // Few distinct values, so there are many ties to check stability on.
  const rows = Array.from({ length: 2000 }, (_, pos) => ({
    pos,
    x: Math.round((random() - 0.5) * 100) / 4,
    g: Math.floor(random() * 5),
    s: ["pear", "apple", "fig", "Banana", "apple pie"][Math.floor(random() * 5)],
  }));
  const input = blocksOf(rows, [500, 1, 999, 500]);

  it("sorts numbers ascending, stably, into blocks of about the input's size", () => {
    const out = sortBlocks(input, "x");
    const expected = [...rows].sort((a, b) => a.x - b.x); // Array#sort is stable
    assert.deepEqual(rowsOf(out), expected);
    assert.equal(out.length, 4);
    assert.deepEqual(out.map((b) => b.numRows), [500, 500, 500, 500]);
  });

  it("sorts descending, still stably", () => {
    const out = sortBlocks(input, ["x"], true);
    assert.deepEqual(column(out, "pos"), [...rows].sort((a, b) => b.x - a.x).map((r) => r.pos));
  });

  it("sorts by several keys with a direction per key", () => {
    const out = sortBlocks(input, ["g", "s", "x"], [true, false, true]);
    const expected = [...rows].sort((a, b) => b.g - a.g || (a.s < b.s ? -1 : a.s > b.s ? 1 : 0) || b.x - a.x);
    assert.deepEqual(column(out, "pos"), expected.map((r) => r.pos));
  });

  it("puts NaN and then nulls last in both directions", () => {
    const values = [3, null, -1, NaN, 2, null, -Infinity, 0, Infinity];
    const blocks = [blockFromColumns({ v: values.slice(0, 4) }), blockFromColumns({ v: values.slice(4) })];
    assert.deepEqual(column(sortBlocks(blocks, "v"), "v"), [-Infinity, -1, 0, 2, 3, Infinity, NaN, null, null]);
    assert.deepEqual(column(sortBlocks(blocks, "v", true), "v"), [Infinity, 3, 2, 0, -1, -Infinity, NaN, null, null]);
  });

  it("sorts strings by code point (UTF-8 byte order, as Arrow), not UTF-16 code unit", () => {
    const words = ["b", "\uFF5E", "😀", "é", "", "a", "Z", "ab", null, "\uE000"];
    const blocks = [blockFromColumns({ w: utf8Vector(words.slice(0, 5)) }), blockFromColumns({ w: utf8Vector(words.slice(5)) })];
    const present = words.filter((w): w is string => w !== null);
    const byUtf8Bytes = [...present].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(column(sortBlocks(blocks, "w"), "w"), [...byUtf8Bytes, null]);
    assert.deepEqual(column(sortBlocks(blocks, "w", true), "w"), [...byUtf8Bytes.reverse(), null]);
  });

  it("sorts int64 beyond 2^53 exactly and keeps the int64 type", () => {
    const big = [2n ** 62n, -(2n ** 60n), 2n ** 53n + 1n, 2n ** 53n, 5n, 2n ** 62n - 1n];
    const blocks = [
      blockFromColumns({ v: makeVector(BigInt64Array.from(big.slice(0, 3))) }),
      blockFromColumns({ v: makeVector(BigInt64Array.from(big.slice(3))) }),
    ];
    const out = sortBlocks(blocks, "v");
    assert.equal(typeOf(out[0], "v").typeId, Type.Int);
    assert.equal((typeOf(out[0], "v") as Int64).bitWidth, 64);
    const sorted = out.flatMap((b) => Array.from(b.getChild("v")!.toArray() as BigInt64Array));
    assert.deepEqual(sorted, [...big].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("sorts booleans and timestamps", () => {
    const times = [5000, 1000, null, 3000];
    const block = blockFromColumns({
      flag: vectorFromArray([true, false, null, false], new Bool()),
      t: vectorFromArray(times, new TimestampMillisecond()),
    });
    assert.deepEqual(column(sortBlocks([block], "t"), "t"), [1000, 3000, 5000, null]);
    assert.deepEqual(column(sortBlocks([block], ["flag", "t"]), "t"), [1000, 3000, 5000, null]);
    assert.ok(DataType.isTimestamp(typeOf(sortBlocks([block], "t")[0], "t")));
  });

  it("sorts a large numeric column like Array#sort does", () => {
    const gen = lcg(11);
    const values = Array.from({ length: 100_000 }, () => (gen() - 0.5) * 1e6);
    const blocks = [0, 1, 2, 3].map((q) => blockFromColumns({ v: Float64Array.from(values.slice(q * 25_000, (q + 1) * 25_000)) }));
    assert.deepEqual(column(sortBlocks(blocks, "v"), "v"), [...values].sort((a, b) => a - b));
  });

  it("names an unknown key and the available columns", () => {
    assert.throws(() => sortBlocks(input, "nope"), (e: Error) =>
      e instanceof BlockError && /'nope'/.test(e.message) && /pos, x, g, s/.test(e.message));
    assert.throws(() => sortBlocks(input, ["x", "g"], [true]), /2 key column\(s\) but 1 descending/);
  });
});

describe("zipBlocks", () => {
  const left = blocksOf(Array.from({ length: 10 }, (_, i) => ({ id: i, x: i * 10, x_1: -i })), [2, 3, 5]);
  const right = blocksOf(Array.from({ length: 10 }, (_, i) => ({ x: `r${i}`, y: i % 2 === 0 })), [6, 4]);

  it("concatenates columns row by row, following the left block boundaries", () => {
    const out = zipBlocks(left, right);
    assert.deepEqual(out.map((b) => b.numRows), [2, 3, 5]);
    assert.deepEqual(rowsOf(out), Array.from({ length: 10 }, (_, i) => ({ id: i, x: i * 10, x_1: -i, x_2: `r${i}`, y: i % 2 === 0 })));
  });

  it("renames a clashing right column to name_1, as Ray does", () => {
    const out = zipBlocks(blocksOf([{ a: 1 }], [1]), blocksOf([{ a: 2 }], [1]));
    assert.deepEqual(rowsOf(out), [{ a: 1, a_1: 2 }]);
  });

  it("names both row counts when they differ", () => {
    assert.throws(() => zipBlocks(left, right.slice(0, 1)), /left has 10, right has 6/);
  });
});

describe("aggregations", () => {
  const random = lcg(5);
  const keys = ["b", "a", "c", null, "é"];
  const rows = Array.from({ length: 3000 }, () => {
    const v = random() < 0.1 ? null : Math.floor((random() - 0.3) * 1000);
    return { k: keys[Math.floor(random() * keys.length)], n: Math.floor(random() * 3), v, f: random() * 10 };
  });
  const input = blocksOf(rows, [1000, 1500, 500]);

  function aggregate(groupKeys: string[], aggs: AggregateFn[], blocks = input): Row[] {
    const aggregator = new GroupAggregator(groupKeys, aggs);
    for (const block of blocks) aggregator.add(block);
    return blockToRows(aggregator.result());
  }

  /** Reference statistics per key, computed directly from the rows. */
  function expectedByKey(keyOf: (row: (typeof rows)[number]) => string) {
    const groups = new Map<string, (typeof rows)[number][]>();
    for (const row of rows) groups.set(keyOf(row), [...(groups.get(keyOf(row)) ?? []), row]);
    return new Map([...groups].map(([key, members]) => {
      const vs = members.map((r) => r.v).filter((v): v is number => v !== null);
      const fs = members.map((r) => r.f);
      const mean = fs.reduce((a, b) => a + b, 0) / fs.length;
      const variance = fs.reduce((a, b) => a + (b - mean) ** 2, 0) / (fs.length - 1);
      return [key, {
        count: members.length, sum: vs.reduce((a, b) => a + b, 0), min: Math.min(...vs), max: Math.max(...vs),
        mean, std: Math.sqrt(variance),
      }];
    }));
  }

  it("groups by one key: count, sum, min, max, mean, std as a Map-based computation gives", () => {
    const out = aggregate(["k"], [Count(), Sum("v"), Min("v"), Max("v"), Mean("f"), Std("f")]);
    const expected = expectedByKey((r) => String(r.k));
    assert.deepEqual(out.map((r) => r.k), ["a", "b", "c", "é", null]); // sorted by key, null last
    for (const row of out) {
      const e = expected.get(String(row.k))!;
      assert.equal(row["count()"], e.count);
      assert.equal(row["sum(v)"], e.sum);
      assert.equal(row["min(v)"], e.min);
      assert.equal(row["max(v)"], e.max);
      assert.ok(Math.abs((row["mean(f)"] as number) - e.mean) < 1e-9);
      assert.ok(Math.abs((row["std(f)"] as number) - e.std) < 1e-9);
    }
  });

  it("groups by several keys", () => {
    const out = aggregate(["n", "k"], [Count(), Sum("v", { alias: "total" })]);
    const expected = expectedByKey((r) => `${r.n}|${r.k}`);
    assert.equal(out.length, expected.size);
    for (const row of out) {
      const e = expected.get(`${row.n}|${row.k}`)!;
      assert.equal(row["count()"], e.count);
      assert.equal(row.total, e.sum);
    }
    const order = out.map((r) => [r.n, r.k]);
    const sortedOrder = [...order].sort((a, b) =>
      (a[0] as number) - (b[0] as number) || (a[1] === b[1] ? 0 : a[1] === null ? 1 : b[1] === null ? -1 : a[1]! < b[1]! ? -1 : 1));
    assert.deepEqual(order, sortedOrder);
  });

  it("aggregates globally with no keys, also over no rows", () => {
    const [row] = aggregate([], [Count(), Sum("v"), Max("k")]);
    assert.deepEqual(row, {
      "count()": rows.length,
      "sum(v)": rows.reduce((a, r) => a + (r.v ?? 0), 0),
      "max(k)": "é",
    });
    const empty = new GroupAggregator([], [Count(), Sum("v")]);
    assert.deepEqual(blockToRows(empty.result()), [{ "count()": 0, "sum(v)": null }]);
  });

  it("keeps key types; sums int64 exactly as an int64 column", () => {
    const big = 2n ** 60n;
    const blocks = [0, 1].map((b) => blockFromColumns({
      id: makeVector(BigInt64Array.from([1n, 2n, 1n])),
      small: vectorFromArray([b, b, 1], new Int32()),
      v: makeVector(BigInt64Array.from(b === 0 ? [big + 1n, 3n, big] : [3n, 5n, 7n])),
    }));
    const result = (() => {
      const aggregator = new GroupAggregator(["id", "small"], [Sum("v"), Count()]);
      for (const block of blocks) aggregator.add(block);
      return aggregator.result();
    })();
    assert.equal((typeOf(result, "id") as Int64).bitWidth, 64);
    assert.equal((typeOf(result, "small") as Int32).bitWidth, 32);
    assert.equal((typeOf(result, "sum(v)") as Int64).bitWidth, 64);
    const sums = Array.from(result.getChild("sum(v)")!.toArray() as BigInt64Array);
    // Group (1,1) gets the third row of block 0 and the first and third of block 1.
    assert.deepEqual(blockToRows(result).map((r) => [r.id, r.small]), [[1, 0], [1, 1], [2, 0], [2, 1]]);
    assert.deepEqual(sums, [big + 1n, big + 10n, 3n, 5n]);
    const small = new GroupAggregator([], [Sum("v")]);
    small.add(blocks[1]);
    assert.equal((typeOf(small.result(), "sum(v)") as Int64).bitWidth, 64);
    const strings = new GroupAggregator(["k"], [Count()]);
    strings.add(input[0]);
    assert.equal(typeOf(strings.result(), "k").typeId, Type.Utf8);
  });

  it("types aggregation columns by their input: integers int64, timestamps timestamps, means float64", () => {
    const block = blockFromColumns({
      i: vectorFromArray([4, 1, 9], new Int32()),
      t: vectorFromArray([3000, 1000, 2000], new TimestampMillisecond()),
      s: utf8Vector(["b", "c", "a"]),
      none: vectorFromArray([null, null, null], new Int32()),
    });
    const aggregator = new GroupAggregator([], [Sum("i"), Min("i"), Max("t"), Min("s"), Mean("i"), Max("none")]);
    aggregator.add(block);
    const result = aggregator.result();
    const columnTypes = result.schema.fields.map((f) => [f.name, String(f.type)]);
    assert.deepEqual(columnTypes, [
      ["sum(i)", "Int64"], ["min(i)", "Int64"], ["max(t)", "Timestamp<MILLISECOND>"], ["min(s)", "Utf8"],
      ["mean(i)", "Float64"], ["max(none)", "Float64"],
    ]);
    assert.deepEqual(blockToRows(result), [{ "sum(i)": 14, "min(i)": 1, "max(t)": 3000, "min(s)": "a", "mean(i)": 14 / 3, "max(none)": null }]);
  });

  it("with ignoreNulls false, a group holding a null gets null; all-null groups get null either way", () => {
    const blocks = blocksOf([{ k: 1, v: 1 }, { k: 1, v: null }, { k: 2, v: 4 }, { k: 3, v: null }], [2, 2]);
    const out = aggregate(["k"], [Sum("v", { ignoreNulls: false, alias: "strict" }), Sum("v"), Mean("v", { ignoreNulls: false })], blocks);
    assert.deepEqual(out, [
      { k: 1, strict: null, "sum(v)": 1, "mean(v)": null },
      { k: 2, strict: 4, "sum(v)": 4, "mean(v)": 4 },
      { k: 3, strict: null, "sum(v)": null, "mean(v)": null },
    ]);
  });

  it("std honours ddof and is 0 for a single value", () => {
    const blocks = blocksOf([2, 4, 4, 4, 5, 5, 7, 9].map((v) => ({ k: 0, v })).concat([{ k: 1, v: 3 }]), [5, 4]);
    const out = aggregate(["k"], [Std("v", { ddof: 0, alias: "population" }), Std("v")], blocks);
    assert.equal(out[0].population, 2);
    assert.ok(Math.abs((out[0]["std(v)"] as number) - Math.sqrt(32 / 7)) < 1e-12);
    assert.equal(out[1].population, 0);
  });

  it("merging partials equals accumulating everything at once", () => {
    const aggs = [Count(), Sum("v"), Min("v"), Max("v"), Mean("f"), Std("f")];
    const allRows = (block: Block) => Uint32Array.from({ length: block.numRows }, (_, i) => i);
    for (const agg of aggs) {
      const whole = input.reduce((acc, block) => agg.accumulateBlock(acc, block, allRows(block)), agg.init(null));
      const first = agg.accumulateBlock(agg.init(null), input[0], allRows(input[0]));
      const rest = input.slice(1).reduce((acc, block) => agg.accumulateBlock(acc, block, allRows(block)), agg.init(null));
      const merged = agg.finalize(agg.merge(first, rest));
      const expected = agg.finalize(whole);
      if (typeof expected === "number" && !Number.isInteger(expected)) assert.ok(Math.abs((merged as number) - expected) < 1e-9, agg.name);
      else assert.deepEqual(merged, expected, agg.name);
    }
  });

  it("runs custom aggregations over rows", () => {
    const distinctN = customAggregate({
      name: "distinct_n",
      init: () => new Set<unknown>(),
      accumulateRow: (acc, row) => acc.add(row.n),
      merge: (a, b) => new Set([...a, ...b]),
      finalize: (acc) => acc.size,
    });
    const longest = customAggregate<string>({
      name: "keyed",
      init: (key) => `${key}:`,
      accumulateRow: (acc, row) => (acc.length < 6 ? acc + String(row.n) : acc),
      merge: (a, b) => a + b,
    });
    const out = aggregate(["k"], [distinctN, longest, Count()]);
    const expected = new Map<string, Set<number>>();
    for (const r of rows) expected.set(String(r.k), (expected.get(String(r.k)) ?? new Set()).add(r.n));
    for (const row of out) {
      assert.equal(row.distinct_n, expected.get(String(row.k))!.size);
      assert.ok((row.keyed as string).startsWith(`${row.k}:`));
    }
  });

  it("names unknown keys and columns, non-numeric sums, and duplicate output names", () => {
    assert.throws(() => aggregate(["nope"], [Count()]), (e: Error) => e instanceof BlockError && /'nope'.*k, n, v, f/.test(e.message));
    assert.throws(() => aggregate(["k"], [Sum("missing")]), (e: Error) => e instanceof BlockError && /sum\(missing\).*'missing'/.test(e.message));
    assert.throws(() => aggregate([], [Mean("k")]), /mean\(k\) needs a numeric column/);
    assert.throws(() => new GroupAggregator(["k"], [Sum("v"), Sum("v")]), /'sum\(v\)' appears twice/);
  });
});
