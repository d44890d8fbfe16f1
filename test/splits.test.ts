// Splits for training (split, splitAt, splitProportionately, trainTestSplit, streamingSplit), iterBatches'
// options (dropLast, local shuffle with a seed, prefetch) and sampling (randomSample, randomizeBlockOrder),
// run in real worker threads.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { makeVector, Table } from "apache-arrow";
import * as rd from "../server/src/api";
import { batchesFrom } from "../server/src/api/batches";
import { assertExactlyOnce } from "./helpers";

const ids = (rows: rd.Row[]) => rows.map((r) => Number(r.id));
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const idsOf = async (ds: rd.Dataset) => ids(await ds.takeAll());

describe("splits, batches and sampling", function () {
  this.timeout(180_000);

  describe("split, splitAt, splitProportionately, trainTestSplit", () => {
    it("split(n) cuts the rows in order into n nearly equal parts; equal: exactly equal, the rest dropped", async () => {
      const parts = await rd.range(1000, { overrideNumBlocks: 7 }).split(3);
      const got = await Promise.all(parts.map(idsOf));
      assert.deepEqual(got.map((p) => p.length), [334, 333, 333]);
      assert.deepEqual(got.flat(), range(1000));
      const equal = await Promise.all((await rd.range(1000, { overrideNumBlocks: 7 }).split(3, { equal: true })).map(idsOf));
      assert.deepEqual(equal, [range(333), range(333, 333), range(333, 666)]);
    });

    it("splitAt cuts at row positions; splitProportionately by proportions with the rest last", async () => {
      const at = await Promise.all((await rd.range(1000).splitAt([100, 250])).map(idsOf));
      assert.deepEqual(at, [range(100), range(150, 100), range(750, 250)]);
      const byProportion = await Promise.all((await rd.range(1000).splitProportionately([0.2, 0.3])).map(idsOf));
      assert.deepEqual(byProportion.map((p) => p.length), [200, 300, 500]);
      assert.deepEqual(byProportion.flat(), range(1000));
      assert.throws(() => rd.range(10).splitProportionately([0.5, 0.5]), /splitProportionately: the proportions must add up to less than 1/);
    });

    it("trainTestSplit(0.2, { shuffle: true, seed }) gives disjoint 80/20 parts covering every row, the same for the same seed", async () => {
      const ds = rd.range(5000, { overrideNumBlocks: 6 });
      const [train, test] = await Promise.all((await ds.trainTestSplit(0.2, { shuffle: true, seed: 42 })).map(idsOf));
      assert.equal(train.length, 4000);
      assert.equal(test.length, 1000);
      assertExactlyOnce([...train, ...test], range(5000));
      // Shuffled: the test part is not the last fifth.
      assert.ok(test.some((id) => id < 4000), "the test rows come from the whole dataset");
      const [, again] = await Promise.all((await ds.trainTestSplit(0.2, { shuffle: true, seed: 42 })).map(idsOf));
      assert.deepEqual(again, test);
      const [, other] = await Promise.all((await ds.trainTestSplit(0.2, { shuffle: true, seed: 43 })).map(idsOf));
      assert.notDeepEqual(other, test);
      // Without shuffle, the last rows; a row count works too.
      const [head, tail] = await Promise.all((await ds.trainTestSplit(300)).map(idsOf));
      assert.deepEqual([head, tail], [range(4700), range(300, 4700)]);
    });
  });

  describe("streamingSplit", () => {
    /** Drains an iterator's batches, calling `each` (awaited) on every batch's ids. */
    async function drain(it: rd.DataIterator, each: (ids: number[]) => Promise<void> | void = () => undefined): Promise<number[]> {
      const seen: number[] = [];
      for await (const batch of it.iterBatches({ batchFormat: "rows" })) {
        const got = ids(batch as rd.Row[]);
        seen.push(...got);
        await each(got);
      }
      return seen;
    }

    it("two consumers reading concurrently see every row exactly once, while the one pipeline streams", async () => {
      const produced: number[] = [];
      const ds = rd.range(100_000, { overrideNumBlocks: 25 }).map((row) => ({ ...row, at: Date.now() }));
      const [a, b] = ds.streamingSplit(2);
      const firstSeen: number[] = [];
      const consumer = async (it: rd.DataIterator) => {
        const seen: number[] = [];
        for await (const row of it.iterRows()) {
          if (seen.length === 0) firstSeen.push(Date.now());
          seen.push(Number(row.id));
          produced.push(Number(row.at));
          if (seen.length % 4000 === 0) await sleep(5);
        }
        return seen;
      };
      const [seenA, seenB] = await Promise.all([consumer(a), consumer(b)]);
      assert.ok(seenA.length > 0 && seenB.length > 0, `both consumers got rows (${seenA.length}, ${seenB.length})`);
      assertExactlyOnce([...seenA, ...seenB], range(100_000));
      // Streaming: both consumers had rows before the pipeline produced its last row.
      assert.ok(Math.max(...firstSeen) < Math.max(...produced), "rows reached the consumers while the pipeline still ran");
    });

    it("a consumer that falls behind holds the other back: neither runs more than a few blocks ahead", async () => {
      const [fast, slow] = rd.range(40_000, { overrideNumBlocks: 40 }).streamingSplit(2);
      let fastRows = 0;
      let slowRows = 0;
      let lead = 0;
      const fastSeen = drain(fast, (got) => { fastRows += got.length; lead = Math.max(lead, fastRows - slowRows); });
      const slowSeen = await drain(slow, async (got) => { slowRows += got.length; await sleep(30); });
      const all = [...(await fastSeen), ...slowSeen];
      assertExactlyOnce(all, range(40_000));
      // Blocks are 1000 rows; a consumer holds at most 2 waiting blocks: without backpressure the fast one would finish 20 000 rows ahead.
      assert.ok(lead <= 5000, `the fast consumer ran ${lead} rows ahead of the slow one`);
      assert.ok(Math.abs(slowSeen.length - all.length / 2) <= 3000, `the slow consumer got ${slowSeen.length} of ${all.length}`);
    });

    it("equal gives every consumer the same number of rows, the few left over dropped", async () => {
      const parts = rd.range(1001, { overrideNumBlocks: 7 }).streamingSplit(3, { equal: true });
      const seen = await Promise.all(parts.map((it) => drain(it)));
      assert.deepEqual(seen.map((s) => s.length), [333, 333, 333]);
      assert.equal(new Set(seen.flat()).size, 999);
    });

    it("iterating again starts a new epoch over the whole dataset", async () => {
      const parts = rd.range(3000, { overrideNumBlocks: 6 }).streamingSplit(2);
      for (let epoch = 0; epoch < 2; epoch++) {
        const seen = await Promise.all(parts.map((it) => drain(it)));
        assertExactlyOnce(seen.flat(), range(3000));
      }
    });
  });

  describe("iterBatches options", () => {
    it("dropLast leaves out the last partial batch", async () => {
      const sizes = async (options: rd.IterBatchesOptions) => {
        const out: number[] = [];
        for await (const batch of rd.range(1050, { overrideNumBlocks: 4 }).iterBatches({ ...options, batchFormat: "rows" })) out.push((batch as rd.Row[]).length);
        return out;
      };
      assert.deepEqual(await sizes({ batchSize: 100 }), [...new Array(10).fill(100), 50]);
      assert.deepEqual(await sizes({ batchSize: 100, dropLast: true }), new Array(10).fill(100));
    });

    it("localShuffleBufferSize shuffles rows through a buffer, the same way for the same seed", async () => {
      // Blocks of 500 rows arrive in order, so what the buffer holds when is known.
      const context = rd.DataContext.getCurrent();
      const order = async (seed: number) => {
        const out: number[] = [];
        for await (const batch of rd.range(5000, { overrideNumBlocks: 10 }).iterBatches({ batchSize: 128, localShuffleBufferSize: 1000, localShuffleSeed: seed, batchFormat: "rows" })) {
          assert.ok((batch as rd.Row[]).length <= 128);
          out.push(...ids(batch as rd.Row[]));
        }
        return out;
      };
      context.preserveOrder = true;
      try {
        const first = await order(1);
        assertExactlyOnce(first, range(5000));
        assert.notDeepEqual(first, range(5000));
        // Local: the first batch is drawn once the buffer holds 1000 + 128 rows, i.e. from the first three blocks.
        assert.ok(first.slice(0, 128).every((id) => id < 1500), "the first batch comes from the first rows");
        assert.deepEqual(await order(1), first);
        assert.notDeepEqual(await order(2), first);
      } finally {
        context.preserveOrder = false;
      }
    });

    it("prefetchBatches asks for that many batches ahead of the consumer", async () => {
      const pulledWhileHolding = async (prefetchBatches: number) => {
        let pulled = 0;
        async function* source() {
          for (let i = 0; i < 10; i++) { pulled++; yield new Table({ id: makeVector(Int32Array.of(i)) }); }
        }
        const batches = batchesFrom(source(), { prefetchBatches, batchFormat: "rows" });
        await batches.next();
        await sleep(20);
        const count = pulled;
        await batches.return(undefined);
        return count;
      };
      assert.equal(await pulledWhileHolding(0), 1);
      assert.equal(await pulledWhileHolding(3), 4);
      const rows: number[] = [];
      for await (const batch of rd.range(2000, { overrideNumBlocks: 4 }).iterBatches({ batchSize: 300, prefetchBatches: 2, batchFormat: "rows" })) rows.push(...ids(batch as rd.Row[]));
      assert.deepEqual(rows.sort((x, y) => x - y), range(2000));
    });
  });

  describe("randomSample and randomizeBlockOrder", () => {
    it("randomSample keeps about the fraction, streaming in the read's tasks, the same rows for the same seed however the read is cut", async () => {
      const sample = (seed: number, blocks: number) => rd.range(20_000, { overrideNumBlocks: blocks }).randomSample(0.1, { seed });
      const ds = sample(5, 8);
      const first = (await idsOf(ds)).sort((x, y) => x - y);
      assert.ok(first.length > 1700 && first.length < 2300, `${first.length} rows of 20 000 at 0.1`);
      assert.equal(new Set(first).size, first.length);
      assert.deepEqual(ds.lastRun()!.progress.operators.map((op) => op.name), ["ReadRange->RandomSample(0.1)"]);
      assert.deepEqual((await idsOf(sample(5, 8))).sort((x, y) => x - y), first);
      assert.deepEqual((await idsOf(sample(5, 3))).sort((x, y) => x - y), first);
      assert.notDeepEqual((await idsOf(sample(6, 8))).sort((x, y) => x - y), first);
      assert.equal((await idsOf(rd.range(100).randomSample(0))).length, 0);
      assert.equal((await idsOf(rd.range(100).randomSample(1))).length, 100);
    });

    it("randomizeBlockOrder reorders whole blocks, the same way for the same seed", async () => {
      const firstIds = async (seed: number) => {
        const starts: number[] = [];
        for await (const batch of rd.range(10_000, { overrideNumBlocks: 10 }).randomizeBlockOrder({ seed }).iterBatches({ batchFormat: "rows" })) {
          const got = ids(batch as rd.Row[]);
          assert.deepEqual(got, range(got.length, got[0]), "rows stay in their blocks, in order");
          starts.push(got[0]);
        }
        return starts;
      };
      const order = await firstIds(11);
      assert.deepEqual([...order].sort((x, y) => x - y), range(10).map((i) => i * 1000));
      assert.notDeepEqual(order, range(10).map((i) => i * 1000));
      assert.deepEqual(await firstIds(11), order);
      assert.notDeepEqual(await firstIds(12), order);
    });
  });
});
