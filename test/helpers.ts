import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { DataContext } from "../server/src/api";
import { Cluster } from "../server/src/cluster";
import { listFiles, readFileBlocks, type FileSystemDescription } from "../server/src/io";
import { DuckDBInstance, type DuckDBConnection, type Json } from "@duckdb/node-api";

export const REPO = path.resolve(__dirname, "..");

/** Tests keep their metadata cache to themselves (worker threads inherit this). */
process.env.RDPIPE_CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "rdpipe-test-cache-"));

/** A fresh temporary folder, removed after the suite. */
/** A copy of samples/ without generated data or output, for a test to run the samples in. */
export function copySamples(): string {
  const dir = tempDir("rdpipe-samples-");
  fs.cpSync(path.join(REPO, "samples"), dir, { recursive: true, filter: (file) => !/[\\/](data|out)$/.test(file) });
  return dir;
}

export function tempDir(prefix = "rdpipe-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes a pipeline file importing `rdpipe` and returns its path. */
export function writePipeline(dir: string, name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

export function runCli(args: string[], options: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}) {
  const result = spawnSync(process.execPath, [path.join(REPO, "bin", "rdpipe.js"), ...args], {
    cwd: options.cwd ?? REPO, encoding: "utf8", timeout: options.timeoutMs ?? 120_000, env: { ...process.env, ...options.env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** rdpipe as a child process that this one's proxy can serve while it runs (runCli would block it). */
export function runCliAsync(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO, "bin", "rdpipe.js"), ...args], { cwd: REPO, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => { stdout += d; });
    child.stderr.on("data", (d: Buffer) => { stderr += d; });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export function listFilesRecursive(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Asserts that actual holds each expected ID exactly once (no duplicates, nothing missing, nothing extra). */
export function assertExactlyOnce(actual: number[], expected: number[]): void {
  const sorted = [...actual].sort((a, b) => a - b);
  const duplicates = sorted.filter((id, i) => i > 0 && sorted[i - 1] === id);
  assert.deepEqual(duplicates.slice(0, 10), [], `duplicated ids (${duplicates.length})`);
  const present = new Set(sorted);
  const missing = expected.filter((id) => !present.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `missing ids (${missing.length})`);
  assert.equal(sorted.length, expected.length);
}


/** The values of an integer ID column in every Parquet file under dir (local or s3://), in no order; none when dir is absent. */
export async function outputIds(dir: string, column = "id", filesystem?: FileSystemDescription): Promise<number[]> {
  const files = await listFiles(dir, { fileExtensions: ["parquet"], filesystem }).catch(() => []);
  const ids: number[] = [];
  for await (const { block } of readFileBlocks({ format: "parquet", files, options: { targetBlockBytes: 1 << 30, filesystem } })) {
    for (const id of block.getChild(column)!.toArray() as Iterable<number | bigint>) ids.push(Number(id));
  }
  return ids;
}

/**
 * Mocha hooks for a suite whose tests each run on a fresh cluster of two nodes (one CPU each) with a
 * memory budget of `memoryBytes` and a spill folder of their own, which must be empty after the test.
 */
export function onTwoNodes(memoryBytes: number): { cluster(): Cluster } {
  let cluster: Cluster | undefined;
  let spill: string;
  beforeEach(() => {
    const context = DataContext.reset();
    context.resourceLimits.memoryBytes = memoryBytes;
    context.progress.intervalMs = 50;
    spill = tempDir("rdpipe-spill-nodes-");
    context.spillDir = spill;
    cluster = new Cluster({ maxNodes: 2, cpusPerNode: 1 });
    context.cluster = cluster;
  });
  // Both nodes up before the job, so that its tasks spread over them (partitions then move node to node).
  beforeEach(async function () {
    this.timeout(60_000);
    await cluster!.start();
    cluster!.launch(2);
    while (cluster!.nodes().length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
  });
  afterEach(async () => {
    await cluster?.shutdown();
    cluster = undefined;
    DataContext.reset();
    assert.deepEqual(fs.readdirSync(spill), [], "spill files left behind");
    fs.rmSync(spill, { recursive: true, force: true });
  });
  return { cluster: () => cluster! };
}

/** An in-memory DuckDB for checking output files: rows of a query as JSON values, and how many rows two queries do not share. */
export class DuckCheck {
  private constructor(private readonly instance: DuckDBInstance, readonly conn: DuckDBConnection) {}

  static async open(): Promise<DuckCheck> {
    const instance = await DuckDBInstance.create(":memory:");
    return new DuckCheck(instance, await instance.connect());
  }

  async rows(sql: string): Promise<Record<string, Json>[]> {
    return (await this.conn.runAndReadAll(sql)).getRowObjectsJson();
  }

  /** Rows in one relation and not the other, both ways (0 when they hold the same rows). */
  async difference(a: string, b: string): Promise<number> {
    return Number((await this.rows(`SELECT (SELECT count(*) FROM (${a} EXCEPT ALL ${b})) + (SELECT count(*) FROM (${b} EXCEPT ALL ${a})) AS d`))[0].d);
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
