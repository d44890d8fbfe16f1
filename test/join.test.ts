import { strict as assert } from "node:assert";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { Float64, Int32, Int64, Struct, Uint64, Field, makeVector, vectorFromArray } from "apache-arrow";
import * as rd from "../server/src/api";
import { type Block, type Row, blockFromColumns, blockFromRows, blockToRows, sliceBlock } from "../server/src/block";
import { HashJoin, joinSides } from "../server/src/exec/all-to-all";
import { JOIN_TYPES, PlanError, joinSpec, type JoinOptions, type JoinSpec, type JoinType } from "../server/src/plan";
import { onTwoNodes, tempDir } from "./helpers";

/** A deterministic PRNG for test data. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/**
 * Left rows: keys k (0..11, some null) and a second key c, a clashing column v, a left-only column s.
 * Right rows: keys k2 / c2 over an overlapping range, a clashing v, a right-only column w. Keys repeat
 * on both sides (many-to-many).
 */
function sides(leftRows: number, rightRows: number, seed = 7): { left: Row[]; right: Row[] } {
  const random = lcg(seed);
  const key = (max: number) => (random() < 0.1 ? null : Math.floor(random() * max));
  const left = Array.from({ length: leftRows }, (_, i) => ({ id: i, k: key(12), c: random() < 0.5 ? "a" : "b", v: i * 0.5, s: `l${i}` }));
  const right = Array.from({ length: rightRows }, (_, i) => ({ k2: key(16) === null ? null : Math.floor(random() * 16) + 4, c2: random() < 0.5 ? "a" : "b", v: -i, w: `r${i}` }));
  return { left, right };
}

/** The join by nested loops over plain rows: the meaning of each join type, independent of the kernel. */
function referenceJoin(left: Row[], right: Row[], options: Required<Pick<JoinOptions, "joinType">> & { on: string[]; rightOn: string[]; leftSuffix: string; rightSuffix: string }): Row[] {
  const { joinType, on, rightOn } = options;
  const matches = (l: Row, r: Row) => on.every((key, k) => l[key] !== null && r[rightOn[k]] !== null && l[key] === r[rightOn[k]]);
  if (joinType === "left_semi" || joinType === "left_anti") return left.filter((l) => right.some((r) => matches(l, r)) === (joinType === "left_semi"));
  if (joinType === "right_semi" || joinType === "right_anti") return right.filter((r) => left.some((l) => matches(l, r)) === (joinType === "right_semi"));
  const leftNames = Object.keys(left[0]), rightNames = Object.keys(right[0]).filter((n) => !rightOn.includes(n));
  const clash = new Set(leftNames.filter((n) => rightNames.includes(n)));
  const outName = (n: string, suffix: string) => (clash.has(n) ? n + suffix : n);
  const row = (l: Row | null, r: Row | null): Row => {
    const out: Row = {};
    for (const n of leftNames) {
      const k = on.indexOf(n);
      out[outName(n, options.leftSuffix)] = l ? l[n] : k >= 0 && r ? r[rightOn[k]] : null;
    }
    for (const n of rightNames) out[outName(n, options.rightSuffix)] = r ? r[n] : null;
    return out;
  };
  const out: Row[] = [];
  for (const l of left) {
    const hits = right.filter((r) => matches(l, r));
    for (const r of hits) out.push(row(l, r));
    if (hits.length === 0 && (joinType === "left_outer" || joinType === "full_outer")) out.push(row(l, null));
  }
  if (joinType === "right_outer" || joinType === "full_outer") {
    for (const r of right) if (!left.some((l) => matches(l, r))) out.push(row(null, r));
  }
  return out;
}

/** Rows as sorted JSON lines: equal as multisets of rows, column order included. */
const canonical = (rows: Row[]) => rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? Number(v) : v))).sort();

function blocksOf(rows: Row[], pieces: number): Block[] {
  const all = blockFromRows(rows);
  const size = Math.ceil(rows.length / pieces);
  return Array.from({ length: pieces }, (_, i) => sliceBlock(all, i * size, Math.min(rows.length, (i + 1) * size)));
}

/** The join of two sides' blocks as a reduce task runs it (the side with fewer rows indexed). */
async function joinBlocks(left: Block[], right: Block[], spec: JoinSpec): Promise<Block[]> {
  const input = (blocks: Block[]) => ({ rows: blocks.reduce((n, b) => n + b.numRows, 0), schema: blocks[0]?.schema, async *blocks() { yield* blocks; } });
  const out: Block[] = [];
  // A small target size: output in several blocks, as a reduce task writes it.
  for await (const block of joinSides(input(left), input(right), spec, 256)) out.push(block);
  return out;
}

