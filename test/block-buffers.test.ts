import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Dictionary, Int32, Table, Utf8, tableFromArrays, tableFromIPC, tableToIPC, vectorFromArray } from "apache-arrow";
import { DuckDBInstance } from "@duckdb/node-api";
import { blockBytes, freeBytes, withBlockIPC } from "../server/src/block";
import { readFileBlocks } from "../server/src/io";
import { tempDir } from "./helpers";

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("worker buffers on the Parquet path", () => {
  it("withBlockIPC gives tableToIPC's bytes, reusing one buffer between calls; a block over 16 MiB gets a buffer of its own, freed after", () => {
    const plain = tableFromArrays({ a: Float64Array.from([1, 2, 3]), s: ["x", "yy", "zzz"] });
    const tables = [
      plain,
      new Table([...plain.batches, ...plain.slice(1).batches]),
      new Table(plain.schema),
      new Table({ d: vectorFromArray(["a", "b", "a"], new Dictionary(new Utf8(), new Int32())) }),
      plain.slice(1, 2),
    ];
    for (const table of tables) {
      assert.deepEqual(withBlockIPC(table, (ipc) => Uint8Array.from(ipc)), tableToIPC(table, "stream"));
    }
    const first = withBlockIPC(plain, (ipc) => ipc.buffer);
    const second = withBlockIPC(plain.slice(0, 2), (ipc) => ipc.buffer);
    assert.equal(second, first, "the second call writes into the first call's buffer");

    const big = tableFromArrays({ v: new Float64Array(9 * 2 ** 20) }); // 72 MiB of values
    let seen: Uint8Array | undefined;
    const rows = withBlockIPC(big, (ipc) => { seen = ipc; return tableFromIPC(ipc).numRows; });
    assert.equal(rows, big.numRows);
    assert.equal(seen!.byteLength, 0, "the buffer of a block over the kept size is freed when the call returns");
  });

  it("blockBytes counts a slice of a string column by its own rows and characters, wherever the slice starts", () => {
    const words = Array.from({ length: 1000 }, (_, i) => "w".repeat(i % 10));
    const table = new Table({ s: vectorFromArray(words, new Utf8()) });
    for (const [start, end] of [[0, 1000], [0, 100], [500, 600], [990, 1000]]) {
      const characters = words.slice(start, end).reduce((sum, w) => sum + w.length, 0);
      assert.equal(blockBytes(table.slice(start, end)), (end - start + 1) * 4 + characters, `rows ${start}-${end}`);
    }
  });

  it("freeBytes frees buffers a view covers whole and leaves views of shared buffers alone", async () => {
    const owned = new Uint8Array(32 * 2 ** 20).fill(7);
    const shared = new Uint8Array(1024).fill(1);
    const part = shared.subarray(0, 512);
    const pooled = Buffer.from("a pooled buffer shares its memory with others");
    const before = process.memoryUsage().arrayBuffers;
    freeBytes([owned, part, pooled]);
    assert.equal(owned.byteLength, 0);
    assert.equal(part.byteLength, 512);
    assert.equal(shared[0], 1);
    assert.equal(pooled.toString(), "a pooled buffer shares its memory with others");
    await tick();
    assert.ok(process.memoryUsage().arrayBuffers <= before - 30 * 2 ** 20, "the 32 MiB are given back without a garbage collection");
  });

  it("reads row groups whole and projected (adjacent column chunks in one read, the others apart) with the values DuckDB wrote", async () => {
    const file = path.join(tempDir("block-buffers-"), "groups.parquet");
    const n = 5000;
    const instance = await DuckDBInstance.create(":memory:");
    const conn = await instance.connect();
    await conn.run(`COPY (SELECT i::BIGINT AS id, 'n' || i AS name, i / 2 AS half FROM range(${n}) t(i))
      TO '${file}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 2048)`);
    conn.closeSync();
    instance.closeSync();
    const ids = Array.from({ length: n }, (_, i) => i);
    const ref = { path: file, size: fs.statSync(file).size };
    for (const columns of [undefined, ["half", "id"], ["name"]]) {
      const seen: Record<string, unknown[]> = {};
      let groups = 0;
      for await (const { block } of readFileBlocks({ format: "parquet", files: [ref], options: { targetBlockBytes: 2 ** 20, columns } })) {
        groups++;
        for (const field of block.schema.fields) (seen[field.name] ??= []).push(...block.getChild(field.name)!.toArray());
      }
      assert.equal(groups, 3);
      assert.deepEqual(Object.keys(seen).sort(), (columns ?? ["id", "name", "half"]).sort());
      if (seen.id) assert.deepEqual(seen.id.map(Number), ids);
      if (seen.name) assert.deepEqual(seen.name, ids.map((id) => `n${id}`));
      if (seen.half) assert.deepEqual(seen.half, ids.map((id) => id / 2));
    }
  });
});
