// Parquet writes a row group at a time (io/parquet-write.ts): a block larger than a row group is encoded
// in pieces and joined into one file, and the buffers a thread reuses on the way in and out of
// parquet-wasm never carry one block's bytes into another.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Bool, Dictionary, Float64, Int32, Table, Utf8, makeVector, tableFromIPC, vectorFromArray, type Vector } from "apache-arrow";
import { DuckDBInstance } from "@duckdb/node-api";
import { readParquet } from "parquet-wasm";
import { blockBytes, concatBlocks, type Block } from "../server/src/block";
import { readFileBlocks, writeBlock } from "../server/src/io";
import { decodeOffsetIndex } from "../server/src/io/page-index";
import { ParquetLayout } from "../server/src/io/rowgroup";
import { tempDir } from "./helpers";

const ROWS = 300_000;

/** id, a float with nulls, strings of varying length with nulls, booleans: plain (not dictionary-encoded) columns. */
function plainTable(rows: number, text: (i: number) => string): Table {
  return new Table({
    id: makeVector(BigInt64Array.from({ length: rows }, (_, i) => BigInt(i))),
    x: vectorFromArray(Array.from({ length: rows }, (_, i) => (i % 11 === 0 ? null : i * 0.5)), new Float64()),
    s: vectorFromArray(Array.from({ length: rows }, (_, i) => (i % 7 === 0 ? null : text(i))), new Utf8()),
    b: vectorFromArray(Array.from({ length: rows }, (_, i) => i % 3 === 0), new Bool()),
  });
}

/** plainTable's columns and a dictionary-encoded string column (written as plain strings). */
function table(rows: number, text: (i: number) => string): Table {
  const plain = plainTable(rows, text);
  const d = vectorFromArray(Array.from({ length: rows }, (_, i) => ["red", "green", "blue"][i % 3]), new Dictionary(new Utf8(), new Int32()));
  return new Table({ id: plain.getChild("id")!, x: plain.getChild("x")!, s: plain.getChild("s")!, b: plain.getChild("b")!, d });
}

const values = (vector: Vector) => Array.from({ length: vector.length }, (_, i) => vector.get(i));

/** Every column of `actual` holds `expected`'s values in the same rows (a dictionary column read back as plain strings). */
function assertSameRows(actual: Block, expected: Block, what: string): void {
  assert.equal(actual.numRows, expected.numRows, `${what}: rows`);
  assert.deepEqual(actual.schema.fields.map((f) => f.name), expected.schema.fields.map((f) => f.name), `${what}: columns`);
  for (const field of expected.schema.fields) {
    assert.deepEqual(values(actual.getChild(field.name)!), values(expected.getChild(field.name)!), `${what}: column ${field.name}`);
  }
}

function layoutOf(file: string): ParquetLayout {
  const bytes = fs.readFileSync(file);
  const footerLength = bytes.readUInt32LE(bytes.length - 8);
  return new ParquetLayout(bytes.subarray(bytes.length - 8 - footerLength, bytes.length - 8));
}

async function readBack(file: string): Promise<Block> {
  const blocks: Block[] = [];
  for await (const { block } of readFileBlocks({ format: "parquet", files: [{ path: file, size: fs.statSync(file).size }], options: { targetBlockBytes: 64 * 2 ** 20 } })) blocks.push(block);
  return concatBlocks(blocks);
}

