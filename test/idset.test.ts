// The committed-ID set: exact membership for integer and string IDs, and shared (not copied) with worker threads.
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { makeVector, vectorFromArray, Utf8 } from "apache-arrow";
import { IdSetBuilder, hasId, idCount, rowsNotIn } from "../server/src/checkpoint";

describe("committed-ID set", () => {
  it("holds int64 IDs exactly, beyond 2^53 too, and finds the rows not in it", () => {
    const builder = new IdSetBuilder();
    const big = 2n ** 62n + 7n;
    builder.addColumn(makeVector(new BigInt64Array([5n, 1n, big, -3n])));
    builder.add(9);
    const ids = builder.build();
    assert.equal(ids.kind, "int");
    assert.equal(idCount(ids), 5);
    for (const id of [5, 1n, big, -3, 9]) assert.ok(hasId(ids, id), `has ${id}`);
    for (const id of [0, 2, big + 1n, 10, "5"]) assert.ok(!hasId(ids, id), `lacks ${String(id)}`);
    const column = makeVector(new BigInt64Array([0n, 1n, 2n, 5n, big, big - 1n]));
    assert.deepEqual([...rowsNotIn(ids, column)], [0, 2, 5]);
    assert.deepEqual([...rowsNotIn(ids, makeVector(new Int32Array([9, 8, -3])))], [1]);
    const unsigned = new IdSetBuilder();
    unsigned.addColumn(makeVector(new BigUint64Array([2n ** 63n + 5n, 7n])));
    const unsignedIds = unsigned.build();
    assert.ok(hasId(unsignedIds, 2n ** 63n + 5n) && hasId(unsignedIds, 7) && !hasId(unsignedIds, 2n ** 63n + 6n));
    assert.deepEqual([...rowsNotIn(unsignedIds, makeVector(new BigUint64Array([2n ** 63n + 5n, 2n ** 64n - 1n])))], [1]);
  });

  it("holds string IDs exactly (colliding hashes never drop a row), and switches to strings for mixed IDs", () => {
    const builder = new IdSetBuilder();
    const values = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    builder.addColumn(vectorFromArray(values, new Utf8()));
    builder.add("ünïcødé 🙂");
    const ids = builder.build();
    assert.equal(ids.kind, "string");
    assert.equal(idCount(ids), 5001);
    assert.ok(values.every((v) => hasId(ids, v)));
    assert.ok(hasId(ids, "ünïcødé 🙂"));
    assert.ok(!hasId(ids, "user-5000") && !hasId(ids, "user-") && !hasId(ids, ""));
    assert.deepEqual([...rowsNotIn(ids, vectorFromArray(["user-1", "nobody", null, "user-4999"], new Utf8()))], [1, 2]);

    const mixed = new IdSetBuilder();
    mixed.add(1);
    mixed.add("a");
    const mixedIds = mixed.build();
    assert.equal(mixedIds.kind, "string");
    assert.ok(hasId(mixedIds, 1) && hasId(mixedIds, "1") && hasId(mixedIds, "a"));
  });

  it("dedups IDs added twice", () => {
    const builder = new IdSetBuilder();
    for (const v of ["a", "b", "a"]) builder.add(v);
    assert.equal(idCount(builder.build()), 2);
    const ints = new IdSetBuilder();
    for (const v of [3, 1, 3, 2, 1]) ints.add(v);
    const intIds = ints.build();
    assert.equal(idCount(intIds), 3);
    assert.ok(intIds.kind === "int" && intIds.sorted.join() === "1,2,3");
  });

  it("is shared with a worker thread, not copied: a write in the worker is seen by the parent", async () => {
    const builder = new IdSetBuilder();
    builder.addColumn(makeVector(new BigInt64Array([1n, 2n, 3n])));
    const ids = builder.build();
    assert.ok(ids.kind === "int" && ids.sorted.buffer instanceof SharedArrayBuffer);
    const worker = new Worker(`
      const { parentPort } = require("node:worker_threads");
      parentPort.once("message", (ids) => { ids.sorted[0] = 42n; parentPort.postMessage(ids.sorted.buffer instanceof SharedArrayBuffer); });
    `, { eval: true });
    const shared = await new Promise((resolve) => { worker.once("message", resolve); worker.postMessage(ids); });
    await worker.terminate();
    assert.equal(shared, true);
    assert.equal(ids.kind === "int" && ids.sorted[0], 42n);
  });
});
