import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { loadPipeline } from "../server/src/loader";
import { PlanError } from "../server/src/plan";
import { renderProgress } from "../server/src/cli/progress";
import { tempDir, writePipeline } from "./helpers";

/** Actor counts of one operator over a run, from progress snapshots. */
function actorHistory(snapshots: rd.ProgressSnapshot[], name: RegExp): { running: number; pending: number; restarting: number }[] {
  return snapshots.flatMap((s) => s.operators.filter((o) => name.test(o.name) && o.actors).map((o) => o.actors!));
}

describe("class UDFs in actor pools", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits.cpu = 4;
    rd.DataContext.getCurrent().progress.intervalMs = 20;
  });
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("rejects a class UDF without concurrency, and actor options on a function, at plan time", async () => {
    class Scorer { call(b: rd.Columns) { return b; } }
    await assert.rejects(rd.range(10).mapBatches(Scorer).takeAll(),
      (e: Error) => e instanceof PlanError && /MapBatches\(Scorer\): a class UDF runs in an actor pool and needs \{ concurrency/.test(e.message));
    await assert.rejects(rd.range(10).map(Scorer).takeAll(), /Map\(Scorer\): a class UDF runs in an actor pool/);
    class NoCall { run(b: rd.Columns) { return b; } }
    await assert.rejects(rd.range(10).mapBatches(NoCall as never, { concurrency: 1 }).takeAll(), /MapBatches\(NoCall\): a class UDF needs a call method/);
    await assert.rejects(rd.range(10).mapBatches(Scorer, { concurrency: [3, 2] }).takeAll(), /concurrency must be n, \[min, max\] or \[min, max, initial\] with 1 ≤ min ≤ initial ≤ max, got \[3,2\]/);
    await assert.rejects(rd.range(10).mapBatches((b: rd.Columns) => b, { concurrency: 2 }).takeAll(), /concurrency configure an actor pool, which only a class UDF gets/);
    await assert.rejects(rd.range(10).filter(Scorer as never).takeAll(), /Filter\(Scorer\): a class UDF runs in an actor pool, which map, flatMap and mapBatches offer/);
  });

  it("constructs each actor once, with fnConstructorArgs, and keeps its state across batches", async () => {
    const file = writePipeline(dir, "stateful.rdpipe.ts", `
      import * as rd from "rdpipe";
      const g = globalThis as { constructions?: number };
      class Tagger {
        readonly actor = Math.random();
        calls = 0;
        constructor(readonly tag: string, readonly offset: number) { g.constructions = (g.constructions ?? 0) + 1; }
        call(b: rd.Columns) {
          this.calls++;
          const n = (b.id as BigInt64Array).length;
          return {
            id: b.id, shifted: Float64Array.from(b.id as BigInt64Array, (v) => Number(v) + this.offset),
            tag: new Array(n).fill(this.tag), actor: new Float64Array(n).fill(this.actor),
            call: new Float64Array(n).fill(this.calls), constructions: new Float64Array(n).fill(g.constructions!),
          };
        }
      }
      export default rd.range(2000, { overrideNumBlocks: 4 })
        .mapBatches(Tagger, { concurrency: 2, batchSize: 100, fnConstructorArgs: ["t", 0.5] });`);
    const rows = await (await loadPipeline(file)).takeAll();
    assert.equal(rows.length, 2000);
    assert.deepEqual(rows.map((r) => Number(r.id)).sort((a, b) => a - b), Array.from({ length: 2000 }, (_, i) => i));
    for (const row of rows) {
      assert.equal(row.shifted, Number(row.id) + 0.5);
      assert.equal(row.tag, "t");
      assert.equal(row.constructions, 1);
    }
    const callsByActor = new Map<number, Set<number>>();
    for (const row of rows) callsByActor.set(row.actor as number, (callsByActor.get(row.actor as number) ?? new Set()).add(row.call as number));
    assert.ok(callsByActor.size >= 1 && callsByActor.size <= 2, `${callsByActor.size} actors`);
    // 20 batches of 100 rows: each actor counted its own calls 1, 2, 3, ... without a gap or a reset.
    let totalCalls = 0;
    for (const calls of callsByActor.values()) {
      assert.deepEqual([...calls].sort((a, b) => a - b), Array.from({ length: calls.size }, (_, i) => i + 1));
      totalCalls += calls.size;
    }
    assert.equal(totalCalls, 20);
  });

  it("runs class UDFs in map and flatMap, keeping the rest of the plan fused around the pool", async () => {
    const file = writePipeline(dir, "rows.rdpipe.ts", `
      import * as rd from "rdpipe";
      class AddOffset { constructor(readonly offset: number) {} call(r: rd.Row) { return { id: Number(r.id) + this.offset }; } }
      class Twice { call(r: rd.Row) { return [r, { id: -Number(r.id) }]; } }
      export default rd.range(500, { overrideNumBlocks: 3 })
        .map(AddOffset, { concurrency: 1, fnConstructorArgs: [1000] })
        .flatMap(Twice, { concurrency: [1, 2] })
        .filter((r) => Number(r.id) % 2 === 0);`);
    const ds = await loadPipeline(file);
    const ids = (await ds.takeAll()).map((r) => Number(r.id)).sort((a, b) => a - b);
    const expected = Array.from({ length: 500 }, (_, i) => i + 1000).flatMap((v) => [v, -v]).filter((v) => v % 2 === 0).sort((a, b) => a - b);
    assert.deepEqual(ids, expected);
    assert.match(ds.stats(), /Operator 1 Map\(AddOffset\).*\n.*Operator 2 FlatMap\(Twice\).*\n.*Operator 3 Map->Filter/);
  });

  it("keeps the pool within [min, max], grows it on a backlog and shrinks it when idle", async () => {
    const ctx = rd.DataContext.getCurrent();
    ctx.actorPoolAutoscaler = new rd.BacklogActorPoolAutoscaler(150);
    ctx.progress.intervalMs = 50; // frequent snapshots, so a busy machine cannot hide the peak or the shrink
    // The last read task holds its row 5000 until the test has seen the pool shrink back to one actor
    // (or 30 s): the pool drains its backlog, idles, and shrinks however slow the machine is.
    const shrunk = path.join(dir, "shrunk");
    const file = writePipeline(dir, "scaling.rdpipe.ts", `
      import * as fs from "node:fs";
      import * as rd from "rdpipe";
      const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      class Slow { call(b: rd.Columns) { sleep(20); return b; } }
      const holdUntilShrunk = () => { const until = Date.now() + 30_000; while (!fs.existsSync(${JSON.stringify(shrunk)}) && Date.now() < until) sleep(20); };
      export default rd.range(6000, { overrideNumBlocks: 6 })
        .map((r) => { if (r.id === 5000) holdUntilShrunk(); return r; })
        .mapBatches(Slow, { concurrency: [1, 3], batchSize: 50 });`);
    const snapshots: rd.ProgressSnapshot[] = [];
    const onProgress = (snapshot: rd.ProgressSnapshot) => {
      snapshots.push(snapshot);
      const history = actorHistory(snapshots, /MapBatches\(Slow\)/);
      const peakAt = history.findIndex((a) => a.running === 3);
      if (peakAt >= 0 && history.slice(peakAt).some((a) => a.running === 1 && a.pending === 0)) fs.writeFileSync(shrunk, "");
    };
    const table = await (await loadPipeline(file)).toArrow({ onProgress });
    assert.equal(table.numRows, 6000);
    const history = actorHistory(snapshots, /MapBatches\(Slow\)/);
    const alive = history.map((a) => a.running + a.pending + a.restarting);
    assert.ok(alive.every((n) => n <= 3), `actors alive went above the max: ${alive.join(",")}`);
    const peakAt = history.findIndex((a) => a.running === 3);
    assert.ok(peakAt >= 0, `the pool never grew to 3 running actors: ${history.map((a) => a.running).join(",")}`);
    assert.ok(history.slice(peakAt).some((a) => a.running === 1 && a.pending === 0), `the pool never shrank back to 1: ${history.map((a) => a.running).join(",")}`);
  });

  it("runs many async calls at once per actor, up to maxConcurrency", async () => {
    const file = writePipeline(dir, "async.rdpipe.ts", `
      import * as rd from "rdpipe";
      class Remote {
        inFlight = 0;
        async call(b: rd.Columns) {
          const seen = ++this.inFlight;
          await new Promise((resolve) => setTimeout(resolve, 30));
          this.inFlight--;
          return { id: b.id, seen: new Float64Array((b.id as BigInt64Array).length).fill(seen) };
        }
      }
      export default rd.range(400, { overrideNumBlocks: 1 }).mapBatches(Remote, { concurrency: 1, maxConcurrency: 8, batchSize: 5 });`);
    const snapshots: rd.ProgressSnapshot[] = [];
    const rows = (await (await loadPipeline(file)).toArrow({ onProgress: (s) => snapshots.push(s) })).toArray().map((r) => r.toJSON());
    assert.equal(rows.length, 400);
    const busy = snapshots.find((s) => s.operators.some((o) => o.actors?.running === 1));
    assert.ok(busy, "no progress snapshot showed the running actor");
    assert.match(renderProgress(busy).join("\n"), /MapBatches\(Remote\) .*actors 1 running, 0 pending, 0 restarting/);
    const seen = rows.map((r) => r.seen as number);
    assert.ok(Math.max(...seen) > 1, "calls never overlapped");
    assert.ok(Math.max(...seen) <= 8, `more than maxConcurrency calls in flight: ${Math.max(...seen)}`);
  });

  it("restarts an actor whose thread dies and reruns its calls, without losing or duplicating rows", async () => {
    const marker = path.join(dir, "died-once");
    const file = writePipeline(dir, "dies.rdpipe.ts", `
      import * as rd from "rdpipe";
      import fs from "node:fs";
      class Fragile {
        call(b: rd.Columns) {
          if ((b.id as BigInt64Array)[0] === 500n && !fs.existsSync(${JSON.stringify(marker)})) {
            fs.writeFileSync(${JSON.stringify(marker)}, "x");
            process.exit(3);
          }
          return b;
        }
      }
      export default rd.range(1000, { overrideNumBlocks: 2 }).mapBatches(Fragile, { concurrency: 1, batchSize: 100 });`);
    const snapshots: rd.ProgressSnapshot[] = [];
    const table = await (await loadPipeline(file)).toArrow({ onProgress: (s) => snapshots.push(s) });
    assert.ok(fs.existsSync(marker), "the actor never died");
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as BigInt64Array, Number).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
    assert.ok(actorHistory(snapshots, /Fragile/).some((a) => a.restarting === 1), "progress never showed the actor restarting");
    assert.ok(snapshots[snapshots.length - 1].operators.some((o) => o.tasksRetried >= 1));
  });

  it("retries a constructor that throws, then fails the job with its error", async () => {
    const attempts = path.join(dir, "attempts.txt");
    const file = writePipeline(dir, "broken.rdpipe.ts", `
      import * as rd from "rdpipe";
      import fs from "node:fs";
      class Broken {
        constructor(log: string) { fs.appendFileSync(log, "x"); throw new Error("model file missing"); }
        call(b: rd.Columns) { return b; }
      }
      export default rd.range(100).mapBatches(Broken, { concurrency: 1, fnConstructorArgs: [${JSON.stringify(attempts)}] });`);
    await assert.rejects((await loadPipeline(file)).takeAll(),
      /MapBatches\(Broken\): the actor's constructor failed: Error: model file missing \(the constructor failed 3 times\)/);
    assert.equal(fs.readFileSync(attempts, "utf8"), "xxx");
  });

  it("names the operator and the row when an actor's call throws", async () => {
    const file = writePipeline(dir, "picky.rdpipe.ts", `
      import * as rd from "rdpipe";
      class Picky { call(r: rd.Row) { if (r.id === 7) throw new RangeError("seven"); return r; } }
      export default rd.range(20, { overrideNumBlocks: 1 }).map(Picky, { concurrency: 1 });`);
    await assert.rejects((await loadPipeline(file)).takeAll(), /Map\(Picky\) failed on row 7: RangeError: seven\n {2}row: \{"id":7\}/);
  });
});
