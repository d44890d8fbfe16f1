// The exchange on nodes (OS processes): a sort gives the same ordered output as on worker threads, and a
// node SIGKILLed while map tasks run loses only its running tasks, which rerun: the output is the same.
import assert from "node:assert/strict";
import * as rd from "../server/src/api";
import { onTwoNodes } from "./helpers";

const ROWS = 60_000;

function slowSort(): rd.Dataset {
  return rd.range(ROWS, { overrideNumBlocks: 12 }).map(function slowly(r) {
    const id = r.id as number;
    if (id % 500 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    return { id, v: (id * 7919) % 4001 };
  }).sort(["v", "id"], { descending: [true, false] });
}

function expectedIds(): number[] {
  const rows = Array.from({ length: ROWS }, (_, id) => ({ id, v: (id * 7919) % 4001 }));
  return rows.sort((a, b) => b.v - a.v || a.id - b.id).map((r) => r.id);
}

describe("the exchange on nodes", function () {
  this.timeout(240_000);
  const nodes = onTwoNodes(8 * 2 ** 20);

  it("sorts on two nodes into the same order as on worker threads, partitions moving over the node link", async () => {
    let last: rd.ProgressSnapshot | undefined;
    const table = await slowSort().toArrow({ onProgress: (s) => { last = s; } });
    assert.deepEqual(Array.from(table.getChild("id")!.toArray() as ArrayLike<number>, Number), expectedIds());
    assert.equal(nodes.cluster().nodes().length, 2, "both nodes took part");
    const reduce = last!.operators.find((op) => op.name.startsWith("Sort("))!;
    // Every map output came to the driver and every reduce input went out: both ways, 8 bytes and more per row.
    assert.ok((reduce.bytesMoved ?? 0) > 2 * ROWS * 8, `${reduce.bytesMoved} bytes moved`);
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
});