const rowsOf = (blocks: Block[]) => blocks.flatMap(blockToRows);
const fieldsOf = (blocks: Block[]) => [...new Set(blocks.map((b) => b.schema.fields.map((f) => `${f.name}: ${f.type}`).join(", ")))];

const fullOptions = (joinType: JoinType, on: string[], rightOn: string[]) => ({ joinType, on, rightOn, leftSuffix: "", rightSuffix: "_right" });

describe("join kernel against nested loops", () => {
  const { left, right } = sides(120, 90);
  for (const joinType of JOIN_TYPES) {
    it(`${joinType}: every pair of equal keys, null keys never matching, with either side indexed`, async () => {
      const spec = joinSpec({ joinType, on: "k", rightOn: "k2" });
      const expected = canonical(referenceJoin(left, right, fullOptions(joinType, ["k"], ["k2"])));
      assert.ok(expected.length > 0);
      // The smaller side is indexed: right (90 rows) here, left when it has fewer rows.
      assert.deepEqual(canonical(rowsOf(await joinBlocks(blocksOf(left, 3), blocksOf(right, 2), spec))), expected);
      const fewLeft = left.slice(0, 40);
      assert.deepEqual(canonical(rowsOf(await joinBlocks(blocksOf(fewLeft, 2), blocksOf(right, 3), spec))),
        canonical(referenceJoin(fewLeft, right, fullOptions(joinType, ["k"], ["k2"]))));
    });

    it(`${joinType}: two key columns (a number and a string), probed one block at a time`, () => {
      const spec = joinSpec({ joinType, on: ["k", "c"], rightOn: ["k2", "c2"], leftSuffix: "_l", rightSuffix: "_r" });
      const join = new HashJoin(spec, blockFromRows(right), "right", blockFromRows(left).schema);
      const out = [...blocksOf(left, 4).map((b) => join.probe(b)), join.finish()].flatMap((b) => (b ? blockToRows(b) : []));
      const expected = referenceJoin(left, right, { joinType, on: ["k", "c"], rightOn: ["k2", "c2"], leftSuffix: "_l", rightSuffix: "_r" });
      assert.deepEqual(canonical(out), canonical(expected));
    });
  }

  it("gives one schema: a row without a match has nulls (not NaN) of the other side's types", async () => {
    const l = blockFromRows([{ k: 1, x: 1.5 }, { k: 2, x: 2.5 }]);
    const r = blockFromRows([{ k: 2, y: 7.25, t: "t" }, { k: 3, y: 8.5, t: "u" }]);
    const out = await joinBlocks([l], [r], joinSpec({ joinType: "full_outer", on: "k" }));
    assert.deepEqual(fieldsOf(out), ["k: Float64, x: Float64, y: Float64, t: Utf8"]);
    assert.deepEqual(canonical(rowsOf(out)), canonical([{ k: 1, x: 1.5, y: null, t: null }, { k: 2, x: 2.5, y: 7.25, t: "t" }, { k: 3, x: null, y: 8.5, t: "u" }]));
    assert.equal(out.reduce((n, b) => n + b.getChild("y")!.nullCount, 0), 1);
    // A partition without right rows: the right side's columns come from its schema alone.
    const none = await joinBlocks([l], [blockFromRows([{ k: 9, y: 1.5, t: "z" }]).slice(0, 0)], joinSpec({ joinType: "left_outer", on: "k" }));
    assert.deepEqual(fieldsOf(none), ["k: Float64, x: Float64, y: Float64, t: Utf8"]);
    assert.deepEqual(rowsOf(none).map((row) => row.y), [null, null]);
  });

  it("matches keys by value across numeric types and keeps int64 keys exact beyond 2^53", async () => {
    const l = blockFromColumns({ k: vectorFromArray([1, 2, 3], new Int32()), a: ["one", "two", "three"] });
    const r = blockFromColumns({ k: makeVector(new Float64Array([2, 3, 3.5])), b: [20, 30, 35] });
    const rows = rowsOf(await joinBlocks([l], [r], joinSpec({ joinType: "full_outer", on: "k" })));
    assert.deepEqual(canonical(rows), canonical([{ k: 1, a: "one", b: null }, { k: 2, a: "two", b: 20 }, { k: 3, a: "three", b: 30 }, { k: 3.5, a: null, b: 35 }]));
    const big = 2n ** 60n;
    const l64 = blockFromColumns({ k: vectorFromArray([big, big + 1n], new Int64()), a: [1, 2] });
    const r64 = blockFromColumns({ k: vectorFromArray([big + 1n], new Int64()), b: [9] });
    assert.deepEqual(rowsOf(await joinBlocks([l64], [r64], joinSpec({ joinType: "inner", on: "k" }))), [{ k: big + 1n, a: 2, b: 9 }]);
  });

  it("never matches a uint64 key beyond int64's range with the negative int64 its bits would make", async () => {
    // uint64 and int64 keys join as int64; 2^63 + 5 does not fit it and must not wrap to -2^63 + 5.
    const l = blockFromColumns({ k: vectorFromArray([2n ** 63n + 5n, 7n], new Uint64()), a: [1, 2] });
    const r = blockFromColumns({ k: vectorFromArray([-(2n ** 63n) + 5n, 7n], new Int64()), b: [10, 20] });
    for (const joinType of ["inner", "left_semi"] as const) {
      const rows = rowsOf(await joinBlocks([l], [r], joinSpec({ joinType, on: "k" })));
      assert.deepEqual(rows.map((row) => row.a), [2], joinType);
    }
  });
});

