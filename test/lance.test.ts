// Lance datasets through @lancedb/lancedb (its apache-arrow peer may differ from ours, so data crosses
// as IPC bytes): written by jobs in worker threads all or nothing, read back in read tasks that split
// the rows, searched by vector; checked against what lancedb itself reads.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as lancedb from "@lancedb/lancedb";
import { DataType, Table } from "apache-arrow";
import * as rd from "../server/src/api";
import { REPO, runCli, tempDir } from "./helpers";

const DIM = 8;
const embed = (i: number) => Array.from({ length: DIM }, (_, j) => Math.sin(i * 7 + j));
const items = (n: number, from = 0) => Array.from({ length: n }, (_, k) => ({ id: from + k, label: (from + k) % 3 === 0 ? "fizz" : "plain", vector: embed(from + k) }));

async function lanceRows(uri: string): Promise<Array<{ id: number; label: string }>> {
  const db = await lancedb.connect(path.dirname(uri));
  const table = await db.openTable(path.basename(uri, ".lance"));
  const rows = await table.query().select(["id", "label"]).toArray();
  return rows.map((r) => ({ id: Number(r.id), label: String(r.label) })).sort((a, b) => a.id - b.id);
}

describe("Lance: readLance and writeLance", function () {
  this.timeout(120_000);
  const dir = tempDir("rdpipe-lance-");
  beforeEach(() => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits.cpu = 2;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes a job's rows from worker threads, with vectors as FixedSizeList<Float32>, and reads them back equal", async () => {
    const uri = path.join(dir, "items.lance");
    await rd.fromItems(items(3000), { overrideNumBlocks: 6 }).writeLance(uri).run();
    assert.deepEqual(await lanceRows(uri), items(3000).map(({ id, label }) => ({ id, label })));
    const db = await lancedb.connect(dir);
    const schema = await (await db.openTable("items")).schema();
    const vector = schema.fields.find((f) => f.name === "vector")!;
    assert.equal(String(vector.type), `FixedSizeList[${DIM}]<Float32>`);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith(".rdpipe-staging")), [], "no staged blocks left");

    const back = await rd.readLance(uri).takeAll();
    assert.equal(back.length, 3000);
    const byId = new Map(back.map((r) => [Number(r.id), r]));
    for (const i of [0, 1234, 2999]) {
      const row = byId.get(i)!;
      assert.equal(row.label, items(i + 1)[i].label);
      const expected = Float32Array.from(embed(i));
      assert.deepEqual(Array.from(row.vector as ArrayLike<number>), Array.from(expected));
    }
  });

  it("splits a read into tasks that together give every row the filter keeps exactly once, as our own Arrow blocks", async () => {
    const uri = path.join(dir, "split.lance");
    // Three appends make three fragments, so ranges cross fragment boundaries.
    for (const from of [0, 1000, 2500]) await rd.fromItems(items(from === 2500 ? 1500 : from === 0 ? 1000 : 1500, from)).writeLance(uri).run();
    const blocks: Table[] = [];
    for await (const block of rd.readLance(uri, { filter: "label = 'fizz'", columns: ["id"], overrideNumBlocks: 7 }).iterBatches({ batchFormat: "arrow" })) {
      assert.ok(block instanceof Table, "blocks are tables of our apache-arrow");
      blocks.push(block as Table);
    }
    const ids = blocks.flatMap((b) => Array.from(b.getChild("id")!.toArray() as ArrayLike<bigint | number>, Number)).sort((a, b) => a - b);
    const expected = Array.from({ length: 4000 }, (_, i) => i).filter((i) => i % 3 === 0);
    assert.deepEqual(ids, expected);
    assert.deepEqual(blocks[0].schema.fields.map((f) => f.name), ["id"]);
    assert.ok(DataType.isFloat(blocks[0].schema.fields[0].type), "ids written from JS numbers come back as Float64");
  });

  it("reads the version it was asked for, and a nearest-neighbour query finds a row's own vector first", async () => {
    const uri = path.join(dir, "versions.lance");
    await rd.fromItems(items(100)).writeLance(uri).run();
    const db = await lancedb.connect(dir);
    const firstVersion = await (await db.openTable("versions")).version();
    await rd.fromItems(items(50, 100)).writeLance(uri).run();
    assert.equal((await rd.readLance(uri).takeAll()).length, 150);
    assert.equal((await rd.readLance(uri, { version: firstVersion }).takeAll()).length, 100);

    const nearest = await rd.readLance(uri, { nearest: { vector: embed(42), k: 3 } }).takeAll();
    assert.equal(nearest.length, 3);
    assert.equal(Number(nearest[0].id), 42);
    assert.ok(Math.abs(Number(nearest[0]._distance)) < 1e-6, `distance to itself: ${nearest[0]._distance}`);
  });

  it("a failed job leaves the dataset as it was (overwrite included) and no staged blocks", async () => {
    const uri = path.join(dir, "intact.lance");
    await rd.fromItems(items(200)).writeLance(uri).run();
    const before = await lanceRows(uri);
    const failing = rd.range(5000, { overrideNumBlocks: 5 }).map((r) => {
      if (r.id === 4321) throw new Error("bad row 4321");
      return { id: r.id, label: "new", vector: [1, 2, 3, 4, 5, 6, 7, 8] };
    });
    await assert.rejects(failing.writeLance(uri, { mode: "overwrite" }).run(), /bad row 4321/);
    assert.deepEqual(await lanceRows(uri), before);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith(".rdpipe-staging")), []);

    await rd.fromItems(items(10, 900)).writeLance(uri, { mode: "overwrite" }).run();
    assert.deepEqual((await lanceRows(uri)).map((r) => r.id), Array.from({ length: 10 }, (_, i) => 900 + i));
  });

  it("mode create refuses an existing dataset before reading anything; bad paths and vectors are named", async () => {
    const uri = path.join(dir, "exists.lance");
    await rd.fromItems(items(5)).writeLance(uri).run();
    let reads = 0;
    const counted = rd.range(10).map((r) => { reads++; return r; });
    await assert.rejects(counted.writeLance(uri, { mode: "create" }).run(), /exists\.lance already exists \(mode "create"\)/);
    assert.equal(reads, 0);
    assert.throws(() => rd.readLance(path.join(dir, "nope")), /a Lance dataset is a folder named NAME\.lance/);
    await assert.rejects(rd.readLance(path.join(dir, "missing.lance")).takeAll(), /missing\.lance: no Lance dataset there/);
    const ragged = [{ id: 1, vector: [1, 2] }, { id: 2, vector: [1, 2, 3] }];
    await assert.rejects(rd.fromItems(ragged, { overrideNumBlocks: 1 }).writeLance(path.join(dir, "ragged.lance")).run(),
      /column 'vector' row 1: a vector of 3 values where earlier rows have 2/);
    // In two blocks, each is consistent on its own: the commit finds the clash and removes the dataset it created.
    await assert.rejects(rd.fromItems(ragged, { overrideNumBlocks: 2 }).writeLance(path.join(dir, "ragged.lance")).run(),
      /ragged\.lance: the commit failed, the dataset is as it was before: .*FixedSizeList/);
    assert.equal(fs.existsSync(path.join(dir, "ragged.lance")), false);
  });

  it("the sample embeds text into a Lance table and finds a sentence's nearest neighbour (rdpipe run)", () => {
    const out = path.join(REPO, "samples", "out", "embeddings.lance");
    fs.rmSync(out, { recursive: true, force: true });
    const write = runCli(["run", path.join(REPO, "samples", "embed-lance.rdpipe.ts"), "--quiet"]);
    assert.equal(write.code, 0, write.stderr);
    const search = runCli(["run", path.join(REPO, "samples", "nearest-lance.rdpipe.ts"), "--quiet"]);
    assert.equal(search.code, 0, search.stderr);
    assert.match(search.stdout, /the cat sat on the mat/);
    assert.match(search.stdout, /_distance/);
    assert.doesNotMatch(write.stderr + search.stderr, /WARN/);
  });
});
