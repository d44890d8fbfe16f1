// rdpipe against a real S3-compatible server (s3rver on loopback): listing with pagination, range
// reads, multipart writes, hive partitions, both metadata paths, and clear errors for bad input.
import assert from "node:assert/strict";
import * as rd from "../server/src/api";
import { blockFromRows } from "../server/src/block";
import { MetadataCache, listFiles, readFileBlocks, removeWrittenFiles, writeBlock } from "../server/src/io";
import { fileSystemFor, S3FileSystem } from "../server/src/io/fs";
import { startLatencyProxy } from "../bench/latency-proxy";
import { tempDir } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

describe("S3 (s3rver)", function () {
  this.timeout(120_000);
  let server: S3Server;
  /** Three keys per ListObjectsV2 page, so every listing below spans several pages. */
  let s3: S3FileSystem;

  before(async () => {
    server = await startS3Server(["data", "out"]);
    process.env.AWS_ENDPOINT_URL_S3 = server.endpoint;
    s3 = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1", listPageSize: 3 });
    // 20 Parquet files of 50 rows each, ids 0..999, written by rdpipe itself.
    await rd.range(1000, { overrideNumBlocks: 20 }).map((r) => ({ id: r.id, half: Math.floor((r.id as number) / 2) }))
      .writeParquet("s3://data/flat", { filesystem: s3 }).run();
  });

  after(async () => {
    delete process.env.AWS_ENDPOINT_URL_S3;
    await server?.stop();
  });

  const ids = (rows: rd.Row[]) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);

  it("lists in pages of MaxKeys keys and reads every file (accelerated path)", async () => {
    const pages = [];
    for await (const page of s3.listDirectory("s3://data/flat")) pages.push(page.files.length);
    assert.equal(pages.length, 7);
    assert.equal(pages.reduce((a, b) => a + b, 0), 20);
    const rows = await rd.readParquet("s3://data/flat", { filesystem: s3 }).takeAll();
    assert.deepEqual(ids(rows), Array.from({ length: 1000 }, (_, i) => i));
  });

  it("reads the same rows on the fallback path (overrideNumBlocks) with the environment's endpoint", async () => {
    const ds = rd.readParquet("s3://data/flat", { overrideNumBlocks: 3 });
    assert.deepEqual(ids(await ds.takeAll()), Array.from({ length: 1000 }, (_, i) => i));
    assert.equal(ds.stats().includes("3 tasks"), true, ds.stats());
  });

  it("reads byte ranges exactly, and projects columns with range reads", async () => {
    await s3.write("s3://data/bytes.bin", [Uint8Array.from({ length: 256 }, (_, i) => i)]);
    assert.deepEqual([...(await s3.readRange("s3://data/bytes.bin", 250, 256))], [250, 251, 252, 253, 254, 255]);
    assert.deepEqual([...(await s3.readRange("s3://data/bytes.bin", 0, 3))], [0, 1, 2]);
    const rows = await rd.readParquet("s3://data/flat", { filesystem: s3, columns: ["half"] }).takeAll();
    assert.deepEqual(Object.keys(rows[0]), ["half"]);
    assert.equal(rows.length, 1000);
    // A wide file: one column of one row group costs the footer read and that column chunk, not the file.
    const wide = blockFromRows(Array.from({ length: 20_000 }, (_, i) => ({ id: i, a: `a${i}`.repeat(20), b: `b${i}`.repeat(20) })));
    await writeBlock("parquet", wide, "s3://data/wide", "w.parquet", { filesystem: s3.description, compression: "uncompressed" });
    const size = ((await s3.stat("s3://data/wide/w.parquet")) as { size: number }).size;
    const fetched = fileSystemFor("s3://data/wide/w.parquet", s3.description) as S3FileSystem;
    const before = { ...fetched.counters };
    const spec = { format: "parquet" as const, files: [{ path: "s3://data/wide/w.parquet", size }], options: { targetBlockBytes: 64 << 20, columns: ["id"], filesystem: s3.description } };
    let count = 0;
    for await (const b of readFileBlocks(spec)) count += b.block.numRows;
    assert.equal(count, 20_000);
    const read = fetched.counters.bytesRead - before.bytesRead;
    assert.ok(read < size / 5, `read ${read} of ${size} bytes`);
    assert.equal(fetched.counters.gets - before.gets, 2);
  });

  it("writes large files as multipart uploads and reads them back", async () => {
    const text = (i: number) => `${i}:${"x".repeat(40)}:${(i * 7919) % 1_000_003}`;
    const block = blockFromRows(Array.from({ length: 200_000 }, (_, i) => ({ id: i, text: text(i) })));
    const written = await writeBlock("json", block, "s3://out/big", "part.json", { filesystem: s3.description });
    assert.ok(written.bytes > 10 * 1024 * 1024, `expected three parts or more, wrote ${written.bytes} bytes`);
    assert.equal((fileSystemFor("s3://out", s3.description) as S3FileSystem).counters.multipartUploads, 1);
    // Through the engine too (workers build their own client from the description).
    await rd.range(10, { overrideNumBlocks: 1 }).map((r) => ({ id: r.id, text: "engine" })).writeJson("s3://out/big", { filesystem: s3 }).run();
    const back = await rd.readJson("s3://out/big/part.json", { filesystem: s3 }).takeAll();
    assert.equal(back.length, 200_000);
    assert.equal(back[123_456].text, text(123_456));
    assert.equal((await rd.readJson("s3://out/big", { filesystem: s3 }).takeAll()).length, 200_010);
  });

  it("reads hive-partitioned input, listing partitions in parallel", async () => {
    for (const year of [2020, 2021, 2022]) {
      for (const part of [0, 1]) {
        const block = blockFromRows(Array.from({ length: 4 }, (_, i) => ({ n: year * 10 + part * 4 + i })));
        await writeBlock("parquet", block, `s3://data/hive/year=${year}/part=${part}`, "f.parquet", { filesystem: s3.description });
      }
    }
    await s3.write("s3://data/hive/_SUCCESS", [new Uint8Array(0)]);
    const rows = await rd.readParquet("s3://data/hive", { filesystem: s3 }).takeAll();
    assert.equal(rows.length, 24);
    assert.deepEqual(rows.filter((r) => r.year === "2021" && r.part === "1").map((r) => r.n).sort(), [20214, 20215, 20216, 20217]);
  });

  it("overwrite empties the prefix; removeWrittenFiles deletes by name prefix", async () => {
    await rd.range(10, { overrideNumBlocks: 2 }).writeCsv("s3://out/ow", { filesystem: s3 }).run();
    await rd.range(10, { overrideNumBlocks: 1 }).writeCsv("s3://out/ow", { filesystem: s3, mode: "overwrite" }).run();
    const names = [];
    for await (const page of s3.listDirectory("s3://out/ow")) names.push(...page.files.map((f) => f.path));
    assert.equal(names.length, 1);
    const prefix = names[0].split("/").pop()!.slice(0, 4);
    assert.equal(await removeWrittenFiles("s3://out/ow", prefix, s3.description), 1);
  });

  it("a failed job removes the files it wrote to S3", async () => {
    // One task writing a file per batch of 10 rows: nine files are complete when the tenth batch fails.
    // (One task only: s3rver keeps a 0-byte object for a PUT cut off by a terminated worker, where S3 keeps nothing.)
    await assert.rejects(rd.range(100, { overrideNumBlocks: 1 }).mapBatches((b: rd.Columns) => {
      if ((b.id as BigInt64Array)[0] === 90n) throw new Error("boom");
      return b;
    }, { batchSize: 10 }).writeParquet("s3://out/failed", { filesystem: s3 }).run(), /boom/);
    const pages = [];
    for await (const page of s3.listDirectory("s3://out/failed")) pages.push(...page.files);
    assert.deepEqual(pages, []);
  });

  it("caches footers by (path, size, etag): a second fallback run reads none, a changed file is read again", async () => {
    const driverSide = fileSystemFor("s3://data/flat", s3.description) as S3FileSystem;
    const gets = async (ds: rd.Dataset) => {
      const before = driverSide.counters.gets;
      assert.equal((await ds.takeAll()).length, 1000);
      return driverSide.counters.gets - before;
    };
    const fallback = () => rd.readParquet("s3://data/flat", { filesystem: s3, overrideNumBlocks: 2 });
    process.env.RDPIPE_CACHE_DIR = tempDir("rdpipe-cache-"); // cold (earlier tests filled the shared one)
    assert.equal(await gets(fallback()), 20);
    assert.equal(await gets(fallback()), 0);
    const cache = await MetadataCache.open("parquet", ["s3://data/flat"]);
    const [first] = (await listFiles("s3://data/flat", { filesystem: s3.description })).slice(0, 1);
    const cached = cache.get(first)!;
    assert.equal(cached.rows, 50);
    assert.deepEqual(cached.schema!.fields.map((f) => f.name), ["id", "half"]);
    assert.equal(cache.get({ ...first, etag: '"changed"' }), undefined);
  });

  /** A ListObjectsV2 request for a page after the first. */
  const isListContinuation = (request: string) => {
    const line = request.slice(0, request.indexOf("\r\n"));
    return line.includes("list-type=2") && line.includes("continuation-token=");
  };

  it("accelerated path: the first rows arrive while the listing is still going on", async () => {
    // Every listing page after the first is held at the proxy until the first rows are in.
    let open!: () => void;
    const opened = new Promise<void>((resolve) => { open = resolve; });
    const target = new URL(server.endpoint);
    const proxy = await startLatencyProxy({ host: target.hostname, port: Number(target.port) }, 0, {
      gate: { holds: (request) => isListContinuation(request), opened },
    });
    try {
      const gated = new S3FileSystem({ endpoint: proxy.endpoint, region: "us-east-1", listPageSize: 3 });
      const first = await rd.readParquet("s3://data/flat", { filesystem: gated }).take(2);
      assert.equal(first.length, 2);
    } finally {
      open();
      await proxy.close();
    }
  });

  it("retries requests whose connection was reset", async () => {
    const target = new URL(server.endpoint);
    const proxy = await startLatencyProxy({ host: target.hostname, port: Number(target.port) }, 0, { resetConnections: 3 });
    try {
      const flaky = new S3FileSystem({ endpoint: proxy.endpoint, region: "us-east-1" });
      assert.deepEqual([...(await flaky.readRange("s3://data/bytes.bin", 10, 13))], [10, 11, 12]);
    } finally {
      await proxy.close();
    }
  });

  describe("bad input fails with a clear error naming the path", () => {
    it("missing bucket", async () => {
      await assert.rejects(rd.readParquet("s3://nosuchbucket/x", { filesystem: s3 }).takeAll(), /^IoError: s3:\/\/nosuchbucket\/x: cannot access: no such bucket "nosuchbucket"$/);
    });
    it("missing key or prefix", async () => {
      await assert.rejects(rd.readParquet("s3://data/nothing/here.parquet", { filesystem: s3 }).takeAll(), /no such file or directory: s3:\/\/data\/nothing\/here\.parquet/);
    });
    it("a prefix with no data files", async () => {
      await assert.rejects(rd.readParquet("s3://data/hive/year=2020", { filesystem: s3, fileExtensions: ["csv"] }).takeAll(), /no files found in s3:\/\/data\/hive\/year=2020/);
    });
    it("access denied", async () => {
      const stranger = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1", credentials: { accessKeyId: "STRANGER", secretAccessKey: "x" }, maxAttempts: 1 });
      await assert.rejects(rd.readParquet("s3://data/flat", { filesystem: stranger }).takeAll(), /s3:\/\/data\/flat.*(access denied|InvalidAccessKeyId)/);
    });
    it("a non-Parquet object among Parquet files", async () => {
      await rd.range(10, { overrideNumBlocks: 2 }).writeParquet("s3://data/mixed", { filesystem: s3 }).run();
      await s3.write("s3://data/mixed/zz-bad.parquet", [new TextEncoder().encode("id,name\n1,a\n")]);
      await assert.rejects(rd.readParquet("s3://data/mixed", { filesystem: s3 }).takeAll(), /s3:\/\/data\/mixed\/zz-bad\.parquet: not a valid Parquet file/);
      await assert.rejects(rd.readParquet("s3://data/mixed", { filesystem: s3, overrideNumBlocks: 1 }).takeAll(), /s3:\/\/data\/mixed\/zz-bad\.parquet: not a valid Parquet file/);
    });
  });
});
