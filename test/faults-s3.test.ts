// S3 under a bad network: checkpointed jobs (the CLI, in child processes) write through a proxy that
// truncates uploads and cuts connections at seeded random points, and are run again until done. No
// cut-off object may ever be visible under a final name, a run fails only with an error naming the
// s3:// path, and the output ends up exactly-once. And a job that ends while one of its uploads is
// still crawling through a slow link must not release its checkpoint before that upload can no longer land.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { blockFromRows } from "../server/src/block";
import { readFileBlocks, S3FileSystem, writeBlock } from "../server/src/io";
import { REPO, assertExactlyOnce, outputIds, tempDir, writePipeline } from "./helpers";
import { startFaultProxy, type FaultProxy } from "./s3-fault-proxy";
import { startS3Server, type S3Server } from "./s3server";

const FILES = 8;
const ROWS_PER_FILE = 250;

/** Rows carry 2 KB that do not compress, so each output file is large enough to be cut mid-body. */
const PIPELINE = `
import * as rd from "rdpipe";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";

const context = rd.DataContext.getCurrent();
context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: process.env.CKPT!, deleteCheckpointOnSuccess: false });
context.resourceLimits = { cpu: 2 };

function pad(row: rd.Row) {
  if (row.id === Number(process.env.FAIL_ID)) {
    // Fails once the test says so (at most 30 s on), so that it fails while another task is at a known point.
    const until = Date.now() + 30_000;
    while (process.env.FAIL_WHEN && !existsSync(process.env.FAIL_WHEN) && Date.now() < until);
    throw new Error("bad row " + row.id);
  }
  let text = "";
  for (let i = 0; text.length < 2000; i++) text += createHash("sha256").update(row.id + ":" + i).digest("base64");
  return { id: row.id, pad: text };
}

export default rd.readParquet(process.env.INPUT!).map(pad).writeParquet(process.env.OUTPUT!);
`;

interface Run { code: number | null; stderr: string; endedAt: number }

function runJob(pipeline: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO, "bin/rdpipe.js"), "run", pipeline, "--quiet"], {
      env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    child.on("exit", (code) => resolve({ code, stderr, endedAt: Date.now() }));
  });
}

/** Every object under the prefix, by key, with its size. */
async function objects(s3: S3FileSystem, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if ((await s3.stat(prefix)) === null) return out;
  for await (const page of s3.listDirectory(prefix)) for (const f of page.files) out.set(f.path, f.size);
  return out;
}

/** The .parquet objects under the prefixes that no Parquet reader can read whole. */
async function damagedParquet(s3: S3FileSystem, prefixes: string[]): Promise<string[]> {
  const damaged: string[] = [];
  for (const prefix of prefixes) {
    for (const [file, size] of await objects(s3, prefix)) {
      if (!file.endsWith(".parquet")) continue;
      try {
        const blocks = readFileBlocks({ format: "parquet", files: [{ path: file, size }], options: { targetBlockBytes: 1 << 30, filesystem: s3.description } });
        for await (const _ of blocks) { /* read every row group */ }
      } catch (e) {
        damaged.push(`${file} (${size} bytes): ${(e as Error).message}`);
      }
    }
  }
  return damaged;
}

