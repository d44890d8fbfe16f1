// The exchange on nodes (OS processes): a sort gives the same ordered output as on worker threads;
// partitions stay on the node that made them and reduce tasks fetch them from it (none reach the
// driver), only their own rows of each chunk; a node SIGKILLed while map tasks run, or after they
// finished, loses only what it ran or held, which runs again: the output is the same, also when the kill
// lands in the second of two chained exchanges (whose map inputs the driver keeps on its disk); the
// spill folders go however the job ends.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type Table, tableToIPC } from "apache-arrow";
import * as rd from "../server/src/api";
import { onTwoNodes } from "./helpers";

const ROWS = 60_000;

/** wide: with a padding column of 160 characters (more reduce partitions). UDFs reach workers as source: no closures. */
function slowSort(wide = false): rd.Dataset {
  const slowly = (r: rd.Row) => {
    const id = r.id as number;
    if (id % 500 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    return { id, v: (id * 7919) % 4001 };
  };
  const widened = (r: rd.Row) => ({ ...r, pad: "0123456789abcdef".repeat(10) });
  const rows = rd.range(ROWS, { overrideNumBlocks: 12 }).map(slowly);
  return (wide ? rows.map(widened) : rows).sort(["v", "id"], { descending: [true, false] });
}

type Op = rd.ProgressSnapshot["operators"][number];

/** Each row as "a:b:c" of the columns' values, in table order. */
function rowsOf(table: Table, columns: string[]): string[] {
  return Array.from({ length: table.numRows }, (_, i) => columns.map((c) => Number(table.getChild(c)!.get(i))).join(":"));
}

function expectedIds(): number[] {
  const rows = Array.from({ length: ROWS }, (_, id) => ({ id, v: (id * 7919) % 4001 }));
  return rows.sort((a, b) => b.v - a.v || a.id - b.id).map((r) => r.id);
}

/**
 * The first exchange's output widened and slowed (the map fuses into its reduce tasks), so that the
 * second's map tasks, which take its blocks, are several and come one after another on both nodes.
 */
function widened(r: rd.Row): rd.Row {
  if (Math.abs(Number(r.k)) % 50 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
  return { ...r, pad: "0123456789abcdef".repeat(12) };
}

/** Slows the second exchange's reduce tasks (the map fuses into them), so that a kill lands while they run. */
function slowTail(r: rd.Row): rd.Row {
  if (Math.abs(Number(r.k)) % 97 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
  return r;
}

/** groupBy + aggregate, then a sort of the groups. */
function aggregateThenSort(tail: (r: rd.Row) => rd.Row = slowTail): rd.Dataset {
  return rd.range(60_000, { overrideNumBlocks: 8 }).map((r) => ({ k: ((r.id as number) * 7919) % 12_000, v: r.id }))
    .groupBy("k").aggregate(rd.Count(), rd.Sum("v")).map(widened).sort(["sum(v)", "k"], { descending: [true, false] }).map(tail);
}

/** The input blocks the driver keeps for reruns: `<job spill folder>/exchange-N/inputs/*.arrows`. */
function keptInputs(): string[] {
  const found: string[] = [];
  const list = (dir: string) => { try { return fs.readdirSync(dir); } catch { return []; } }; // folders come and go as the job runs
  const root = rd.DataContext.getCurrent().spillDir!;
  for (const job of list(root).filter((name) => !/-node\d+$/.test(name))) {
    for (const exchange of list(path.join(root, job))) found.push(...list(path.join(root, job, exchange, "inputs")).filter((f) => f.endsWith(".arrows")));
  }
  return found;
}

describe("the exchange on nodes", function () {
  this.timeout(240_000);
  const nodes = onTwoNodes(8 * 2 ** 20);

  it("sorts on two nodes into the same order as on worker threads, partitions moving over the node link", async () => {
    let last: rd.ProgressSnapshot | undefined;
    const dataset = slowSort();
    const table = await dataset.toArrow({ onProgress: (s) => { last = s; } });
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expectedIds());
    assert.equal(nodes.cluster().nodes().length, 2, "both nodes took part");
    const reduce = last!.operators.find((op) => op.name.startsWith("Sort("))!;
    // The reduce task fetched the other node's map outputs from it; no partition went through the driver.
    assert.ok((reduce.bytesMoved ?? 0) > 0, `${reduce.bytesMoved} bytes moved`);
    assert.equal(dataset.lastRun()!.exchangeBytesViaDriver, 0);
  });

  it("a reduce task fetches only its partition's rows of a sorted chunk: the bytes moved are less than the data's, not once per partition", async () => {
    // Each map task's sorted run is one chunk spanning every reduce partition's key range; the holding node cuts it.
    let last: rd.ProgressSnapshot | undefined;
    const dataset = slowSort(true);
    const table = await dataset.toArrow({ onProgress: (s) => { last = s; } });
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expectedIds());
    const reduce = last!.operators.find((op) => op.name.startsWith("Sort("))!;
    const whole = tableToIPC(table, "stream").byteLength;
    assert.ok(reduce.tasksDone >= 4, `${reduce.tasksDone} reduce partitions`);
    assert.ok((reduce.bytesMoved ?? 0) > 0 && reduce.bytesMoved! < whole, `${reduce.bytesMoved} bytes moved of ${whole} bytes of rows`);
  });

  it("a node SIGKILLed while map tasks run: its tasks rerun and the output is the same", async () => {
    let rerun = 0;
    for (let trial = 0; trial < 3; trial++) {
      let killed = false;
      const dataset = slowSort();
      const table = await dataset.toArrow({
        onProgress: (s) => {
          const map = s.operators.find((op) => op.name.endsWith("(map)"))!;
          const alive = nodes.cluster().nodes().filter((n) => n.state === "alive");
          if (killed || map.tasksDone < 1 || map.tasksRunning < 1 || alive.length < 2) return;
          killed = true;
          process.kill(alive[trial % alive.length].pid, "SIGKILL");
        },
      });
      assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expectedIds(), `trial ${trial}`);
      rerun += dataset.lastRun()!.progress.operators.reduce((sum, op) => sum + op.tasksRetried, 0);
    }
    assert.ok(rerun > 0, "no kill hit a running map task");
  });

  it("a join on two nodes: reduce tasks fetch both sides' partitions from the node that made them", async () => {
    const left = rd.range(40_000, { overrideNumBlocks: 8 }).map((r) => ({ id: r.id, k: ((r.id as number) * 7919) % 3001 }));
    const right = rd.range(6000, { overrideNumBlocks: 4 }).map((r) => ({ k: (r.id as number) % 3000, w: r.id }));
    const dataset = left.join(right, { joinType: "inner", on: "k", numPartitions: 8 });
    let last: rd.ProgressSnapshot | undefined;
    const table = await dataset.toArrow({ onProgress: (s) => { last = s; } });
    const got = Array.from({ length: table.numRows }, (_, i) => `${table.getChild("id")!.get(i)}:${table.getChild("w")!.get(i)}`).sort();
    const byKey = new Map<number, number[]>();
    for (let w = 0; w < 6000; w++) byKey.set(w % 3000, [...(byKey.get(w % 3000) ?? []), w]);
    const expected = Array.from({ length: 40_000 }, (_, id) => (byKey.get((id * 7919) % 3001) ?? []).map((w) => `${id}:${w}`)).flat().sort();
    assert.deepEqual(got, expected);
    const join = last!.operators.find((op) => op.name.startsWith("Join("))!;
    assert.ok((join.bytesMoved ?? 0) > 0, `${join.bytesMoved} bytes moved`);
    assert.equal(dataset.lastRun()!.exchangeBytesViaDriver, 0);
  });

  it("a reduce task that is also the next exchange's map task fetches from peers and keeps its chunks on its node (sort, then groupBy)", async () => {
    const dataset = rd.range(30_000, { overrideNumBlocks: 6 }).map((r) => ({ k: (r.id as number) % 97, v: r.id })).sort("v").groupBy("k").aggregate(rd.Count());
    const table = await dataset.toArrow();
    const counts = new Map<number, number>();
    for (let i = 0; i < table.numRows; i++) counts.set(Number(table.getChild("k")!.get(i)), Number(table.getChild("count()")!.get(i)));
    assert.deepEqual([...counts.entries()].sort((a, b) => a[0] - b[0]), Array.from({ length: 97 }, (_, k) => [k, Math.floor(30_000 / 97) + (k < 30_000 % 97 ? 1 : 0)]));
    assert.equal(dataset.lastRun()!.exchangeBytesViaDriver, 0);
  });

  it("a node SIGKILLed after the map tasks finished, before the reduce did: only its map tasks run again, the output is the same", async () => {
    let killedAt: { mapRetried: number; reduceDone: number } | undefined;
    // Wide rows make several reduce partitions; the map after the sort (in the reduce tasks) makes them slow.
    const dataset = slowSort(true).map(function slowReduce(r) {
      if ((r.id as number) % 300 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      return r;
    });
    const table = await dataset.toArrow({
      onProgress: (s) => {
        const [map, reduce] = s.operators;
        if (killedAt || map.tasksDone < 12 || map.tasksRunning > 0 || reduce.tasksDone < 1 || reduce.tasksRunning < 1) return;
        killedAt = { mapRetried: map.tasksRetried, reduceDone: reduce.tasksDone };
        process.kill(nodes.cluster().nodes()[1].pid, "SIGKILL");
      },
    });
    assert.ok(killedAt, "the kill came too late: the reduce had finished");
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expectedIds());
    const [map, reduce] = dataset.lastRun()!.progress.operators;
    // Both nodes ran map tasks; the killed one's ran again, the other's did not.
    const rerun = map.tasksRetried - killedAt.mapRetried;
    assert.ok(rerun > 0 && rerun < 12, `${rerun} of 12 map tasks ran again`);
    assert.equal(map.tasksDone, 12);
    assert.ok(reduce.tasksDone >= killedAt.reduceDone);
  });

  describe("chained exchanges, a node SIGKILLed during the second", () => {
    function expectedAggregate(): string[] {
      const sums = new Map<number, [number, number]>();
      for (let id = 0; id < 60_000; id++) {
        const k = (id * 7919) % 12_000, [n, sum] = sums.get(k) ?? [0, 0];
        sums.set(k, [n + 1, sum + id]);
      }
      return [...sums].sort((a, b) => b[1][1] - a[1][1] || a[0] - b[0]).map(([k, [n, sum]]) => `${k}:${n}:${sum}`);
    }
    /** An inner join (every left row with a key below 2000 meets two right rows), then a sort of its rows. */
    function joinThenSort(): rd.Dataset {
      const left = rd.range(30_000, { overrideNumBlocks: 8 }).map((r) => ({ id: r.id, k: ((r.id as number) * 7919) % 3001 }));
      const right = rd.range(4000, { overrideNumBlocks: 4 }).map((r) => ({ k: (r.id as number) % 2000, w: r.id }));
      return left.join(right, { joinType: "inner", on: "k", numPartitions: 6 }).map(widened).sort(["w", "id"]).map(slowTail);
    }
    function expectedJoin(): string[] {
      const rows: [number, number][] = [];
      for (let id = 0; id < 30_000; id++) {
        const k = (id * 7919) % 3001;
        if (k < 2000) rows.push([id, k], [id, k + 2000]);
      }
      return rows.sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([id, w]) => `${id}:${w}`);
    }
    const cases = [
      { name: "groupBy + aggregate, then sort", dataset: aggregateThenSort, expected: expectedAggregate, columns: ["k", "count()", "sum(v)"] },
      { name: "join, then sort", dataset: joinThenSort, expected: expectedJoin, columns: ["id", "w"] },
    ];
    /** The second exchange's map stage has finished some tasks and gets more from the first's reduce; or it is done and the second's reduce runs. */
    const phases = {
      "while its map tasks run": (first: Op, map: Op) => map.tasksDone >= 1 && first.tasksRunning >= 1,
      "after its map tasks finished, while its reduce runs": (_first: Op, map: Op, reduce: Op) =>
        map.tasksDone >= 2 && map.tasksRunning === 0 && reduce.tasksDone >= 1 && reduce.tasksRunning >= 1,
    };
    for (const { name, dataset, expected, columns } of cases) {
      for (const [when, now] of Object.entries(phases)) {
        it(`${name}: killed ${when}, the output is the same as without the kill`, async () => {
          assert.deepEqual(rowsOf(await dataset().toArrow(), columns), expected(), "without a kill");
          let killed = false, kept = 0;
          const again = dataset();
          const table = await again.toArrow({
            onProgress: (s) => {
              kept = Math.max(kept, keptInputs().length);
              // The second exchange's map stage is the last "(map)" operator, after the first's reduce; its reduce is the last operator.
              const at = s.operators.findLastIndex((op) => op.name.endsWith("(map)"));
              const alive = nodes.cluster().nodes().filter((n) => n.state === "alive");
              // A node running a task now (one whose reduce tasks had fetched every piece ahead might otherwise lose nothing).
              const busy = new Set((s.nodeList ?? []).filter((n) => n.state === "alive" && n.tasksRunning > 0).map((n) => n.pid));
              const victim = alive.find((n) => busy.has(n.pid));
              if (killed || alive.length < 2 || !victim || !now(s.operators[at - 1], s.operators[at], s.operators[s.operators.length - 1])) return;
              killed = true;
              process.kill(victim.pid, "SIGKILL");
            },
          });
          assert.ok(killed, "the kill came too late");
          assert.deepEqual(rowsOf(table, columns), expected());
          const retried = again.lastRun()!.progress.operators.reduce((sum, op) => sum + op.tasksRetried, 0);
          assert.ok(retried > 0, "no task ran again");
          // The second exchange's done map tasks kept their input blocks on the driver's disk, not in its memory.
          assert.ok(kept > 0, "no map input was kept in the driver's spill folder");
        });
      }
    }
  });

  describe("the nodes' spill folders", () => {
    /** Folders nodes made beside the job's (`rdpipe-spill-<job>-node<id>`) that exist now. */
    const nodeFolders = () => fs.readdirSync(rd.DataContext.getCurrent().spillDir!).filter((name) => /-node\d+$/.test(name));
    /** A sort whose map tasks spill on the nodes, then `after` in its reduce tasks; `seen` collects the nodes' folders while it runs. */
    function spillingSort(after: (r: rd.Row) => rd.Row, seen: Set<string>, options: { signal?: AbortSignal; onProgress?: (s: rd.ProgressSnapshot) => void } = {}) {
      const dataset = rd.range(ROWS, { overrideNumBlocks: 12 }).map((r) => ({ id: r.id, s: `row ${r.id} `.repeat(8) })).sort("s").map(after);
      const onProgress = (s: rd.ProgressSnapshot) => {
        for (const name of nodeFolders()) seen.add(name);
        options.onProgress?.(s);
      };
      return dataset.toArrow({ signal: options.signal, onProgress }).then(() => dataset);
    }

    it("are removed after success", async () => {
      const seen = new Set<string>();
      const dataset = await spillingSort((r) => r, seen);
      assert.ok((dataset.lastRun()!.progress.operators[0].bytesSpilled ?? 0) > 0, "the map tasks spilled");
      assert.ok(seen.size > 0, "no node made a spill folder");
      assert.deepEqual(nodeFolders(), []);
    });

    it("are removed after a failure in the reduce", async () => {
      const seen = new Set<string>();
      await assert.rejects(spillingSort(function failing(r) { if (r.id === 777) throw new Error("bad row 777"); return r; }, seen), /bad row 777/);
      assert.ok(seen.size > 0, "no node made a spill folder");
      assert.deepEqual(nodeFolders(), []);
    });

    it("the driver's kept map inputs go after a failure and after a cancel in a second exchange", async () => {
      const root = rd.DataContext.getCurrent().spillDir!;
      let kept = 0;
      const failing = function failing(r: rd.Row) { if (r.k === 777) throw new Error("bad group 777"); return r; };
      await assert.rejects(aggregateThenSort(failing).toArrow({ onProgress: () => { kept = Math.max(kept, keptInputs().length); } }), /bad group 777/);
      assert.ok(kept > 0, "no map input was kept in the driver's spill folder");
      assert.deepEqual(fs.readdirSync(root), []);
      kept = 0;
      const controller = new AbortController();
      const cancelInReduce = (s: rd.ProgressSnapshot) => {
        kept = Math.max(kept, keptInputs().length);
        if (kept > 0 && s.operators[s.operators.length - 1].tasksRunning > 0) controller.abort();
      };
      await assert.rejects(aggregateThenSort().toArrow({ signal: controller.signal, onProgress: cancelInReduce }), /cancelled/);
      assert.ok(kept > 0, "no map input was kept in the driver's spill folder");
      assert.deepEqual(fs.readdirSync(root), []);
    });

    it("are removed after a cancel in the reduce", async () => {
      const seen = new Set<string>();
      const controller = new AbortController();
      const slowly = (r: rd.Row) => { if ((r.id as number) % 1000 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); return r; };
      const cancelInReduce = (s: rd.ProgressSnapshot) => { if (seen.size > 0 && s.operators[1].tasksRunning > 0) controller.abort(); };
      await assert.rejects(spillingSort(slowly, seen, { signal: controller.signal, onProgress: cancelInReduce }), /cancelled/);
      assert.ok(seen.size > 0, "no node made a spill folder");
      assert.deepEqual(nodeFolders(), []);
    });
  });
});
