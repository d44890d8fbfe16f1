// rd.readSql and ds.writeSql against a real SQLite file (better-sqlite3) and a real PostgreSQL server
// (Debian's postgresql, started by the test on a unix socket), run from pipeline files in worker threads:
// 100k typed rows round-trip, a sharded read reads every row once, and a failing insert names its block
// and row and leaves none of that block's rows behind.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { DataType } from "apache-arrow";
import { loadPipeline } from "../server/src/loader";
import { assertExactlyOnce, copySamples, runCli, tempDir, writePipeline } from "./helpers";
import { startPostgres, type PostgresServer } from "./postgres-server";

const ROWS = 100_000;
/** Beyond 2^53: exact only as bigint. */
const BIG = 9_007_199_254_740_993n;

interface SqliteDb {
  prepare(sql: string): { get(...params: unknown[]): Record<string, unknown>; run(...params: unknown[]): unknown };
  exec(sql: string): void;
  transaction(fn: () => void): () => void;
  close(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require("better-sqlite3") as new (file: string) => SqliteDb;
interface PgClient { connect(): Promise<void>; query(sql: string): Promise<{ rows: Record<string, unknown>[] }>; end(): Promise<void> }
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pg = require("pg") as { Client: new (config: object) => PgClient };

/** Each of `workers` threads opens files 0…files-1 of raceDir through sqliteFactory, all threads together per file. */
const WAL_RACER = `
require("tsx/cjs");
const { workerData, parentPort } = require("node:worker_threads");
const { sqliteFactory } = require(${JSON.stringify(path.join(__dirname, "../server/src/io/sql/sqlite.ts"))});
const { raceDir, files, workers } = workerData;
const barrier = new Int32Array(workerData.barrier);
const failures = [];
for (let f = 0; f < files; f++) {
  const generation = Atomics.load(barrier, 1);
  if (Atomics.add(barrier, 0, 1) === workers - 1) { Atomics.store(barrier, 0, 0); Atomics.add(barrier, 1, 1); Atomics.notify(barrier, 1); }
  else Atomics.wait(barrier, 1, generation);
  try { sqliteFactory(raceDir + "/" + f + ".db", { wal: true })().close(); } catch (error) { failures.push(f + ": " + error.message); }
}
parentPort.postMessage(failures);`;

/** Runs a pipeline file's plan in worker threads; the file gets `rdpipe` as rd. */
async function run(dir: string, name: string, body: string) {
  const file = writePipeline(dir, name, `import * as rd from "rdpipe";\n${body}\n`);
  return (await loadPipeline(file)).run();
}

async function rows(dir: string, name: string, body: string) {
  const file = writePipeline(dir, name, `import * as rd from "rdpipe";\n${body}\n`);
  const ds = await loadPipeline(file);
  const table = await ds.toArrow();
  return { table, rows: table.toArray().map((r) => r.toJSON() as Record<string, unknown>), result: ds.lastRun()! };
}

/** readSql of every row of src, sharded in 4, into writeSql; logs its time and checks every row was written. */
async function roundTrip(dir: string, name: string, factory: string, insert: string) {
  const started = Date.now();
  const result = await run(dir, `${name}-roundtrip.rdpipe.ts`, `export default rd.readSql("SELECT * FROM src;", ${factory}, { shardKeys: ["id"], parallelism: 4 })
  .writeSql(${JSON.stringify(insert)}, ${factory});`);
  console.log(`      ${name} round trip of ${ROWS} rows: ${Date.now() - started} ms, ${result.written.length} blocks`);
  assert.equal(result.written.reduce((n, w) => n + w.rows, 0), ROWS);
  assert.ok(result.written.every((w) => w.path.startsWith("dst (")), JSON.stringify(result.written[0]));
}

/** The block of ids [2500, 5000) fails at id 3000, which the table holds already. */
const FAILING_WRITE = (factory: string, insert: string) => `export default rd.range(10_000, { overrideNumBlocks: 4 })
  .map((row) => ({ id: row.id, v: "v" + row.id }))
  .writeSql(${JSON.stringify(insert)}, ${factory});`;

describe("SQL: readSql and writeSql", function () {
  this.timeout(300_000);
  let dir: string;
  before(() => { dir = tempDir("rdpipe-sql-"); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("on an SQLite file", () => {
    let file: string;
    let factory: string;
    before(() => {
      file = path.join(dir, "data.db");
      factory = `rd.sqlite(${JSON.stringify(file)}, { wal: true })`;
      const db = new Database(file);
      for (const table of ["src", "dst"]) db.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, big INTEGER, f REAL, s TEXT, b BOOLEAN, n INTEGER, bytes BLOB)`);
      db.exec("CREATE TABLE failing (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO failing VALUES (3000, 'existing')");
      const insert = db.prepare("INSERT INTO src VALUES (?, ?, ?, ?, ?, ?, ?)");
      db.transaction(() => {
        for (let i = 0; i < ROWS; i++) {
          insert.run(i, BIG + BigInt(i), i % 11 === 0 ? null : i / 7, `row ${i} ü ✓`, i % 3 === 0 ? 1 : 0, i % 5 === 0 ? null : i, Buffer.from([i & 255, 7]));
        }
      })();
      db.close();
    });

    it("round-trips 100k typed rows: a sharded readSql into writeSql on the same file", async () => {
      await roundTrip(dir, "sqlite", factory, "INSERT INTO dst VALUES (?, ?, ?, ?, ?, ?, ?)");
      const db = new Database(file);
      try {
        assert.equal(db.prepare("SELECT count(*) AS n FROM dst").get().n, ROWS);
        // Equal values of equal storage classes: bigints exact, REAL stays REAL, NULL stays NULL.
        const differ = "SELECT count(*) AS n FROM (SELECT * FROM src EXCEPT SELECT * FROM dst)";
        assert.equal(db.prepare(differ).get().n, 0);
        const types = (table: string) => db.prepare(`SELECT group_concat(t, ',') AS t FROM (SELECT DISTINCT typeof(id) || typeof(big) || typeof(f) || typeof(s) || typeof(b) || typeof(n) || typeof(bytes) AS t FROM ${table} ORDER BY t)`).get().t;
        assert.equal(types("dst"), types("src"));
      } finally {
        db.close();
      }
    });

    it("reads typed columns: ints, bigints beyond 2^53, floats, text, booleans, bytes, and nulls as null", async () => {
      const { table, rows: got } = await rows(dir, "sqlite-types.rdpipe.ts",
        `export default rd.readSql("SELECT * FROM src WHERE id < 12 ORDER BY id", ${factory});`);
      const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
      assert.deepEqual(types, { id: "Int64", big: "Int64", f: "Float64", s: "Utf8", b: "Bool", n: "Int64", bytes: "Binary" });
      assert.ok(DataType.isInt(table.schema.fields[0].type));
      assert.equal(got.length, 12);
      assert.equal(got[5].big, BIG + 5n);
      assert.equal(got[7].f, 1);
      assert.equal(got[0].f, null);
      assert.equal(got[3].s, "row 3 ü ✓");
      assert.equal(got[3].b, true);
      assert.equal(got[4].b, false);
      assert.equal(got[5].n, null);
      assert.equal(got[6].n, 6n);
      assert.deepEqual([...(got[9].bytes as Uint8Array)], [9, 7]);
    });

    it("a sharded read reads every row once, one task per shard, also on a text key", async () => {
      const { rows: got, result } = await rows(dir, "sqlite-shards.rdpipe.ts",
        `export default rd.readSql("SELECT id, s FROM src", ${factory}, { shardKeys: ["s"], parallelism: 5 });`);
      assertExactlyOnce(got.map((r) => Number(r.id)), Array.from({ length: ROWS }, (_, i) => i));
      const read = result.progress.operators[0];
      assert.equal(read.name, "ReadSql");
      assert.equal(read.tasksDone, 5);
    });

    it("a failing insert names its block and row, and none of that block's rows stay committed", async () => {
      await assert.rejects(run(dir, "sqlite-failing.rdpipe.ts", FAILING_WRITE(factory, "INSERT INTO failing VALUES (?, ?)")),
        /WriteSql: writing block 0 of write task \d+ failed: .*row 500 of the block \{"id":3000,"v":"v3000"\} failed: .*UNIQUE constraint failed: failing\.id; the block's transaction was rolled back, so none of its 2500 rows were written/);
      const db = new Database(file);
      try {
        assert.equal(db.prepare("SELECT count(*) AS n FROM failing WHERE id >= 2500 AND id < 5000").get().n, 1);
        assert.equal(db.prepare("SELECT v FROM failing WHERE id = 3000").get().v, "existing");
      } finally {
        db.close();
      }
    });

    it("four workers opening one new file with { wal: true } at the same instant all get a connection (300 files)", async () => {
      // The race of the sample job's red CI run: SQLite answers a losing WAL switch with "database is locked"
      // at once, without waiting for the lock (50-75 of 2,000 connections failed before the factory retried).
      const raceDir = path.join(dir, "wal-race");
      fs.mkdirSync(raceDir);
      const barrier = new SharedArrayBuffer(8);
      const failures = await Promise.all(Array.from({ length: 4 }, () => new Promise<string[]>((resolve, reject) => {
        const worker = new Worker(WAL_RACER, { eval: true, workerData: { barrier, raceDir, files: 300, workers: 4 } });
        worker.once("message", resolve).once("error", reject);
      })));
      assert.deepEqual(failures.flat(), []);
      assert.equal(fs.readdirSync(raceDir).filter((name) => name.endsWith(".db")).length, 300);
    });
  });

  it("runs the samples: make-sqlite writes orders with a factory that creates the table, sql-report totals the unpaid ones per customer", () => {
    const samples = copySamples();
    try {
      const made = runCli(["run", path.join(samples, "make-sqlite.rdpipe.ts"), "--quiet"]);
      assert.equal(made.code, 0, made.stderr);
      const report = runCli(["run", path.join(samples, "sql-report.rdpipe.ts"), "--preview", "200", "--workers", "2"]);
      assert.equal(report.code, 0, report.stderr);
      assert.match(report.stderr, /Operator 0 ReadSql(->Aggregate\(by customer\)\(map\))?: 4 tasks/);
      const totals = new Map(report.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => {
        const [, customer, sum] = /customer: "([^"]+)", sum\(amount\): ([\d.]+)/.exec(line)!;
        return [customer, Number(sum)];
      }));
      const expected = new Map<string, number>();
      for (let id = 0; id < 10_000; id += 3) expected.set(`customer-${id % 97}`, (expected.get(`customer-${id % 97}`) ?? 0) + ((id * 37) % 10_000) / 100);
      assert.equal(totals.size, 97);
      for (const [customer, sum] of expected) assert.ok(Math.abs(totals.get(customer)! - sum) < 1e-6, `${customer}: ${totals.get(customer)} ≠ ${sum}`);
    } finally {
      fs.rmSync(samples, { recursive: true, force: true });
    }
  });

  describe("on a PostgreSQL server", () => {
    let server: PostgresServer;
    let client: PgClient;
    let factory: string;
    before(async () => {
      server = await startPostgres();
      factory = `rd.postgres(${JSON.stringify(server.config)})`;
      client = new pg.Client(server.config);
      await client.connect();
      for (const table of ["src", "dst"]) {
        await client.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, big bigint, f double precision, s text, b boolean, n integer, bytes bytea, num numeric)`);
      }
      await client.query(`INSERT INTO src SELECT i, ${BIG} + i, CASE WHEN i % 11 = 0 THEN NULL ELSE i / 7.0 END, 'row ' || i || ' ü ✓', i % 3 = 0,
        CASE WHEN i % 5 = 0 THEN NULL ELSE i END, decode(lpad(to_hex(i % 256), 2, '0') || '07', 'hex'), i * 1000000000000 + 0.125
        FROM generate_series(0, ${ROWS - 1}) AS i`);
      await client.query("CREATE TABLE failing (id bigint PRIMARY KEY, v text); INSERT INTO failing VALUES (3000, 'existing')");
    });
    after(async () => {
      await client?.end();
      await server?.stop();
    });

    it("round-trips 100k typed rows: a sharded readSql into writeSql", async () => {
      await roundTrip(dir, "postgres", factory, "INSERT INTO dst VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
      const digest = async (table: string) => (await client.query(`SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY id)) AS h FROM ${table} t`)).rows[0];
      const [src, dst] = [await digest("src"), await digest("dst")];
      assert.equal(dst.n, String(ROWS));
      assert.equal(dst.h, src.h);
    });

    it("reads typed columns: int8 beyond 2^53 as bigint, numeric as exact text, booleans, bytes, nulls as null", async () => {
      const { table, rows: got } = await rows(dir, "pg-types.rdpipe.ts", `export default rd.readSql("SELECT * FROM src WHERE id < 12 ORDER BY id", ${factory});`);
      const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
      assert.deepEqual(types, { id: "Int64", big: "Int64", f: "Float64", s: "Utf8", b: "Bool", n: "Int64", bytes: "Binary", num: "Utf8" });
      assert.equal(got[5].big, BIG + 5n);
      assert.equal(got[7].f, 1);
      assert.equal(got[0].f, null);
      assert.equal(got[3].s, "row 3 ü ✓");
      assert.equal(got[3].b, true);
      assert.equal(got[5].n, null);
      assert.equal(got[11].num, "11000000000000.125");
      assert.deepEqual([...(got[9].bytes as Uint8Array)], [9, 7]);
    });

    it("a sharded read reads every row once, one task per shard", async () => {
      const { rows: got, result } = await rows(dir, "pg-shards.rdpipe.ts",
        `export default rd.readSql("SELECT id FROM src", ${factory}, { shardKeys: ["id"], parallelism: 3 });`);
      assertExactlyOnce(got.map((r) => Number(r.id)), Array.from({ length: ROWS }, (_, i) => i));
      assert.equal(result.progress.operators[0].tasksDone, 3);
    });

    it("a failing insert (a constraint violation) names its block and row, and none of that block's rows stay committed", async () => {
      await assert.rejects(run(dir, "pg-failing.rdpipe.ts", FAILING_WRITE(factory, "INSERT INTO failing VALUES ($1, $2)")),
        /WriteSql: writing block 0 of write task \d+ failed: .*row 500 of the block \{"id":3000,"v":"v3000"\} failed: .*duplicate key value violates unique constraint "failing_pkey"; the block's transaction was rolled back, so none of its 2500 rows were written/);
      assert.deepEqual((await client.query("SELECT id, v FROM failing WHERE id >= 2500 AND id < 5000")).rows, [{ id: "3000", v: "existing" }]);
    });
  });
});
