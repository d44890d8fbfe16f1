// The all-to-all bench: sort, groupBy + aggregate, mapGroups (a UDF reading two of the four columns,
// and one reading all of them), and inner and left-outer joins with a many-to-many dimension table, over 8M rows (16 Parquet files) under a 256 MB budget with 2 workers,
// and the sort again on two nodes of one CPU each (`sortNodes`, also printing the bytes moved between
// them), each run as `rdpipe run` in its own process group; against DuckDB on 2 threads with the same memory
// limit in the same run. Every result is checked against DuckDB's.
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import type { DuckDBConnection } from "@duckdb/node-api";
import { withDuck } from "./duck";
import type { S3BenchReport as BenchReport } from "./s3";

const ROOT = path.dirname(__dirname);
const PIPELINE = path.join(__dirname, "shuffle.rdpipe.ts");
const FILES = 16;
const ROWS_PER_FILE = 500_000;
const GROUPS = 500_000;
const DIM_ROWS = 400_000;
const MiB = 2 ** 20;
const RSS_TARGET = 768 * MiB;

const sql = (p: string) => `'${p.replace(/'/g, "''")}'`;
const fmtS = (s: number) => `${s.toFixed(2)}s`;
const fmtMiB = (b: number) => `${(b / MiB).toFixed(0)} MiB`;

/**
 * dir/facts/part-NN.parquet: id BIGINT, key BIGINT (500k distinct, 16 rows each), v DOUBLE, s a 16-char
 * string; dir/dim.parquet: 400k rows whose 200k keys (the even keys below 400k) each appear twice.
 */
async function ensureData(dir: string): Promise<{ facts: string; dim: string; generated: boolean }> {
  const facts = path.join(dir, "facts"), dim = path.join(dir, "dim.parquet");
  const spec = `v1 files=${FILES} rows=${ROWS_PER_FILE} groups=${GROUPS} dim=${DIM_ROWS}`;
  const marker = `${dir}.SPEC`;
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === spec) return { facts, dim, generated: false };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(facts, { recursive: true });
  await withDuck(async (conn) => {
    for (let f = 0; f < FILES; f++) {
      const base = f * ROWS_PER_FILE;
      // 2654435761 is prime to 500000: each run of 500k consecutive ids covers every key once.
      await conn.run(`COPY (SELECT (${base} + i)::BIGINT AS id, ((${base} + i) * 2654435761 % ${GROUPS})::BIGINT AS key,
          ((${base} + i) * 7919 % 1000003) / 1000.0 AS v, substr(md5((${base} + i)::VARCHAR), 1, 16) AS s
        FROM range(${ROWS_PER_FILE}) t(i)) TO ${sql(path.join(facts, `part-${String(f).padStart(2, "0")}.parquet`))} (FORMAT parquet, ROW_GROUP_SIZE 100000)`);
    }
    await conn.run(`COPY (SELECT ((i % ${DIM_ROWS / 2}) * 2)::BIGINT AS key, i::BIGINT AS d_id, 'd' || (i % 9973)::VARCHAR AS d_name, (i * 0.5)::DOUBLE AS d_w
      FROM range(${DIM_ROWS}) t(i)) TO ${sql(dim)} (FORMAT parquet)`);
  }, { threads: "2" });
  fs.writeFileSync(marker, spec);
  return { facts, dim, generated: true };
}

interface Job {
  name: string;
  /** DuckDB's query of the same result (its ORDER BY only where the job has an order). */
  query: (facts: string, dim: string) => string;
  /** Checks rdpipe's output folder against DuckDB's; returns what was compared. */
  verify: (conn: DuckDBConnection, ours: string, theirs: string) => Promise<string>;
  /** Run on 2 nodes of 1 CPU each (`--nodes 2 --cpus-per-node 1`) instead of 2 worker threads. */
  nodes?: boolean;
}

const parquetIn = (dir: string) => `read_parquet(${sql(path.join(dir, "*.parquet"))})`;
const factsTable = (facts: string) => `read_parquet(${sql(path.join(facts, "*.parquet"))})`;

async function scalar(conn: DuckDBConnection, query: string): Promise<number> {
  return Number((await conn.runAndReadAll(query)).getRows()[0][0]);
}

/** Both folders hold the same rows (as multisets), column for column in `columns`. */
async function sameRows(conn: DuckDBConnection, ours: string, theirs: string, columns: string): Promise<number> {
  const [a, b] = [await scalar(conn, `SELECT count(*) FROM ${parquetIn(ours)}`), await scalar(conn, `SELECT count(*) FROM ${parquetIn(theirs)}`)];
  if (a !== b) throw new Error(`rdpipe wrote ${a} rows, DuckDB ${b}`);
  for (const [x, y] of [[ours, theirs], [theirs, ours]]) {
    const extra = await scalar(conn, `SELECT count(*) FROM (SELECT ${columns} FROM ${parquetIn(x)} EXCEPT ALL SELECT ${columns} FROM ${parquetIn(y)})`);
    if (extra !== 0) throw new Error(`${extra} rows of ${x === ours ? "rdpipe's" : "DuckDB's"} output are not in the other's`);
  }
  return a;
}

