import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { DataType, DateMillisecond, Dictionary, Int32, Schema, Utf8, vectorFromArray } from "apache-arrow";
import { parquetWriteBuffer } from "hyparquet-writer";
import { blockFromColumns, blockFromRows, blockToRows, describeSchema, type Block, type Row } from "../server/src/block";
import {
  IoError, fileExtension, fileMetadata, listFiles, readFileBlocks, removeWrittenFiles, writeBlock,
  type FileFormat, type ReadOptions, type SourceBlock,
} from "../server/src/io";
import { decodeStruct, encodeStruct } from "../server/src/io/thrift";

// parquetjs-lite ships no types; this is the part of its API the interop test uses.
interface ParquetjsLite {
  ParquetSchema: new (fields: Record<string, { type: string; optional?: boolean; compression?: string }>) => unknown;
  ParquetWriter: { openFile(schema: unknown, file: string, opts?: { rowGroupSize?: number }): Promise<{ appendRow(row: Row): Promise<void>; close(): Promise<void> }> };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parquetjsLite = require("parquetjs-lite") as ParquetjsLite;

const BIG = 9007199254740993n; // 2^53 + 1: not representable as a double

let tmp: string;
let duck: DuckDBConnection;

function tempPath(...parts: string[]): string {
  const full = path.join(tmp, ...parts);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  return full;
}

function writeText(relative: string, content: string | Uint8Array): string {
  const file = tempPath(relative);
  fs.writeFileSync(file, content);
  return file;
}

function writeWithHyparquet(relative: string, codec: "SNAPPY" | "GZIP"): string {
  return writeText(relative, new Uint8Array(parquetWriteBuffer({
    codec,
    compressors: { GZIP: (bytes: Uint8Array) => new Uint8Array(zlib.gzipSync(bytes)) },
    rowGroupSize: 2,
    columnData: [
      { name: "id", data: [1n, 2n, 3n, null, BIG], type: "INT64" },
      { name: "x", data: [1.5, 2.5, null, 4.5, 5.5], type: "DOUBLE" },
      { name: "s", data: ["a", "b", null, "d", "é"], type: "STRING" },
      { name: "b", data: [true, false, true, null, false], type: "BOOLEAN" },
    ],
  })));
}

async function writeWithParquetjsLite(relative: string, compression: string): Promise<string> {
  const file = tempPath(relative);
  const schema = new parquetjsLite.ParquetSchema({
    id: { type: "INT64", compression }, x: { type: "DOUBLE", optional: true, compression },
    s: { type: "UTF8", optional: true, compression }, b: { type: "BOOLEAN", compression },
    ts: { type: "TIMESTAMP_MILLIS", compression },
  });
  const writer = await parquetjsLite.ParquetWriter.openFile(schema, file, { rowGroupSize: 2 });
  for (const row of [
    { id: 1, x: 1.5, s: "a", b: true, ts: new Date(1000) }, { id: 2, b: false, ts: new Date(2000) },
    { id: 3, x: 3.5, s: "c", b: true, ts: new Date(1_700_000_000_123) },
  ]) await writer.appendRow(row);
  await writer.close();
  return file;
}

async function duckRows(sql: string): Promise<Row[]> {
  return (await duck.runAndReadAll(sql)).getRowObjectsJS() as Row[];
}

async function readAll(format: FileFormat, paths: string | string[], options: Partial<ReadOptions> = {}, listOptions = {}): Promise<SourceBlock[]> {
  const files = await listFiles(paths, listOptions);
  const blocks: SourceBlock[] = [];
  for await (const b of readFileBlocks({ format, files, options: { targetBlockBytes: 64 << 20, ...options } })) blocks.push(b);
  return blocks;
}

async function readRows(format: FileFormat, paths: string | string[], options: Partial<ReadOptions> = {}, listOptions = {}): Promise<Row[]> {
  return (await readAll(format, paths, options, listOptions)).flatMap((b) => blockToRows(b.block));
}

/** Asserts the promise rejects with an IoError whose message contains every fragment. */
async function rejectsIo(promise: Promise<unknown>, ...fragments: string[]): Promise<string> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof IoError, `expected IoError, got ${String(e)}`);
    for (const fragment of fragments) assert.ok(e.message.includes(fragment), `"${e.message}" lacks "${fragment}"`);
    return e.message;
  }
  assert.fail(`expected an IoError mentioning ${fragments.join(", ")}`);
}