describe("join kernel, keys cast to their pair's type", () => {
  // Left (the indexed side: fewer rows) in three blocks; its int32 key k is cast to the pair's int64, its string key c is not.
  const random = lcg(5);
  const left = Array.from({ length: 60 }, (_, i) => ({ id: i, k: Math.floor(random() * 8), c: random() < 0.5 ? "a" : "b" }));
  const right = Array.from({ length: 90 }, (_, i) => ({ k2: Math.floor(random() * 10), c2: random() < 0.5 ? "a" : "b", w: i }));
  const leftBlocks = [0, 20, 40].map((start) => {
    const rows = left.slice(start, start + 20);
    return blockFromColumns({ id: rows.map((r) => r.id), k: vectorFromArray(rows.map((r) => r.k), new Int32()), c: rows.map((r) => r.c) });
  });
  const rightBlock = blockFromColumns({ k2: vectorFromArray(right.map((r) => BigInt(r.k2)), new Int64()), c2: right.map((r) => r.c2), w: right.map((r) => r.w) });
  for (const joinType of ["inner", "full_outer", "right_anti"] as const) {
    it(`${joinType}: an int32 and a string key against an int64 and a string key equals the nested-loop reference`, async () => {
      const spec = joinSpec({ joinType, on: ["k", "c"], rightOn: ["k2", "c2"] });
      const expected = referenceJoin(left, right, fullOptions(joinType, ["k", "c"], ["k2", "c2"]));
      assert.ok(expected.length > 0);
      assert.deepEqual(canonical(rowsOf(await joinBlocks(leftBlocks, [rightBlock], spec))), canonical(expected));
    });
  }
});

describe("Dataset.join", () => {
  const { left, right } = sides(300, 200, 11);
  for (const joinType of JOIN_TYPES) {
    it(`${joinType} runs in a job and equals the nested-loop reference`, async () => {
      const ds = rd.fromItems(left, { overrideNumBlocks: 5 }).join(rd.fromItems(right, { overrideNumBlocks: 3 }), { joinType, on: "k", rightOn: "k2" });
      assert.deepEqual(canonical(await ds.takeAll()), canonical(referenceJoin(left, right, fullOptions(joinType, ["k"], ["k2"]))));
    });
  }

  it("hashes both sides into numPartitions partitions, one output block at most each", async () => {
    const ds = rd.fromItems(left).join(rd.fromItems(right), { joinType: "full_outer", on: "k", rightOn: "k2", numPartitions: 3 });
    const blocks: rd.Batch[] = [];
    for await (const batch of ds.iterBatches({ batchFormat: "rows" })) blocks.push(batch);
    assert.ok(blocks.length >= 2 && blocks.length <= 3, `${blocks.length} output blocks`);
    assert.deepEqual(canonical(blocks.flat() as Row[]), canonical(referenceJoin(left, right, fullOptions("full_outer", ["k"], ["k2"]))));
  });

  it("joins a dataset with itself", async () => {
    const ds = rd.range(10).map((row) => ({ id: row.id, k: Number(row.id) % 3 }));
    const rows = await ds.join(ds, { joinType: "inner", on: "k" }).takeAll();
    const ids = Array.from({ length: 10 }, (_, i) => i);
    const expected = ids.flatMap((a) => ids.filter((b) => a % 3 === b % 3).map((b) => ({ id: a, k: a % 3, id_right: b })));
    assert.deepEqual(canonical(rows), canonical(expected));
  });

  it("joins the output of UDFs and of another join", async () => {
    const l = rd.range(50).map((row) => ({ id: row.id, k: Number(row.id) % 7 }));
    const r = rd.range(20).map((row) => ({ k: Number(row.id) % 5, tag: `t${row.id}` }));
    const names = rd.fromItems([{ tag: "t3", name: "three" }, { tag: "t4", name: "four" }]);
    const rows = await l.join(r, { joinType: "inner", on: "k" }).join(names, { joinType: "left_semi", on: "tag" }).takeAll();
    // ids with id % 7 in {3, 4} (the k of tags t3 and t4), one row each per matching right row.
    const expected = Array.from({ length: 50 }, (_, id) => id).filter((id) => id % 7 === 3 || id % 7 === 4);
    assert.deepEqual(rows.map((row) => row.id).sort((a, b) => (a as number) - (b as number)), expected);
  });
});