/** Per key, rdpipe's and DuckDB's aggregates agree (sums to 1e-9 relative). */
async function sameGroups(conn: DuckDBConnection, ours: string, theirs: string, pairs: [string, string, "exact" | "float"][]): Promise<number> {
  const differ = pairs.map(([o, t, kind]) => (kind === "exact" ? `o.${o} IS DISTINCT FROM t.${t}` : `abs(o.${o} - t.${t}) > 1e-9 * greatest(1, abs(t.${t}))`)).join(" OR ");
  const bad = await scalar(conn, `SELECT count(*) FROM ${parquetIn(ours)} o FULL JOIN ${parquetIn(theirs)} t ON o.key = t.key
    WHERE o.key IS NULL OR t.key IS NULL OR ${differ}`);
  if (bad !== 0) throw new Error(`${bad} groups differ from DuckDB's`);
  return scalar(conn, `SELECT count(*) FROM ${parquetIn(ours)}`);
}

const sortQuery = (facts: string) => `SELECT id, key, v, s FROM ${factsTable(facts)} ORDER BY key`;

async function sameSortedRows(conn: DuckDBConnection, ours: string, theirs: string): Promise<string> {
  const rows = await sameRows(conn, ours, theirs, "id, key, v, s");
  // The order: files in lexical order, rows in file order, keys never decreasing.
  const disorder = await scalar(conn, `SELECT count(*) FROM (SELECT key, lag(key) OVER (ORDER BY filename, file_row_number) AS prev
    FROM read_parquet(${sql(path.join(ours, "*.parquet"))}, filename = true, file_row_number = true)) WHERE key < prev`);
  if (disorder !== 0) throw new Error(`${disorder} rows come after a row with a greater key (files in name order)`);
  return `${rows.toLocaleString("en-US")} rows, same rows, in key order`;
}

const JOIN_COLUMNS = "id, key, v, s, d_id, d_name, d_w";

const JOBS: Job[] = [
  { name: "sort", query: sortQuery, verify: sameSortedRows },
  { name: "sortNodes", query: sortQuery, verify: sameSortedRows, nodes: true },
  {
    name: "groupBy",
    query: (facts) => `SELECT key, count(*) AS n, sum(v) AS sv FROM ${factsTable(facts)} GROUP BY key`,
    verify: async (conn, ours, theirs) =>
      `${(await sameGroups(conn, ours, theirs, [['"count()"', "n", "exact"], ['"sum(v)"', "sv", "float"]])).toLocaleString("en-US")} groups equal`,
  },
  {
    name: "mapGroups",
    query: (facts) => `SELECT key, count(*) AS n, max(v) AS vmax FROM ${factsTable(facts)} GROUP BY key`,
    verify: async (conn, ours, theirs) =>
      `${(await sameGroups(conn, ours, theirs, [["n", "n", "exact"], ["vmax", "vmax", "exact"]])).toLocaleString("en-US")} groups equal`,
  },
  {
    name: "mapGroupsAllColumns",
    query: (facts) => `SELECT key, count(*) AS n, max(v) AS vmax, max(id) AS idmax, sum(length(s)) AS slen FROM ${factsTable(facts)} GROUP BY key`,
    verify: async (conn, ours, theirs) =>
      `${(await sameGroups(conn, ours, theirs, [["n", "n", "exact"], ["vmax", "vmax", "exact"], ["idmax", "idmax", "exact"], ["slen", "slen", "exact"]])).toLocaleString("en-US")} groups equal`,
  },
  {
    name: "innerJoin",
    query: (facts, dim) => `SELECT f.id, f.key, f.v, f.s, d.d_id, d.d_name, d.d_w FROM ${factsTable(facts)} f JOIN read_parquet(${sql(dim)}) d ON f.key = d.key`,
    verify: async (conn, ours, theirs) => `${(await sameRows(conn, ours, theirs, JOIN_COLUMNS)).toLocaleString("en-US")} rows, same rows`,
  },
  {
    name: "leftOuterJoin",
    query: (facts, dim) => `SELECT f.id, f.key, f.v, f.s, d.d_id, d.d_name, d.d_w FROM ${factsTable(facts)} f LEFT JOIN read_parquet(${sql(dim)}) d ON f.key = d.key`,
    verify: async (conn, ours, theirs) => `${(await sameRows(conn, ours, theirs, JOIN_COLUMNS)).toLocaleString("en-US")} rows, same rows`,
  },
];

