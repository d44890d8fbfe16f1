import assert from "node:assert/strict";
import * as rd from "../server/src/api";
import { BacklogActorPoolAutoscaler, QueuedWorkClusterAutoscaler, execute, type ExecSettings } from "../server/src/exec";
import { blockToRows, type Row } from "../server/src/block";

describe("ExecSettings: what the executor reads of its configuration", function () {
  this.timeout(60_000);

  beforeEach(() => { rd.DataContext.reset(); });

  it("DataContext.execSettings carries the context's settings, the checkpoint only for a plan that writes", () => {
    const context = rd.DataContext.getCurrent();
    context.resourceLimits = { cpu: 3, memoryBytes: 64 * 1024 * 1024 };
    context.maxErroredBlocks = 2;
    context.maxTaskRetries = 5;
    context.preserveOrder = true;
    context.progress = { intervalMs: 250 };
    context.checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: "/tmp/rdpipe-exec-settings-checkpoint" });
    const read = rd.range(10);
    const settings = context.execSettings(read.op);
    assert.equal(settings.cpuSlots, 3);
    assert.equal(settings.memoryBudgetBytes, 64 * 1024 * 1024);
    assert.equal(settings.blockBytes, 2 * 1024 * 1024); // a 32nd of the budget
    assert.equal(settings.maxErroredBlocks, 2);
    assert.equal(settings.maxTaskRetries, 5);
    assert.equal(settings.preserveOrder, true);
    assert.equal(settings.progressIntervalMs, 250);
    assert.equal(settings.actorPoolAutoscaler, context.actorPoolAutoscaler);
    assert.equal(settings.checkpoint, undefined, "a preview runs without the checkpoint");
    const write = read.writeParquet("/tmp/rdpipe-exec-settings-out");
    assert.equal(context.execSettings(write.op).checkpoint?.idColumn, "id");
    assert.equal(context.execSettings(write.op).checkpoint?.checkpointPath, "/tmp/rdpipe-exec-settings-checkpoint");
  });

  it("execute runs a plan from plain ExecSettings, and obeys them", async () => {
    const settings: ExecSettings = {
      cpuSlots: 2, blockBytes: 1024 * 1024, memoryBudgetBytes: 48 * 1024 * 1024, memoryBudgetSet: true, maxErroredBlocks: 1, taskTimeoutMs: 60_000,
      maxTaskRetries: 0, progressIntervalMs: 1000, preserveOrder: true,
      actorPoolAutoscaler: new BacklogActorPoolAutoscaler(), clusterAutoscaler: new QueuedWorkClusterAutoscaler(),
    };
    // One block of the six fails: within maxErroredBlocks 1 the job goes on without it.
    const plan = rd.range(60, { overrideNumBlocks: 6 }).map((r) => {
      if ((r.id as number) === 25) throw new Error("boom");
      return { x: (r.id as number) * 2 };
    }).op;
    const execution = execute(plan, settings);
    const rows: Row[] = [];
    for await (const block of execution) rows.push(...blockToRows(block));
    const expected = Array.from({ length: 60 }, (_, i) => i).filter((i) => i < 20 || i >= 30).map((i) => ({ x: i * 2 }));
    assert.deepEqual(rows, expected, "rows in order (preserveOrder), without the failed block's");
    const result = await execution.result;
    assert.equal(result.progress.cpuSlots, 2);
    assert.equal(result.progress.memoryBudgetBytes, 48 * 1024 * 1024);

    // With no errored block allowed, the same plan fails.
    const strict = execute(plan, { ...settings, maxErroredBlocks: 0 });
    await assert.rejects(async () => { for await (const _ of strict) { /* drain */ } }, /boom/);
  });
});