describe("join results equal DuckDB's", function () {
  let duck: DuckDBConnection;
  let instance: DuckDBInstance;
  let dir: string;

  before(async () => {
    instance = await DuckDBInstance.create(":memory:");
    duck = await instance.connect();
    dir = tempDir("rdpipe-join-");
    fs.mkdirSync(path.join(dir, "left"));
    // Many-to-many int64 keys with nulls on both sides, a clashing column v, strings, in several files each.
    for (let f = 0; f < 3; f++) {
      await duck.run(`COPY (SELECT (${f} * 2000 + i)::BIGINT AS id, CASE WHEN i % 53 = 0 THEN NULL ELSE ((i * 7919 + ${f}) % 700)::BIGINT END AS k,
        (i * 0.25)::DOUBLE AS v, substr(md5(i::VARCHAR), 1, 16) AS s FROM range(2000) t(i)) TO '${path.join(dir, "left", `${f}.parquet`)}' (FORMAT parquet)`);
    }
    await duck.run(`COPY (SELECT CASE WHEN i % 61 = 0 THEN NULL ELSE ((i * 31) % 900)::BIGINT END AS k, (-i)::DOUBLE AS v, ('w' || i::VARCHAR) AS w
      FROM range(1500) t(i)) TO '${path.join(dir, "right.parquet")}' (FORMAT parquet)`);
  });
  after(() => {
    duck.closeSync();
    instance.closeSync();
  });

  const duckRows = async (sql: string) => (await duck.runAndReadAll(sql)).getRowObjectsJS() as Row[];
  const glob = (name: string) => `'${path.join(dir, name)}'`;

  for (const [joinType, sqlJoin] of [["inner", "JOIN"], ["left_outer", "LEFT JOIN"]] as const) {
    it(`${joinType}: the same rows as DuckDB's ${sqlJoin} (many-to-many keys, null keys, v clashing)`, async () => {
      const ds = rd.readParquet(path.join(dir, "left")).join(rd.readParquet(path.join(dir, "right.parquet")), { joinType, on: "k" });
      const ours = await ds.takeAll();
      const theirs = await duckRows(`SELECT l.id, l.k, l.v, l.s, r.v AS v_right, r.w FROM read_parquet(${glob("left/*.parquet")}) l
        ${sqlJoin} read_parquet(${glob("right.parquet")}) r ON l.k = r.k`);
      assert.ok(theirs.length > 6000, `${theirs.length} rows`);
      assert.equal(ours.length, theirs.length);
      assert.deepEqual(canonical(ours), canonical(theirs));
    });
  }

  it("names a key column missing from a Parquet input before any task runs", async () => {
    const ds = rd.readParquet(path.join(dir, "left")).join(rd.readParquet(path.join(dir, "right.parquet")), { joinType: "inner", on: "k", rightOn: "key" });
    await assert.rejects(ds.takeAll(), (e: Error) => e instanceof PlanError &&
      /Join\(inner on k = key\): the right side has no key column 'key'; its columns are 'k', 'v', 'w'/.test(e.message));
  });
});

