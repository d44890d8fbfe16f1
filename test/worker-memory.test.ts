import assert from "node:assert/strict";
import * as rd from "../server/src/api";

describe("worker memory under a slow consumer", function () {
  this.timeout(120_000);
  afterEach(() => rd.DataContext.reset());

  it("a worker waiting for credits frees the ArrayBuffers of blocks it made, instead of holding them until V8 gets to it", async () => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits = { memoryBytes: 64 * 2 ** 20, cpu: 1 };
    // 30 read blocks of ~8.5 MiB output each: with 3 of ~85 MiB, one block in the making filled the bound
    // on its own and the test measured the block size (78-81 MiB held with the release, 122-133 without).
    // Each batch makes a 160-character string per row (their Utf8 bytes, once sent, are garbage to the worker)
    // and reports the ArrayBuffers its worker holds when it starts.
    const ds = rd.range(1_500_000, { overrideNumBlocks: 30 }).mapBatches((b: rd.Columns) => {
      const id = b.id as BigInt64Array;
      const pad = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(5).slice(0, 150);
      const s = Array.from(id, (v) => pad + String(v).padStart(10, "0"));
      return { id, s, held: new Float64Array(id.length).fill(process.memoryUsage().arrayBuffers) };
    }, { batchSize: 10_000 });
    // Counted above the least the worker held at a batch's start: what earlier jobs left in it (the
    // per-thread scratch buffers a Parquet write keeps, up to 48 MiB) is not this job's blocks.
    let maxHeld = 0, minHeld = Infinity;
    let rows = 0;
    for await (const batch of ds.iterBatches({ batchFormat: "columns" })) {
      const held = (batch as rd.Columns).held as Float64Array;
      for (const v of held) { maxHeld = Math.max(maxHeld, v); minHeld = Math.min(minHeld, v); }
      rows += held.length;
      await new Promise((resolve) => setTimeout(resolve, held.length / 1000));
    }
    assert.equal(rows, 1_500_000);
    assert.ok(maxHeld - minHeld < 100 * 2 ** 20, `a worker held ${((maxHeld - minHeld) / 2 ** 20).toFixed(0)} MiB of ArrayBuffers more than its least (${(minHeld / 2 ** 20).toFixed(0)} MiB)`);
  });
});
