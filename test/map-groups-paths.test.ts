// The paths under mapGroups' exchange that move its rows, each against a reference computed here:
// strings gathered a word at a time (every length, multi-byte, a sliced chunk at an odd byte offset),
// int64 keys numbered while the key table grows, rows grouped by counting sort, and spilled chunks
// written from the thread's reused IPC buffer (inline ones keep their own bytes), number columns of
// many chunks scattered into group order, a map task's rows placed in bucket order.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Float16, Int64, Schema, Utf8, Vector, makeVector, vectorFromArray } from "apache-arrow";
import { type Columns, blockFromColumns, blockFromIPC, blockToRows, concatBlocks, placeRows, scatterVector, sliceBlock, takeRows, takeVector } from "../server/src/block";
import { groupRows, mapGroupBlocks } from "../server/src/exec/all-to-all";
import { GroupOutputs } from "../server/src/exec/all-to-all/group-output";
import { KeyTable } from "../server/src/exec/all-to-all/key-table";
import { ChunkSink, chunkBytes } from "../server/src/exec/exchange";
import { hashBuckets } from "../server/src/exec/exchange/keys";
import { TaskRun } from "../server/src/cluster";
import { tempDir } from "./helpers";

describe("mapGroups' row-moving paths", function () {
  this.timeout(60_000);

  it("gathers strings of every length from 0 to 140 bytes (ASCII and multi-byte), also from a chunk sliced at an odd byte", () => {
    const texts = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? "ab€".repeat(i % 23) : "x".repeat(i % 141)));
    const whole = vectorFromArray(texts, new Utf8());
    const sliced = whole.slice(7); // its values start at the 8th string's byte offset, not a multiple of 4
    const order = Uint32Array.from({ length: 2000 }, (_, i) => (i * 7919) % sliced.length);
    const out = takeVector(sliced, order);
    for (let i = 0; i < order.length; i++) assert.equal(out.get(i), texts[7 + order[i]], `row ${i}`);
    const withNulls = takeVector(whole, Int32Array.of(5, -1, 599, 0, -1));
    assert.deepEqual(Array.from(withNulls), [texts[5], null, texts[599], texts[0], null]);
  });

  it("scatters null-free number columns of one chunk or several to their positions, bits unchanged; declines others", () => {
    const n = 3_000;
    const positions = Uint32Array.from({ length: n }, (_, row) => (row * 1237) % n); // a permutation: 1237 is prime to 3000
    const f32 = new Float32Array(n).map((_, i) => i * 0.5 - 7);
    new Uint32Array(f32.buffer)[17] = 0x7fc00abc; // a NaN with a payload
    const columns: Vector[] = [
      makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 9_007_199_254_740_993n - 5n)),
      makeVector(Float64Array.from({ length: n }, (_, i) => i / 7 - 100)),
      makeVector(Int32Array.from({ length: n }, (_, i) => i * 65_537 - 1_000_000)),
      makeVector(f32),
      makeVector(Int8Array.from({ length: n }, (_, i) => (i % 255) - 127)),
      vectorFromArray(Array.from({ length: n }, (_, i) => i / 8), new Float16()),
    ];
    for (const whole of columns) {
      const chunked = new Vector([whole.slice(0, 1000), whole.slice(1000, 1001), whole.slice(1001)].flatMap((v) => v.data));
      for (const input of [chunked, whole]) {
        const out = scatterVector(input, positions)!;
        assert.equal(out.type.toString(), whole.type.toString());
        const bytes = (v: Vector, i: number) => {
          const values = v.data[0].values as Uint8Array, width = values.BYTES_PER_ELEMENT * v.data[0].stride;
          return Array.from(new Uint8Array(values.buffer, values.byteOffset + (v.data[0].offset + i) * width, width));
        };
        for (let row = 0; row < n; row++) assert.deepEqual(bytes(out, positions[row]), bytes(whole, row), `${whole.type} row ${row} of ${input.data.length} chunk(s)`);
      }
    }
    const withNull = vectorFromArray([1n, null, 3n], new Int64());
    assert.equal(scatterVector(new Vector([...withNull.data, ...withNull.data]), Uint32Array.of(0, 1, 2, 3, 4, 5)), undefined);
    assert.equal(scatterVector(new Vector([...vectorFromArray(["a"], new Utf8()).data, ...vectorFromArray(["b"], new Utf8()).data]), Uint32Array.of(1, 0)), undefined);
  });

  it("numbers int64 keys in order of first appearance while the table grows many times, across chunks", () => {
    const keys: bigint[] = [];
    for (let i = 0; i < 60_000; i++) {
      const k = (i * 2654435761) % 20_000;
      keys.push(k % 5 === 0 ? BigInt(k) * 9_007_199_254_740_993n : BigInt(k - 10_000)); // beyond 2^53 and negative too
    }
    const vector = concatBlocks([0, 1, 2].map((c) => blockFromColumns({ k: makeVector(BigInt64Array.from(keys.slice(c * 20_000, (c + 1) * 20_000))) }))).getChild("k")!;
    assert.equal(vector.data.length, 3);
    const table = new KeyTable([new Int64()]);
    const ids = table.ids([vector], keys.length);
    const expected = new Map<bigint, number>();
    keys.forEach((k, row) => {
      if (!expected.has(k)) expected.set(k, expected.size);
      assert.equal(ids[row], expected.get(k), `row ${row} (key ${k})`);
    });
    assert.equal(table.size, expected.size);
    assert.equal(table.size, 20_000);
  });

  it("groups rows by counting sort: each group's rows in input order, groups in id order, each row's position", () => {
    const of = Uint32Array.from({ length: 10_000 }, (_, row) => (row * 31 + (row >> 4)) % 97);
    const { sorted, starts, positions } = groupRows(of, 97);
    for (let g = 0; g < 97; g++) {
      const expected = Array.from(of.keys()).filter((row) => of[row] === g);
      assert.deepEqual(Array.from(sorted.subarray(starts[g], starts[g + 1])), expected, `group ${g}`);
    }
    assert.equal(starts[97], of.length);
    for (let row = 0; row < of.length; row++) assert.equal(sorted[positions[row]], row, `row ${row}`);
  });

  it("buckets keys alike whether the bucket count is a power of two (a mask) or not (a division)", () => {
    const n = 20_000;
    const keys = [
      [makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 6_700_417n - 3n))],
      [makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 977))), vectorFromArray(Array.from({ length: n }, (_, i) => `k${i % 13}`), new Utf8())],
    ];
    for (const vectors of keys) {
      for (const buckets of [2, 64, 1024]) {
        const masked = hashBuckets(vectors, n, buckets), divided = hashBuckets(vectors, n, 3 * buckets);
        for (let row = 0; row < n; row++) assert.equal(masked[row], divided[row] % buckets, `${vectors.length} key(s), ${buckets} buckets, row ${row}`);
        assert.ok(new Set(masked).size === buckets, `every one of ${buckets} buckets used`);
      }
    }
  });

  it("gathers results column by column while their names stay the same, a block of their own when the names or their order change; reads each column once", () => {
    const outputs = new GroupOutputs(new Schema([]), 1 << 30, (i, message) => new Error(`result ${i}: ${message}`));
    let reads = 0;
    const counted = { get a() { reads++; return [13]; }, b: [14] };
    const results: Columns[] = [{ a: [1], b: [2] }, { a: [3, 5], b: [4, 6] }, { b: [7], a: [8] }, { b: [9], a: [10] }, { a: [11], b: [12], c: ["x"] }, counted, { a: [15], b: [16] }];
    const blocks = [...results.map((result, i) => outputs.add(result, i)), outputs.take()].filter((b) => b !== undefined);
    assert.deepEqual(blocks.map((b) => blockToRows(b!)), [
      [{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 5, b: 6 }],
      [{ b: 7, a: 8 }, { b: 9, a: 10 }],
      [{ a: 11, b: 12, c: "x" }],
      [{ a: 13, b: 14 }, { a: 15, b: 16 }],
    ]);
    assert.equal(reads, 1, "the getter once");
  });

  it("awaits a UDF's promise between groups, its results in group order as a plain UDF's; a rejection names its group", async () => {
    const key = BigInt64Array.from({ length: 3_000 }, (_, i) => BigInt((i * 7) % 50)), v = Float64Array.from({ length: 3_000 }, (_, i) => i);
    const blocks = () => [0, 1000, 2000].map((start) => blockFromColumns({ k: makeVector(key.subarray(start, start + 1000)), v: makeVector(v.subarray(start, start + 1000)) }));
    const summary = (group: Columns) => ({ k: [Number((group.k as BigInt64Array)[0])], n: [(group.v as Float64Array).length], last: [(group.v as Float64Array).at(-1)] });
    const spec = { keys: ["k"], batchFormat: "columns" as const, operator: "MapGroups(summary)" };
    const run = new TaskRun(undefined, () => undefined);
    const all = async (fn: (group: Columns) => unknown) => {
      const rows: unknown[] = [];
      for await (const block of mapGroupBlocks(blocks(), fn as never, spec, run, 1 << 10)) rows.push(...blockToRows(block));
      return rows;
    };
    const plain = await all(summary);
    assert.equal(plain.length, 50);
    let calls = 0;
    assert.deepEqual(await all(async (group) => { if (calls++ % 3 === 0) await new Promise((resolve) => setImmediate(resolve)); return summary(group); }), plain);
    await assert.rejects(all(async (group) => {
      if ((group.k as BigInt64Array)[0] === 21n) throw new Error("no 21");
      return summary(group);
    }), /MapGroups\(summary\) failed on the group k = 21 \(60 rows\): Error: no 21/);
  });

  it("places a block's rows in bucket order: null-free numbers scattered, strings and numbers with nulls gathered, as takeRows gives them", () => {
    const n = 5_000;
    const whole = blockFromColumns({
      k: makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 4_294_967_311n - 77n)),
      v: makeVector(Float64Array.from({ length: n }, (_, i) => i / 3 - 800)),
      i: makeVector(Int16Array.from({ length: n }, (_, i) => (i * 37) % 30_000 - 15_000)),
      s: vectorFromArray(Array.from({ length: n }, (_, i) => `s${i % 17}-${"ü".repeat(i % 4)}`), new Utf8()),
      nullable: vectorFromArray(Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : BigInt(i))), new Int64()),
    });
    const buckets = Uint32Array.from({ length: n }, (_, row) => (row * 2_654_435_761) % 64);
    const { sorted, positions } = groupRows(buckets, 64);
    for (const block of [whole, concatBlocks([sliceBlock(whole, 0, 1234), sliceBlock(whole, 1234, n)])]) {
      const placed = placeRows(block, sorted, positions);
      assert.deepEqual(blockToRows(placed), blockToRows(takeRows(whole, sorted)), `${block.batches.length} batch(es)`);
      assert.equal(placed.getChild("s")!.type.toString(), "Utf8");
    }
  });

  it("spills chunks from a reused buffer and keeps inline chunks' own bytes: every chunk reads back as written", () => {
    const dir = tempDir("rdpipe-chunk-sink-");
    try {
      const blocks = Array.from({ length: 6 }, (_, b) => blockFromColumns({
        k: makeVector(BigInt64Array.from({ length: 300 + 50 * b }, (_, i) => BigInt(b * 1000 + i))),
        s: vectorFromArray(Array.from({ length: 300 + 50 * b }, (_, i) => `b${b}-${"é".repeat(i % 5)}${i}`), new Utf8()),
      }));
      // Room inline for about two chunks: the first ones stay in memory, the rest go to the file.
      const sink = new ChunkSink("mapGroups", dir, "map-000001-1.arrows", 2.5 * 300 * 20);
      blocks.forEach((block, b) => sink.add(block, b));
      sink.close();
      assert.ok(sink.chunks.some((c) => c.ipc !== undefined) && sink.chunks.some((c) => c.file !== undefined), "some chunks inline, some spilled");
      assert.equal(sink.spilledBytes, fs.statSync(path.join(dir, "map-000001-1.arrows")).size);
      sink.chunks.forEach((chunk, b) => {
        assert.equal(chunk.partition, b);
        assert.deepEqual(blockToRows(blockFromIPC(chunkBytes(chunk))), blockToRows(blocks[b]), `chunk ${b}`);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