/** Resident bytes of every process in a process group, from /proc. */
function groupRss(pgid: number): number {
  let total = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue; // state, ppid, pgrp
      total += Number(fs.readFileSync(`/proc/${entry}/statm`, "utf8").split(" ")[1]) * 4096;
    } catch { /* the process ended */ }
  }
  return total;
}

/**
 * `rdpipe run` of one job in its own process group (its nodes too): wall time and peak RSS of the group
 * (sampled every 0.2 s). On nodes it prints its progress, whose last lines say the bytes moved between them.
 */
function runRdpipe(job: Job, env: Record<string, string>): Promise<{ seconds: number; peakRss: number; output: string }> {
  const where = job.nodes ? ["--nodes", "2", "--cpus-per-node", "1"] : ["--quiet"];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, "bin", "rdpipe.js"), "run", PIPELINE, "--memory", "256MB", "--workers", "2", ...where], {
      cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env, RDPIPE_BENCH_SHUFFLE_JOB: job.name },
    });
    let output = "";
    let peakRss = 0;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, groupRss(child.pid!)); }, 200);
    const killer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 15 * 60 * 1000);
    child.stdout.on("data", (d) => { output += d; });
    child.stderr.on("data", (d) => { output += d; });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(sampler);
      clearTimeout(killer);
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) reject(new Error(`rdpipe run (${job.name}) exited with ${signal ?? code}: ${output.trim().split("\n").slice(-6).join(" | ")}`));
      else resolve({ seconds, peakRss, output });
    });
  });
}

/** What the final progress lines say the map tasks spilled and the reduce tasks moved between nodes. */
function movedBetweenNodes(output: string): string {
  const last = (pattern: RegExp) => [...output.matchAll(pattern)].pop()?.[1] ?? "0 B";
  return `map outputs ${last(/spilled (\S+ \S+)/g)}, moved ${last(/moved (\S+ \S+) between nodes/g)} between nodes`;
}

export async function benchShuffle(dataDir: string, { log, summary, check }: BenchReport): Promise<void> {
  log(`== shuffle: all-to-all operators over ${(FILES * ROWS_PER_FILE).toLocaleString("en-US")} rows in ${FILES} Parquet files, rdpipe run --memory 256MB --workers 2 vs DuckDB (2 threads, memory_limit 256MB) ==`);
  const data = await ensureData(path.join(dataDir, "shuffle"));
  log(data.generated ? `  generated the input with DuckDB in ${data.facts} and ${data.dim}` : `  input: ${data.facts}, ${data.dim} (cached)`);
  const only = process.env.RDPIPE_BENCH_SHUFFLE_JOBS?.split(",");
  let failed = 0;
  for (const job of JOBS.filter((j) => !only || only.includes(j.name))) {
    const ours = path.join(dataDir, "shuffle-out", `${job.name}-rdpipe`), theirs = path.join(dataDir, "shuffle-out", `${job.name}-duckdb`);
    fs.rmSync(theirs, { recursive: true, force: true });
    fs.mkdirSync(theirs, { recursive: true });
    const duckSeconds = await withDuck(async (conn) => {
      const started = performance.now();
      await conn.run(`COPY (${job.query(data.facts, data.dim)}) TO ${sql(path.join(theirs, "data.parquet"))} (FORMAT parquet)`);
      return (performance.now() - started) / 1000;
    }, { threads: "2", memory_limit: "256MB", temp_directory: path.join(dataDir, "shuffle-duck-tmp") });
    try {
      const run = await runRdpipe(job, { RDPIPE_BENCH_SHUFFLE_INPUT: data.facts, RDPIPE_BENCH_SHUFFLE_DIM: data.dim, RDPIPE_BENCH_SHUFFLE_OUT: ours });
      const compared = await withDuck((conn) => job.verify(conn, ours, theirs), { threads: "2" });
      const ratio = run.seconds / duckSeconds;
      const ok = run.peakRss <= RSS_TARGET && ratio <= 10;
      summary(`shuffle ${job.name}: rdpipe ${fmtS(run.seconds)}, peak RSS ${fmtMiB(run.peakRss)} (target <= ${fmtMiB(RSS_TARGET)}); ` +
        `DuckDB ${fmtS(duckSeconds)}; ratio ${ratio.toFixed(1)}x (target <= 10x, aim 3x) ${ok ? "PASS" : "MISS"}; ${compared}${job.nodes ? `; ${movedBetweenNodes(run.output)}` : ""}`);
    } catch (e) {
      failed++;
      summary(`shuffle ${job.name}: FAILED (DuckDB ${fmtS(duckSeconds)}): ${(e as Error).message}`);
    }
  }
  check(failed === 0, `${failed} shuffle job(s) failed or gave results other than DuckDB's`);
}