describe("Parquet writes a row group at a time", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => { dir = tempDir("rdpipe-parquet-write-"); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes a block larger than a row group as one file of several row groups, read back in order by parquet-wasm, rdpipe and DuckDB", async () => {
    const block = table(ROWS, (i) => `name-${i}-${"x".repeat(i % 13)}`);
    const { path: file, rows } = await writeBlock("parquet", block, dir, "big.parquet");
    assert.equal(rows, ROWS);
    const layout = layoutOf(file);
    assert.ok(layout.rowGroups.length >= 2, `${layout.rowGroups.length} row groups`);
    assert.equal(layout.rowGroups.reduce((sum, g) => sum + g.rows, 0), ROWS);
    assert.equal(layout.numRows, ROWS);

    const wasm = tableFromIPC(readParquet(fs.readFileSync(file)).intoIPCStream());
    assertSameRows(wasm, block, "parquet-wasm");
    assert.deepEqual(wasm.schema.fields.map((f) => String(f.type)), ["Int64", "Float64", "Utf8", "Bool", "Utf8"]);
    assertSameRows(await readBack(file), block, "rdpipe");

    const instance = await DuckDBInstance.create(":memory:");
    const conn = await instance.connect();
    try {
      const reader = await conn.runAndReadAll(`SELECT count(*)::DOUBLE, count(x)::DOUBLE, sum(x)::DOUBLE, count(s)::DOUBLE, sum(length(s))::DOUBLE,
        count(*) FILTER (WHERE b)::DOUBLE, count(*) FILTER (WHERE d = 'blue')::DOUBLE FROM read_parquet('${file}')`);
      const expected = [ROWS, 0, 0, 0, 0, 0, 0];
      const xs = values(block.getChild("x")!) as (number | null)[];
      const ss = values(block.getChild("s")!) as (string | null)[];
      expected[1] = xs.filter((v) => v !== null).length;
      expected[2] = xs.reduce<number>((sum, v) => sum + (v ?? 0), 0);
      expected[3] = ss.filter((v) => v !== null).length;
      expected[4] = ss.reduce((sum, v) => sum + (v?.length ?? 0), 0);
      expected[5] = Math.ceil(ROWS / 3);
      expected[6] = Math.floor(ROWS / 3);
      assert.deepEqual(reader.getRows()[0].map(Number), expected);
      const groups = await conn.runAndReadAll(`SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('${file}') ORDER BY row_group_id`);
      assert.deepEqual(groups.getRows().map((r) => Number(r[1])), layout.rowGroups.map((g) => g.rows));
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  });

  it("moves each row group's page index with it: every offset index lists its own column chunk's pages", () => {
    const file = path.join(dir, "big.parquet");
    const bytes = fs.readFileSync(file);
    const layout = layoutOf(file);
    const names = ["id", "x", "s", "b", "d"];
    for (let g = 0; g < layout.rowGroups.length; g++) {
      const index = layout.pageIndex(g, names);
      assert.ok(index, `row group ${g} has a page index`);
      const rowGroupFile = layout.rowGroupFile(g, names);
      for (const name of names) {
        const { offsetIndex } = index.get(name)!;
        const pages = decodeOffsetIndex(bytes.subarray(offsetIndex.start, offsetIndex.start + offsetIndex.length));
        const chunk = rowGroupFile.ranges[names.indexOf(name)];
        assert.equal(pages[0].offset, chunk.start, `row group ${g}, ${name}: the first page starts its column chunk`);
        const last = pages[pages.length - 1];
        assert.equal(last.offset + last.size, chunk.start + chunk.length, `row group ${g}, ${name}: the last page ends it`);
        assert.equal(pages[0].firstRow, 0);
      }
    }
  });

  it("cuts row groups between the block's batches (small ones together) up to a row group's bytes, a batch over twice that in slices", async () => {
    const source = plainTable(2_000_000, (i) => `t${String(i % 1000).padStart(5, "0")}`);
    const rowsPer = (fraction: number) => Math.floor((fraction * 4 * 2 ** 20 * source.numRows) / blockBytes(source));
    // Fractions of a row group's bytes: 0.6 | 0.6 + 5 × 0.075 (a sixth would pass 1) | 5 × 0.075 + 0.3 | 2.5, in 3 slices.
    const sizes = [rowsPer(0.6), rowsPer(0.6), ...Array.from({ length: 10 }, () => rowsPer(0.075)), rowsPer(0.3), rowsPer(2.5)];
    let start = 0;
    const batches = sizes.map((n) => { const slice = source.slice(start, start + n); start += n; return slice.batches[0]; });
    const block = new Table(source.schema, batches);
    const { path: file } = await writeBlock("parquet", block, dir, "batches.parquet");
    const large = sizes[sizes.length - 1];
    const thirds = [Math.ceil(large / 3), Math.ceil(large / 3), large - 2 * Math.ceil(large / 3)];
    assert.deepEqual(layoutOf(file).rowGroups.map((g) => g.rows), [sizes[0], sizes[1] + 5 * sizes[2], 5 * sizes[2] + sizes[12], ...thirds]);
    assertSameRows(await readBack(file), block, "rdpipe");
  });

  it("never carries one block's bytes into the next file, nor one row group's into the next read", async () => {
    // A large block first (the reused buffers grow to it), then a small one, then the large one again.
    const large = table(ROWS, (i) => `large-${i}-${"L".repeat(i % 29)}`);
    const small = table(1000, (i) => `s${i}`);
    const files: string[] = [];
    for (const [name, block] of [["large", large], ["small", small], ["again", large]] as const) {
      files.push((await writeBlock("parquet", block, dir, `${name}.parquet`)).path);
    }
    const expected = [large, small, large];
    for (let i = 0; i < files.length; i++) {
      assertSameRows(tableFromIPC(readParquet(fs.readFileSync(files[i])).intoIPCStream()), expected[i], `${path.basename(files[i])} by parquet-wasm`);
      assertSameRows(await readBack(files[i]), expected[i], `${path.basename(files[i])} by rdpipe`);
    }
  });
});