function typesOf(block: Block): Record<string, string> {
  return Object.fromEntries(block.schema.fields.map((f) => [f.name, describeSchema(new Schema([f])).slice(f.name.length + 2)]));
}

describe("io", function () {
  this.timeout(30_000);

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rdpipe-io-"));
    duck = await (await DuckDBInstance.create(":memory:")).connect();
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe("listFiles", () => {
    it("expands directories recursively, skips markers, hidden and temp files, sorts by path", async () => {
      for (const name of ["ds/b.csv", "ds/a.csv", "ds/sub/c.CSV", "ds/_SUCCESS", "ds/.hidden.csv", "ds/d.csv.tmp",
        "ds/_temporary/x.csv", "ds/.git/y.csv", "ds/notes.txt"]) writeText(name, "a\n1\n");
      const files = await listFiles(tempPath("ds"));
      assert.deepEqual(files.map((f) => path.relative(tmp, f.path)), ["ds/a.csv", "ds/b.csv", "ds/notes.txt", "ds/sub/c.CSV"]);
      assert.equal(files[0].size, 4);
      const csvOnly = await listFiles([tempPath("ds")], { fileExtensions: ["csv"] });
      assert.deepEqual(csvOnly.map((f) => path.basename(f.path)), ["a.csv", "b.csv", "c.CSV"]);
      const dotted = await listFiles([tempPath("ds/notes.txt"), tempPath("ds/a.csv")], { fileExtensions: [".TXT"] });
      assert.deepEqual(dotted.map((f) => path.basename(f.path)), ["notes.txt"]);
    });

    it("parses hive key=value directories into partitions", async () => {
      writeText("hive/year=2024/country=us/part-0.csv", "a\n1\n");
      writeText("hive/year=2025/country=d%20e/part-0.csv", "a\n2\n");
      const files = await listFiles(tempPath("hive"), { partitioning: "hive" });
      assert.deepEqual(files.map((f) => f.partition), [{ year: "2024", country: "us" }, { year: "2025", country: "d e" }]);
      const plain = await listFiles(tempPath("hive"));
      assert.equal(plain[0].partition, undefined);
    });

    it("fails on a missing path and when filtering leaves no files", async () => {
      const missing = tempPath("does/not/exist");
      await rejectsIo(listFiles([missing]), `no such file or directory: ${missing}`);
      writeText("only-json/a.json", "{}\n");
      await rejectsIo(listFiles(tempPath("only-json"), { fileExtensions: ["parquet"] }), tempPath("only-json"), ".parquet");
    });
  });

  describe("parquet", () => {
    const CODECS = ["snappy", "gzip", "zstd", "brotli", "lz4_raw"] as const;
    for (const codec of CODECS) {
      it(`reads a DuckDB file compressed with ${codec}, one row group at a time`, async () => {
        const file = tempPath(`duck/${codec}.parquet`);
        await duck.run(`COPY (SELECT i::BIGINT AS id, ${BIG}::BIGINT + i AS big, (i * 0.5)::DOUBLE AS x, 'name' || i AS s, i % 2 = 0 AS even,
          CASE WHEN i % 3 = 0 THEN NULL ELSE i::INTEGER END AS n FROM range(5000) t(i))
          TO '${file}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE 2048)`);
        const blocks = await readAll("parquet", file);
        assert.deepEqual(blocks.map((b) => [b.rowOffset, b.block.numRows]), [[0, 2048], [2048, 2048], [4096, 904]]);
        assert.deepEqual(typesOf(blocks[0].block), { id: "Int64", big: "Int64", x: "Float64", s: "Utf8", even: "Bool", n: "Int32" });
        const rows = blocks.flatMap((b) => blockToRows(b.block));
        assert.deepEqual(rows[1234], { id: 1234, big: BIG + 1234n, x: 617, s: "name1234", even: true, n: 1234 });
        assert.deepEqual(rows[4998], { id: 4998, big: BIG + 4998n, x: 2499, s: "name4998", even: true, n: null });
        assert.deepEqual(rows[4999], { id: 4999, big: BIG + 4999n, x: 2499.5, s: "name4999", even: false, n: 4999 });
        const meta = await fileMetadata("parquet", { path: file, size: fs.statSync(file).size });
        assert.equal(meta.rows, 5000);
        assert.ok(meta.inMemoryBytes! > 0);
        assert.deepEqual(meta.schema!.fields.map((f) => f.name), ["id", "big", "x", "s", "even", "n"]);
      });
    }

    it("reads what hyparquet-writer writes (snappy and gzip)", async () => {
      for (const codec of ["SNAPPY", "GZIP"] as const) {
        const file = writeWithHyparquet(`hyw/${codec}.parquet`, codec);
        const blocks = await readAll("parquet", file);
        assert.deepEqual(blocks.map((b) => b.rowOffset), [0, 2, 4]);
        assert.deepEqual(blocks.flatMap((b) => blockToRows(b.block)), [
          { id: 1, x: 1.5, s: "a", b: true }, { id: 2, x: 2.5, s: "b", b: false }, { id: 3, x: null, s: null, b: true },
          { id: null, x: 4.5, s: "d", b: null }, { id: BIG, x: 5.5, s: "é", b: false },
        ]);
      }
    });

    it("reads what parquetjs-lite writes (parquet-wasm's own file reader rejects its page indexes)", async () => {
      for (const compression of ["SNAPPY", "GZIP", "UNCOMPRESSED"]) {
        const file = await writeWithParquetjsLite(`pjl/${compression}.parquet`, compression);
        const blocks = await readAll("parquet", file);
        assert.deepEqual(blocks.map((b) => [b.rowOffset, b.block.numRows]), [[0, 2], [2, 1]]);
        assert.equal(typesOf(blocks[0].block).ts, "Timestamp<MILLISECOND, UTC>");
        assert.deepEqual(blocks.flatMap((b) => blockToRows(b.block)), [
          { id: 1, x: 1.5, s: "a", b: true, ts: 1000 }, { id: 2, x: null, s: null, b: false, ts: 2000 },
          { id: 3, x: 3.5, s: "c", b: true, ts: 1_700_000_000_123 },
        ]);
        const projected = await readRows("parquet", file, { columns: ["ts", "id"] });
        assert.deepEqual(projected[2], { ts: 1_700_000_000_123, id: 3 });
        assert.equal((await fileMetadata("parquet", { path: file, size: fs.statSync(file).size })).rows, 3);
      }
    });

    it("writes files DuckDB reads back exactly, with every compression", async () => {
      const block = blockFromRows([
        { id: 1n, big: BIG, x: 0.25, s: "plain", flag: true, note: null, at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), bin: Buffer.from([0, 255]) },
        { id: 2n, big: -BIG, x: -1e300, s: "quote \" comma , newline \n", flag: false, note: "n", at: null, bin: null },
        { id: 3n, big: null, x: null, s: "", flag: null, note: null, at: new Date(0), bin: Buffer.alloc(0) },
      ]);
      for (const compression of ["snappy", "gzip", "zstd", "brotli", "lz4_raw", "uncompressed"] as const) {
        const dir = tempPath(`written/${compression}`);
        const result = await writeBlock("parquet", block, dir, `part-0${fileExtension("parquet")}`, { compression });
        assert.equal(result.rows, 3);
        assert.equal(result.bytes, fs.statSync(result.path).size);
        assert.deepEqual(fs.readdirSync(dir), ["part-0.parquet"]);
        const rows = await duckRows(`SELECT * FROM read_parquet('${result.path}') ORDER BY id`);
        assert.deepEqual(rows, [
          { id: 1n, big: BIG, x: 0.25, s: "plain", flag: true, note: null, at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), bin: Buffer.from([0, 255]) },
          { id: 2n, big: -BIG, x: -1e300, s: "quote \" comma , newline \n", flag: false, note: "n", at: null, bin: null },
          { id: 3n, big: null, x: null, s: "", flag: null, note: null, at: new Date(0), bin: Buffer.alloc(0) },
        ]);
        const [{ types }] = await duckRows(`SELECT string_agg(column_type, ',') AS types FROM (DESCRIBE SELECT * FROM read_parquet('${result.path}'))`);
        assert.equal(types, "BIGINT,BIGINT,DOUBLE,VARCHAR,BOOLEAN,VARCHAR,TIMESTAMP,BLOB");
        const chunks = await duckRows(`SELECT compression, encodings FROM parquet_metadata('${result.path}')`);
        assert.deepEqual([...new Set(chunks.map((c) => c.compression))], [compression.toUpperCase()]);
        assert.ok(chunks.every((c) => !String(c.encodings).includes("DICTIONARY")), "dictionary encoding is off");
      }
    });

    it("round-trips through its own reader, dictionary strings written as plain strings", async () => {
      const dictionary = vectorFromArray(["x", "y", "x", null], new Dictionary(new Utf8(), new Int32()));
      const block = blockFromColumns({ id: new BigInt64Array([1n, 2n, 3n, 4n]), tag: dictionary });
      assert.ok(DataType.isDictionary(block.schema.fields[1].type));
      const { path: file } = await writeBlock("parquet", block, tempPath("dict"), "d.parquet");
      const [read] = await readAll("parquet", file);
      assert.deepEqual(typesOf(read.block), { id: "Int64", tag: "Utf8" });
      assert.ok(!DataType.isDictionary(read.block.schema.fields[1].type));
      assert.deepEqual(blockToRows(read.block), [{ id: 1, tag: "x" }, { id: 2, tag: "y" }, { id: 3, tag: "x" }, { id: 4, tag: null }]);
    });

    it("decodes only the projected columns, in the requested order", async () => {
      const file = tempPath("proj/p.parquet");
      await duck.run(`COPY (SELECT i AS a, i * 2 AS b, 'v' || i AS c FROM range(10) t(i)) TO '${file}' (FORMAT parquet)`);
      const rows = await readRows("parquet", file, { columns: ["c", "a"] });
      assert.deepEqual(rows[3], { c: "v3", a: 3 });
      assert.deepEqual(Object.keys(rows[0]), ["c", "a"]);
      await rejectsIo(readRows("parquet", file, { columns: ["a", "nope"] }), file, "'nope'");
    });

    it("reads nested columns, also projected", async () => {
      const file = tempPath("nested/n.parquet");
      await duck.run(`COPY (SELECT i AS id, [i, i + 1] AS list, {'a': i, 'b': 'x' || i} AS st, 'z' AS last FROM range(3) t(i))
        TO '${file}' (FORMAT parquet)`);
      assert.deepEqual((await readRows("parquet", file))[2], { id: 2, list: [2, 3], st: { a: 2, b: "x2" }, last: "z" });
      assert.deepEqual(await readRows("parquet", file, { columns: ["last", "st"] }), [0, 1, 2].map((i) => ({ last: "z", st: { a: i, b: `x${i}` } })));
      assert.deepEqual((await readRows("parquet", file, { columns: ["list"] }))[1], { list: [1, 2] });
    });

    it("keeps Arrow types stored by Arrow writers, also under projection", async () => {
      // Parquet has no 64-bit date: without the stored Arrow schema this column would read back as Date32.
      const day = vectorFromArray([new Date(Date.UTC(2024, 0, 2)), null], new DateMillisecond());
      const { path: file } = await writeBlock("parquet", blockFromColumns({ id: new Float64Array([1, 2]), day }), tempPath("date64"), "d.parquet");
      for (const columns of [undefined, ["day"]]) {
        const [{ block }] = await readAll("parquet", file, { columns });
        assert.equal(typesOf(block).day, "Date64<MILLISECOND>");
        assert.deepEqual(blockToRows(block).map((r) => r.day), [Date.UTC(2024, 0, 2), null]);
      }
    });

    it("reports a corrupt page as an IoError naming file and row group, and keeps working", async () => {
      const file = tempPath("corrupt/c.parquet");
      await duck.run(`COPY (SELECT i AS id, md5(i::VARCHAR) AS s FROM range(20000) t(i)) TO '${file}' (FORMAT parquet, COMPRESSION zstd)`);
      const bytes = fs.readFileSync(file);
      bytes.fill(7, 200, 2000);
      fs.writeFileSync(file, bytes);
      await rejectsIo(readRows("parquet", file), `${file}: row group 0 (rows 0-19999): cannot decode`);
      const good = tempPath("corrupt/good.parquet");
      await duck.run(`COPY (SELECT 1 AS one) TO '${good}' (FORMAT parquet)`);
      assert.deepEqual(await readRows("parquet", good), [{ one: 1 }]);
    });

    it("re-encodes the footers of every writer byte for byte (the row-group rewrite relies on it)", async () => {
      const duckFile = tempPath("footers/duck.parquet");
      await duck.run(`COPY (SELECT i AS id, [i] AS l, 'x' AS s FROM range(10) t(i)) TO '${duckFile}' (FORMAT parquet, COMPRESSION zstd)`);
      const written = await writeBlock("parquet", blockFromRows([{ a: 1n, b: "x", c: true }]), tempPath("footers"), "rdpipe.parquet");
      const files = [duckFile, written.path, writeWithHyparquet("footers/hyw.parquet", "SNAPPY"), await writeWithParquetjsLite("footers/pjl.parquet", "GZIP")];
      for (const file of files) {
        const bytes = new Uint8Array(fs.readFileSync(file));
        const length = Buffer.from(bytes).readUInt32LE(bytes.length - 8);
        const footer = bytes.subarray(bytes.length - 8 - length, bytes.length - 8);
        assert.ok(Buffer.from(encodeStruct(decodeStruct(footer))).equals(footer), file);
      }
    });

    it("rejects truncated and non-Parquet files, naming them", async () => {
      const good = tempPath("bad/good.parquet");
      await duck.run(`COPY (SELECT i FROM range(1000) t(i)) TO '${good}' (FORMAT parquet)`);
      const bytes = fs.readFileSync(good);
      const truncated = writeText("bad/truncated.parquet", bytes.subarray(0, bytes.length - 100));
      const notParquet = writeText("bad/text.parquet", "id,name\n1,a\n");
      const empty = writeText("bad/empty.parquet", "");
      for (const file of [truncated, notParquet, empty]) {
        await rejectsIo(readRows("parquet", file), `${file}: not a valid Parquet file (`);
        await rejectsIo(fileMetadata("parquet", { path: file, size: fs.statSync(file).size }), `${file}: not a valid Parquet file (`);
      }
    });
  });

  describe("csv", () => {
    it("infers Int64, Float64, Bool and Utf8 columns; empty fields are null; quotes follow RFC 4180", async () => {
      const file = writeText("csv/basic.csv",
        "\uFEFFid,price,ok,name,empty\r\n1,2.5,true,\"Smith, J\",\r\n2,3,false,\"say \"\"hi\"\"\",\r\n3,,,\"two\nlines\",\r\n");
      const [{ block }] = await readAll("csv", file);
      assert.deepEqual(typesOf(block), { id: "Int64", price: "Float64", ok: "Bool", name: "Utf8", empty: "Utf8" });
      assert.deepEqual(blockToRows(block), [
        { id: 1, price: 2.5, ok: true, name: "Smith, J", empty: null },
        { id: 2, price: 3, ok: false, name: "say \"hi\"", empty: null },
        { id: 3, price: null, ok: null, name: "two\nlines", empty: null },
      ]);
    });

    it("supports another delimiter, no header, and projection", async () => {
      const file = writeText("csv/semi.csv", "1;a\n2;b\n");
      assert.deepEqual(await readRows("csv", file, { csv: { delimiter: ";", header: false } }), [{ f0: 1, f1: "a" }, { f0: 2, f1: "b" }]);
      const headed = writeText("csv/headed.csv", "a,b,c\n1,2,3\n");
      assert.deepEqual(await readRows("csv", headed, { columns: ["c", "a"] }), [{ c: 3, a: 1 }]);
      await rejectsIo(readRows("csv", headed, { columns: ["z"] }), headed, "'z'");
    });

    it("round-trips writeBlock output, including quotes, nulls, int64 and timestamps", async () => {
      const block = blockFromRows([
        { id: 1n, big: BIG, x: 1.5, s: "a,b", q: "say \"x\"", flag: true, at: new Date(Date.UTC(2024, 5, 1)) },
        { id: 2n, big: null, x: null, s: "line\nbreak", q: null, flag: false, at: null },
      ]);
      const { path: file, bytes } = await writeBlock("csv", block, tempPath("csv-out"), "part.csv");
      assert.equal(bytes, fs.statSync(file).size);
      const [read] = await readAll("csv", file);
      assert.deepEqual(typesOf(read.block), { id: "Int64", big: "Int64", x: "Float64", s: "Utf8", q: "Utf8", flag: "Bool", at: "Utf8" });
      assert.deepEqual(blockToRows(read.block), [
        { id: 1, big: BIG, x: 1.5, s: "a,b", q: "say \"x\"", flag: true, at: "2024-06-01T00:00:00.000Z" },
        { id: 2, big: null, x: null, s: "line\nbreak", q: null, flag: false, at: null },
      ]);
      const [duckRow] = await duckRows(`SELECT * FROM read_csv('${file}') WHERE id = 1`);
      assert.equal(duckRow.q, "say \"x\"");
      assert.equal(duckRow.big, BIG);
    });

    it("locks types from the first block and names file, line and column when a later value does not fit", async () => {
      const lines = ["n,label"];
      for (let i = 0; i < 70_000; i++) lines.push(`${i},x`);
      lines.push("1.5,y");
      const file = writeText("csv/late.csv", `${lines.join("\n")}\n`);
      await rejectsIo(readRows("csv", file), file, "line 70002", "column 'n'", "1.5");
    });

    it("reports malformed lines with file and line number", async () => {
      const fieldCount = writeText("csv/fields.csv", "a,b\n1,2\n3\n4,5\n");
      await rejectsIo(readRows("csv", fieldCount), fieldCount, "line 3");
      const unclosed = writeText("csv/quote.csv", "a,b\n1,2\n3,\"open\n4,5\n");
      await rejectsIo(readRows("csv", unclosed), unclosed, "line 3", "quote");
    });
  });

  describe("json", () => {
    it("reads JSON Lines (byte order mark and blank lines skipped) with integer columns as Int64", async () => {
      const file = writeText("json/a.jsonl", '\uFEFF{"id": 1, "x": 1.5, "s": "a"}\n\n{"id": 2, "x": 2, "s": null}\r\n');
      const [{ block }] = await readAll("json", file);
      assert.equal(typesOf(block).id, "Int64");
      assert.equal(typesOf(block).x, "Float64");
      assert.deepEqual(blockToRows(block), [{ id: 1, x: 1.5, s: "a" }, { id: 2, x: 2, s: null }]);
    });

    it("reads a top-level JSON array of objects", async () => {
      const file = writeText("json/array.json", '  [{"a": 1, "b": "x"},\n {"a": 2,\n  "b": "y, ] } \\" ["}\n]\n');
      assert.deepEqual(await readRows("json", file), [{ a: 1, b: "x" }, { a: 2, b: "y, ] } \" [" }]);
      assert.deepEqual(await readRows("json", file, { columns: ["a"] }), [{ a: 1 }, { a: 2 }]);
      assert.deepEqual(await readRows("json", writeText("json/empty-array.json", "[ ]")), []);
    });

    it("round-trips writeBlock output as JSON Lines, unsafe int64 as strings", async () => {
      const block = blockFromRows([{ id: 1n, big: BIG, s: "é\"", ok: true }, { id: 2n, big: null, s: null, ok: false }]);
      const { path: file } = await writeBlock("json", block, tempPath("json-out"), "part.json");
      assert.deepEqual(fs.readFileSync(file, "utf8").split("\n"), [
        `{"id":1,"big":"${BIG}","s":"é\\"","ok":true}`, '{"id":2,"big":null,"s":null,"ok":false}', "",
      ]);
      assert.deepEqual(await readRows("json", file), [{ id: 1, big: String(BIG), s: "é\"", ok: true }, { id: 2, big: null, s: null, ok: false }]);
    });

    it("names file, line and a preview of an invalid line", async () => {
      const file = writeText("json/bad.jsonl", '{"a": 1}\n{"a": 2,, oops}\n');
      await rejectsIo(readRows("json", file), file, "line 2", "oops");
      const notObject = writeText("json/scalar.jsonl", '{"a": 1}\n42\n');
      await rejectsIo(readRows("json", notObject), notObject, "line 2", "expected a JSON object");
      const mixed = writeText("json/mixed.jsonl", '{"a": 1}\n{"a": "one"}\n');
      await rejectsIo(readRows("json", mixed), mixed, "lines 1-2", "mixed types");
      const brokenArray = writeText("json/broken.json", '[\n{"a": 1},\n{"a": }\n]');
      await rejectsIo(readRows("json", brokenArray), brokenArray, "line 3", '{"a": }');
      const unterminated = writeText("json/unterminated.json", '[{"a": 1},\n{"a": 2}');
      await rejectsIo(readRows("json", unterminated), unterminated, "line 2", "ends inside the top-level array");
    });
  });

  describe("text and binary", () => {
    it("reads one row per line; \\r\\n handled; a trailing newline adds no row", async () => {
      const file = writeText("text/a.txt", "first\r\nsecond\n\nfourth\n");
      const [{ block }] = await readAll("text", file);
      assert.deepEqual(typesOf(block), { text: "Utf8" });
      assert.deepEqual(blockToRows(block).map((r) => r.text), ["first", "second", "", "fourth"]);
    });

    it("reads one row per file with its bytes", async () => {
      const content = new Uint8Array([0, 1, 2, 255, 10, 13]);
      const file = writeText("bin/a.bin", content);
      writeText("bin/b.bin", new Uint8Array(0));
      const blocks = await readAll("binary", tempPath("bin"), { includePaths: true });
      assert.deepEqual(typesOf(blocks[0].block), { bytes: "Binary", path: "Utf8" });
      const rows = blocks.flatMap((b) => blockToRows(b.block));
      assert.deepEqual(rows.map((r) => [Array.from(r.bytes as Uint8Array), r.path]), [[Array.from(content), file], [[], tempPath("bin/b.bin")]]);
    });
  });

  describe("readFileBlocks", () => {
    it("adds hive partition columns and `path`, also under projection", async () => {
      for (const [year, ids] of [["2023", "1, 2"], ["2024", "3"]] as const) {
        const file = tempPath(`parts/year=${year}/data.parquet`);
        await duck.run(`COPY (SELECT unnest([${ids}]) AS id) TO '${file}' (FORMAT parquet)`);
      }
      const rows = await readRows("parquet", tempPath("parts"), { includePaths: true }, { partitioning: "hive" });
      assert.deepEqual(rows, [
        { id: 1, year: "2023", path: tempPath("parts/year=2023/data.parquet") },
        { id: 2, year: "2023", path: tempPath("parts/year=2023/data.parquet") },
        { id: 3, year: "2024", path: tempPath("parts/year=2024/data.parquet") },
      ]);
      const projected = await readRows("parquet", tempPath("parts"), { columns: ["year", "id"] }, { partitioning: "hive" });
      assert.deepEqual(projected[2], { year: "2024", id: 3 });
      const onlyPartition = await readRows("parquet", tempPath("parts"), { columns: ["year"] }, { partitioning: "hive" });
      assert.deepEqual(onlyPartition.map((r) => r.year), ["2023", "2023", "2024"]);
    });

    it("splits blocks by targetBlockBytes, keeping row offsets within each file", async () => {
      const file = tempPath("split/s.parquet");
      await duck.run(`COPY (SELECT i::BIGINT AS id FROM range(10000) t(i)) TO '${file}' (FORMAT parquet)`);
      const blocks = await readAll("parquet", file, { targetBlockBytes: 8 * 2500 });
      assert.deepEqual(blocks.map((b) => [b.rowOffset, b.block.numRows]), [[0, 2500], [2500, 2500], [5000, 2500], [7500, 2500]]);
      assert.equal(blockToRows(blocks[2].block)[0].id, 5000);
      const textFile = writeText("split/lines.txt", Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n"));
      const textBlocks = await readAll("text", textFile, { targetBlockBytes: 400 });
      assert.ok(textBlocks.length > 1);
      for (const b of textBlocks) assert.equal(blockToRows(b.block)[0].text, `line ${b.rowOffset}`);
    });

    it("fails when a file's columns differ from the first file's, naming both", async () => {
      const first = writeText("differ/a.csv", "id,name\n1,a\n");
      const second = writeText("differ/b.csv", "id,label\n2,b\n");
      const message = await rejectsIo(readRows("csv", tempPath("differ")), "columns differ across files", `${second} has {id: Int64, label: Utf8}`, `but ${first} has {id: Int64, name: Utf8}`);
      assert.ok(message.startsWith("columns differ across files"));
    });
  });

  describe("writeBlock housekeeping", () => {
    it("leaves no temp file behind and reports a failed write as an IoError naming the file", async () => {
      const dir = tempPath("atomic");
      await writeBlock("json", blockFromRows([{ a: 1 }]), dir, "x.json");
      assert.deepEqual(fs.readdirSync(dir), ["x.json"]);
      const blocker = writeText("atomic-blocker", "not a directory");
      await rejectsIo(writeBlock("csv", blockFromRows([{ a: 1 }]), path.join(blocker, "sub"), "y.csv"), path.join(blocker, "sub", "y.csv"));
    });

    it("removeWrittenFiles deletes prefixed files and their temp siblings only", async () => {
      const dir = tempPath("cleanup");
      for (const name of ["job1_0.parquet", "job1_1.parquet", ".job1_2.parquet.tmp", "job2_0.parquet", ".job2_0.parquet.tmp"]) {
        writeText(`cleanup/${name}`, "x");
      }
      assert.equal(await removeWrittenFiles(dir, "job1_"), 3);
      assert.deepEqual(fs.readdirSync(dir).sort(), [".job2_0.parquet.tmp", "job2_0.parquet"]);
      assert.equal(await removeWrittenFiles(tempPath("cleanup-missing"), "job1_"), 0);
    });
  });
});