describe("S3 faults: cut connections and truncated uploads, resumed until done", function () {
  this.timeout(240_000);
  let server: S3Server;
  let s3: S3FileSystem;
  let pipeline: string;
  const input = "s3://faults/input";
  const ids = Array.from({ length: FILES * ROWS_PER_FILE }, (_, i) => i);

  before(async () => {
    server = await startS3Server(["faults"]);
    s3 = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1" });
    pipeline = writePipeline(tempDir(), "faults.rdpipe.ts", PIPELINE);
    for (let f = 0; f < FILES; f++) {
      const rows = Array.from({ length: ROWS_PER_FILE }, (_, i) => ({ id: f * ROWS_PER_FILE + i }));
      await writeBlock("parquet", blockFromRows(rows), input, `part-${f}.parquet`, { filesystem: s3.description });
    }
  });
  after(async () => {
    await server?.stop();
  });

  async function withProxy<T>(seed: number, rate: number, body: (proxy: FaultProxy) => Promise<T>): Promise<T> {
    const target = new URL(server.endpoint);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) }, { seed, rate });
    try {
      return await body(proxy);
    } finally {
      await proxy.close();
    }
  }

  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: every run fails naming the s3:// path or succeeds, no cut-off object is visible, output exactly-once`, async () => {
      const run = `run-${seed}-${Date.now()}`;
      const output = `s3://faults/${run}/output`;
      const checkpoint = `s3://faults/${run}/checkpoint`;
      await withProxy(seed, 0.3, async (proxy) => {
        // Faults hit writes (PUT parts, POST create and complete), with two attempts per request (the SDK's
        // own retries), so that faults reach the engine and jobs still get far enough to upload much.
        proxy.options.only = /^(PUT|POST) /;
        const env = { INPUT: input, OUTPUT: output, CKPT: checkpoint, AWS_ENDPOINT_URL_S3: proxy.endpoint, AWS_REGION: "us-east-1", AWS_MAX_ATTEMPTS: "2" };
        const rates = [0.3, 0.3, 0.2, 0.1, 0.05, 0];
        let failed = 0;
        let result: Run | undefined;
        for (const [i, rate] of rates.entries()) {
          proxy.options.rate = rate;
          // The first run gets no SDK retry, so that faults surely reach the engine (which requests the seed
          // breaks depends on their order, and two attempts each can absorb every fault of a run).
          result = await runJob(pipeline, i === 0 ? { ...env, AWS_MAX_ATTEMPTS: "1" } : env);
          assert.deepEqual(await damagedParquet(s3, [output, checkpoint]), [], `cut-off objects after a run at fault rate ${rate}`);
          if (result.code === 0) break;
          failed++;
          assert.match(result.stderr, /s3:\/\/faults\//, `a failed run must name the s3:// path: ${result.stderr}`);
        }
        assert.equal(result!.code, 0, result!.stderr);
        // Faults got past the SDK's retries into the engine, and uploads were among the requests cut.
        assert.ok(failed >= 1, `no run failed: ${JSON.stringify(proxy.stats)}`);
        assert.ok(proxy.stats.truncated >= 3, `only ${proxy.stats.truncated} uploads were truncated`);
      });
      assertExactlyOnce(await outputIds(output, "id", s3.description), ids);
    });
  }

  it("a resume that cannot read the commit records fails naming one and uncommits nothing; a later resume writes each ID once", async () => {
    const run = `unreadable-${Date.now()}`;
    const output = `s3://faults/${run}/output`;
    const checkpoint = `s3://faults/${run}/checkpoint`;
    const env = { INPUT: input, OUTPUT: output, CKPT: checkpoint, AWS_REGION: "us-east-1", AWS_MAX_ATTEMPTS: "1" };
    // The first run commits every file but the one holding the bad row.
    const first = await runJob(pipeline, { ...env, AWS_ENDPOINT_URL_S3: server.endpoint, FAIL_ID: String(ROWS_PER_FILE * (FILES - 1)) });
    assert.notEqual(first.code, 0);
    const committedBefore = await objects(s3, `${checkpoint}/committed`);
    const outputBefore = await objects(s3, output);
    assert.ok(committedBefore.size >= 1 && outputBefore.size === committedBefore.size, `${committedBefore.size} records, ${outputBefore.size} outputs`);
    // As after a crash between the commits and the done records: a resume must load every record.
    await s3.deleteFiles([...(await objects(s3, `${checkpoint}/done`)).keys()]);
    await withProxy(7, 1, async (proxy) => {
      proxy.options.only = /^GET \S*committed\S*\.ids\.parquet/;
      const blind = await runJob(pipeline, { ...env, AWS_ENDPOINT_URL_S3: proxy.endpoint });
      assert.notEqual(blind.code, 0);
      assert.match(blind.stderr, /cannot read the commit record/, blind.stderr);
      assert.ok(proxy.stats.cutAnswers >= 1, JSON.stringify(proxy.stats));
    });
    // An unreadable record is not a damaged one: nothing committed was removed.
    assert.deepEqual([...(await objects(s3, `${checkpoint}/committed`)).keys()].sort(), [...committedBefore.keys()].sort());
    assert.deepEqual([...(await objects(s3, output)).keys()].sort(), [...outputBefore.keys()].sort());
    const last = await runJob(pipeline, { ...env, AWS_ENDPOINT_URL_S3: server.endpoint });
    assert.equal(last.code, 0, last.stderr);
    assertExactlyOnce(await outputIds(output, "id", s3.description), ids);
  });

  it("an upload cut short on every attempt fails naming the s3:// path and leaves no object", async () => {
    await withProxy(4, 1, async (proxy) => {
      proxy.options.only = /^PUT /;
      proxy.options.truncateShare = 1;
      const flaky = new S3FileSystem({ endpoint: proxy.endpoint, region: "us-east-1", maxAttempts: 3 });
      const body = Buffer.alloc(3 << 20, 7);
      await assert.rejects(flaky.write("s3://faults/cut/whole.bin", [body]), /s3:\/\/faults\/cut\/whole\.bin/);
      assert.ok(proxy.stats.truncated >= 3, JSON.stringify(proxy.stats));
      assert.deepEqual([...(await objects(s3, "s3://faults/cut"))], [], "a cut-off upload is visible");
      // Healthy again: the same write lands whole and is read back as sent.
      proxy.options.rate = 0;
      assert.equal(await flaky.write("s3://faults/cut/whole.bin", [body]), body.length);
      assert.deepEqual(Buffer.from(await s3.readAll("s3://faults/cut/whole.bin")).equals(body), true);
    });
  });

  it("a part whose bytes changed on the way is caught by its ETag: the write fails naming the s3:// path and no object appears", async () => {
    await withProxy(6, 0, async (proxy) => {
      proxy.options.corrupt = /^PUT /;
      const flaky = new S3FileSystem({ endpoint: proxy.endpoint, region: "us-east-1" });
      await assert.rejects(flaky.write("s3://faults/flip/part.bin", [Buffer.alloc(1 << 20, 7)]), /s3:\/\/faults\/flip\/part\.bin: .*not the MD5/);
      assert.ok(proxy.stats.corrupted >= 1);
      assert.deepEqual([...(await objects(s3, "s3://faults/flip"))], [], "a corrupted upload is visible");
    });
  });

  it("a job that fails while another task's upload is stalled on the network ends only once that upload can no longer land", async () => {
    const run = `stall-${Date.now()}`;
    const output = `s3://faults/${run}/output`;
    const checkpoint = `s3://faults/${run}/checkpoint`;
    const marker = path.join(tempDir(), "fail-now");
    const target = new URL(server.endpoint);
    // The first upload into the output folder is held at the proxy; once it is, row 0's task fails the job.
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) }, {
      seed: 5, rate: 0, hold: new RegExp(`^PUT /faults/${run}/output/`), onHold: () => fs.writeFileSync(marker, ""),
    });
    try {
      const result = await runJob(pipeline, {
        INPUT: input, OUTPUT: output, CKPT: checkpoint, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL_S3: proxy.endpoint,
        FAIL_ID: "0", FAIL_WHEN: marker,
      });
      assert.match(result.stderr, /bad row 0/);
      assert.notEqual(result.code, 0);
      assert.ok(proxy.stats.held >= 1, "no upload was in flight when the job failed");
      const atEnd = await objects(s3, `s3://faults/${run}`);
      assert.equal([...atEnd.keys()].some((key) => key.endsWith("lease.json")), false, "the lease is released when the job ends");
      // The stalled request reaches the server now, after the job ended and gave up its checkpoint.
      proxy.release();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const later = await objects(s3, `s3://faults/${run}`);
      assert.deepEqual([...later.keys()].sort(), [...atEnd.keys()].sort(), "an object appeared after the job had ended and released its checkpoint");
    } finally {
      await proxy.close();
    }
  });
});