describe("join errors", () => {
  const l = rd.fromItems([{ k: 1, v: 1 }]);
  const r = rd.fromItems([{ k: 1, v: 2 }]);

  it("names a missing key column and the operator when the join is built on data of known schema", () => {
    assert.throws(() => l.join(r, { joinType: "inner", on: "key" }), (e: Error) =>
      e instanceof PlanError && e.message === "Join(inner on key): the left side has no key column 'key'; its columns are 'k', 'v'");
    assert.throws(() => l.join(r, { joinType: "left_anti", on: "k", rightOn: "kk" }), /Join\(left_anti on k = kk\): the right side has no key column 'kk'/);
  });

  it("names a missing key column at the first block when a UDF decides the columns", async () => {
    const mapped = r.map((row) => ({ other: row.k }));
    // The map tasks that hash the right side's rows find it missing.
    await assert.rejects(l.join(mapped, { joinType: "inner", on: "k" }).takeAll(), /Join\(inner on k\)\(map\): Join\(inner on k\): unknown column 'k'; available columns: other/);
  });

  it("refuses a key that cannot be compared, and key types that never compare equal", async () => {
    const structs = blockFromColumns({ k: vectorFromArray([{ a: 1 }], new Struct([new Field("a", new Float64())])), v: [1] });
    assert.throws(() => rd.fromArrow(structs).join(r, { joinType: "inner", on: "k" }),
      /Join\(inner on k\): key column 'k' of the left side has type Struct<\{a:Float64\}>, which cannot be compared as a join key/);
    assert.throws(() => rd.fromItems([{ k: "1" }]).join(r, { joinType: "inner", on: "k" }),
      /Join\(inner on k\): key column 'k' is Utf8 on the left but 'k' is Float64 on the right; these never compare equal/);
    await assert.rejects(rd.fromArrow(structs).map((row) => row).join(r, { joinType: "inner", on: "k" }).takeAll(), /cannot be compared as a join key/);
  });

  it("checks the options", () => {
    assert.throws(() => l.join(r, { joinType: "outer" as JoinType, on: "k" }), /join: joinType must be one of "inner", "left_outer"/);
    assert.throws(() => l.join(r, { joinType: "inner", on: ["k", "v"], rightOn: "k" }), /join: on has 2 key column\(s\) but rightOn has 1/);
    assert.throws(() => l.join(r, { joinType: "inner", on: "k", numPartitions: 0 }), /numPartitions must be a positive integer, got 0/);
    assert.throws(() => l.join(r, { joinType: "inner", on: "k", leftSuffix: "", rightSuffix: "" }),
      /Join\(inner on k\): column 'v' would appear twice in the output/);
  });

  it("writes its output into the folder with mode overwrite (a write fused into the reduce tasks)", async () => {
    const dir = tempDir("rdpipe-join-out-");
    const result = await rd.range(1000).join(rd.range(300).map((row) => ({ id: row.id, w: 2 })), { joinType: "left_anti" })
      .writeParquet(dir, { mode: "overwrite" }).run();
    assert.equal(result.rowsOut, 700);
    const written = await rd.readParquet(dir).takeAll();
    assert.deepEqual(written.map((row) => row.id).sort((a, b) => (a as number) - (b as number)), Array.from({ length: 700 }, (_, i) => i + 300));
  });

  it("defaults to Ray's key column id and suffixes a clashing right column with _right", async () => {
    const rows = await rd.range(3).join(rd.range(2).map((row) => ({ id: row.id, v: 1 })), { joinType: "inner" }).takeAll();
    assert.deepEqual(canonical(rows), canonical([{ id: 0, v: 1 }, { id: 1, v: 1 }]));
    const clashing = await l.join(r, { joinType: "inner", on: "k" }).takeAll();
    assert.deepEqual(clashing, [{ k: 1, v: 1, v_right: 2 }]);
  });
});

describe("join on nodes", function () {
  this.timeout(240_000);
  const nodes = onTwoNodes(8 * 2 ** 20);

  it("full_outer on two nodes under an 8 MiB budget equals the nested-loop reference", async () => {
    const leftRows = Array.from({ length: 20_000 }, (_, id) => ({ id, k: (id * 7919) % 5003, s: `l${id}` }));
    const rightRows = Array.from({ length: 3000 }, (_, i) => ({ k: (i % 1500) + 4000, w: i }));
    const left = rd.range(leftRows.length, { overrideNumBlocks: 8 }).map((r) => ({ id: r.id, k: ((r.id as number) * 7919) % 5003, s: `l${r.id}` }));
    const right = rd.range(rightRows.length, { overrideNumBlocks: 3 }).map((r) => ({ k: ((r.id as number) % 1500) + 4000, w: r.id }));
    let last: rd.ProgressSnapshot | undefined;
    const rows = blockToRows(await left.join(right, { joinType: "full_outer", on: "k" }).toArrow({ onProgress: (s) => { last = s; } }));
    assert.deepEqual(canonical(rows), canonical(referenceJoin(leftRows, rightRows, fullOptions("full_outer", ["k"], ["k"]))));
    assert.equal(nodes.cluster().nodes().length, 2, "both nodes took part");
    const join = last!.operators.find((op) => op.name === "Join(full_outer on k)")!;
    assert.ok((join.bytesMoved ?? 0) > 0, "partitions moved over the node link");
  });
});
