// Progress snapshots tell the truth: rows read of estimated rows read and rows out as separate figures,
// estimates never below what is done, every stage complete when a job succeeds, and driver-side steps
// marked as such (they have no tasks).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { renderProgress } from "../server/src/cli/progress";
import { execute, formatBytes, formatCount } from "../server/src/exec";
import { tempDir } from "./helpers";

/** Every operator of every snapshot: done never exceeds its estimate, for rows read and rows out. */
function assertEstimatesHold(snapshots: rd.ProgressSnapshot[]): void {
  for (const [i, s] of snapshots.entries()) {
    for (const op of s.operators) {
      const where = `snapshot ${i} of ${snapshots.length}, ${op.name}: ${JSON.stringify(op)}`;
      assert.ok(op.rowsReadEstimated === undefined || op.rowsRead <= op.rowsReadEstimated, `more read than estimated in ${where}`);
      assert.ok(op.rowsEstimated === undefined || op.rowsDone <= op.rowsEstimated, `more out than estimated in ${where}`);
    }
  }
}

describe("progress snapshots", function () {
  this.timeout(120_000);
  let dir: string;
  const ROWS = 6000;

  before(async () => {
    dir = tempDir("rdpipe-progress-");
    rd.DataContext.reset();
    await rd.range(ROWS, { overrideNumBlocks: 12 }).map((r) => ({ id: r.id, value: `v${String(r.id)}` })).writeParquet(path.join(dir, "input")).run();
  });
  beforeEach(() => {
    rd.DataContext.reset();
    const context = rd.DataContext.getCurrent();
    context.resourceLimits.cpu = 2;
    context.progress.intervalMs = 20;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a filter pipeline reads every input row and writes the kept ones; each estimate holds; the final snapshot is complete", async () => {
    const snapshots: rd.ProgressSnapshot[] = [];
    const result = await rd.readParquet(path.join(dir, "input"))
      .map((r) => { const end = Date.now() + 1; while (Date.now() < end) { /* slow enough for several snapshots */ } return r; })
      .filter((r) => Number(r.id) % 5 === 0)
      .writeParquet(path.join(dir, "out-filter"))
      .run({ onProgress: (s) => snapshots.push(s) });
    assert.ok(snapshots.length >= 3, `only ${snapshots.length} snapshots`);
    assertEstimatesHold(snapshots);
    const last = result.progress;
    assert.equal(last.finished, true);
    const filter = last.operators.find((op) => op.name.includes("Filter"))!;
    assert.ok(filter, JSON.stringify(last.operators.map((op) => op.name)));
    assert.equal(filter.rowsRead, ROWS, "rows read: every input row");
    assert.equal(filter.rowsDone, ROWS / 5, "rows out: the rows the filter kept");
    assert.equal(last.operators.at(-1)!.writes, true);
    assert.equal(last.operators.at(-1)!.rowsDone, ROWS / 5);
    for (const op of last.operators) {
      assert.equal(op.rowsReadEstimated, op.rowsRead, `${op.name} is complete: ${JSON.stringify(op)}`);
      assert.equal(op.rowsEstimated, op.rowsDone, `${op.name} is complete: ${JSON.stringify(op)}`);
    }
    assert.ok(last.peakMemoryBytes > 0, "the peak memory of the run, not what is held after it");
    const drawn = renderProgress(last).join("\n");
    assert.match(drawn, new RegExp(`████████████████████ ${ROWS.toLocaleString("en-US")} rows read, ${(ROWS / 5).toLocaleString("en-US")} written`));
    assert.doesNotMatch(drawn, /running|busy/, "a finished job's lines have no live figures");
  });

  it("marks steps the driver runs (union, limit) and carries estimates through them; a sort runs as map and reduce tasks", async () => {
    const snapshots: rd.ProgressSnapshot[] = [];
    const evens = rd.readParquet(path.join(dir, "input")).filter((r) => Number(r.id) % 2 === 0).map((r) => ({ id: r.id }));
    const result = await evens.union(rd.range(500)).sort("id").limit(100).writeParquet(path.join(dir, "out-driver"))
      .run({ onProgress: (s) => snapshots.push(s) });
    assertEstimatesHold(snapshots);
    const ops = result.progress.operators;
    const inDriver = ops.filter((op) => op.runsInDriver).map((op) => op.name);
    assert.deepEqual(inDriver, ["Union", "Limit(100)"], JSON.stringify(ops.map((op) => [op.name, op.runsInDriver])));
    // The sort is an exchange: the stage before it partitions (its map side), its reduce side is a task stage.
    const sortMap = ops.find((op) => op.name.endsWith("->Sort(id)(map)"))!;
    const sortReduce = ops.find((op) => op.name === "Sort(id)")!;
    assert.ok(sortMap.tasksDone > 0 && sortReduce.tasksDone > 0, JSON.stringify([sortMap, sortReduce]));
    assert.equal(sortReduce.rowsRead, ROWS / 2 + 500);
    for (const op of ops.filter((o) => o.runsInDriver)) assert.equal(op.tasksDone + op.tasksRunning, 0, `${op.name} ran no tasks`);
    const union = ops.find((op) => op.name === "Union")!;
    assert.equal(union.rowsRead, ROWS / 2 + 500);
    assert.equal(ops.find((op) => op.name.startsWith("Limit"))!.rowsDone, 100);
    for (const op of result.progress.operators) assert.equal(op.rowsReadEstimated, op.rowsRead, `${op.name} is complete`);
    const drawn = renderProgress(result.progress);
    assert.match(drawn.find((line) => line.startsWith("Union"))!, /^Union +█+ 3,500 rows read, 3,500 out +\d+\.\ds$/, "rows and time only");
  });

  it("a fused read -> write stage reports the bytes of the files it wrote, in its snapshot, its progress line and the stats", async () => {
    const out = path.join(dir, "out-bytes");
    const snapshots: rd.ProgressSnapshot[] = [];
    const ds = rd.readParquet(path.join(dir, "input")).map((r) => ({ ...r, twice: Number(r.id) * 2 })).writeParquet(out);
    const result = await ds.run({ onProgress: (s) => snapshots.push(s) });
    const files = fs.readdirSync(out).filter((f) => f.endsWith(".parquet"));
    const onDisk = files.reduce((sum, f) => sum + fs.statSync(path.join(out, f)).size, 0);
    assert.ok(files.length > 1 && onDisk > 10_000, `${files.length} files, ${onDisk} bytes`);
    const write = result.progress.operators.at(-1)!;
    assert.equal(write.writes, true);
    assert.ok(write.name.startsWith("ReadParquet->"), `one fused stage: ${write.name}`);
    assert.equal(write.bytesWritten, onDisk, "bytes written: the files' sizes");
    for (const s of snapshots) assert.ok((s.operators.at(-1)!.bytesWritten ?? 0) <= onDisk, "never more than the files hold");
    assert.match(renderProgress(result.progress)[0], new RegExp(`${formatCount(ROWS)} written \\(${formatBytes(onDisk)}\\)`));
    assert.match(result.statsText, new RegExp(`Operator 0 ReadParquet->Map\\(<lambda>\\)->WriteParquet: .*${formatCount(ROWS)} rows written, ${formatBytes(onDisk)} written, `));
  });

  it("peak block memory is what blocks held: tiny for a tiny job, at least the queued blocks of a slow consumer, never above the reservations", async () => {
    const tiny = await rd.range(100).map((r) => ({ ...r, twice: Number(r.id) * 2 })).writeJson(path.join(dir, "out-tiny")).run();
    const blockBytes = rd.DataContext.getCurrent().targetMaxBlockSize;
    assert.ok(tiny.peakMemoryBytes < 2 ** 20, `100 rows held ${tiny.peakMemoryBytes} bytes at the peak`);
    assert.ok(tiny.peakReservedBytes >= 3 * blockBytes, `the budget still reserves three blocks per task: ${tiny.peakReservedBytes}`);
    assert.equal(tiny.progress.peakMemoryBytes, tiny.peakMemoryBytes);
    assert.match(tiny.statsText, new RegExp(`peak block memory ${formatBytes(tiny.peakMemoryBytes)} held \\(${formatBytes(tiny.peakReservedBytes)} reserved\\)`));

    const context = rd.DataContext.getCurrent();
    context.targetMaxBlockSize = 2 ** 20;
    context.resourceLimits.memoryBytes = 32 * 2 ** 20;
    // 8 bytes a row (int64): 4M rows are 32 MB of blocks of 1 MB, made much faster than the consumer takes them.
    const plan = rd.range(4_000_000, { overrideNumBlocks: 32 }).op;
    let received = 0;
    /** Bytes of the blocks put out that the consumer had not taken when each snapshot was made, and the snapshot's figure. */
    const seen: { queued: number; used: number }[] = [];
    const execution = execute(plan, context.execSettings(plan), {
      onProgress: (s) => seen.push({ queued: 8 * (s.operators.at(-1)!.rowsDone - received), used: s.memoryUsedBytes }),
    });
    for await (const block of execution) {
      received += block.numRows;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    assert.equal(received, 4_000_000);
    const run = await execution.result;
    for (const { queued, used } of seen) assert.ok(used >= queued, `${used} bytes held with ${queued} bytes waiting for the consumer`);
    const queuedMost = Math.max(...seen.map((s) => s.queued));
    assert.ok(queuedMost >= 4 * 2 ** 20, `the slow consumer let only ${queuedMost} bytes queue`);
    assert.ok(run.peakMemoryBytes >= queuedMost, `peak ${run.peakMemoryBytes} below the ${queuedMost} bytes queued`);
    assert.ok(run.peakMemoryBytes <= run.peakReservedBytes, `peak held ${run.peakMemoryBytes} above the peak reserved ${run.peakReservedBytes}`);
  });

  it("writes counts as toLocaleString(\"en-US\") does, without loading ICU's locale data", () => {
    for (const x of [0, 7, 999, 1000, 12_345.6, 999_999.5, 1_234_567, -1_234_567, 5_000_000, 2 ** 40, Infinity, -Infinity, NaN]) {
      assert.equal(formatCount(x), Math.round(x).toLocaleString("en-US"), String(x));
    }
  });
});
