// A worker's reduce tasks of mapGroups, as test/map-groups-jit.test.ts runs them under V8's --trace-opt and
// --trace-deopt: partitions one after another, each followed by a forced full collection (the worker forces
// one after a task's output blocks), a line on stdout after each.
import { tableFromArrays } from "apache-arrow";
import { type Columns, blockFromIPC, blockToIPC } from "../server/src/block";
import { TaskRun } from "../server/src/cluster";
import { mapGroupBlocks } from "../server/src/exec/all-to-all";

const PARTITIONS = 12;
const gc = (globalThis as { gc?: () => void }).gc!;

function summarizeGroup(group: Columns): Columns {
  const v = group.v as Float64Array;
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > max) max = v[i];
  return { key: [Number((group.key as BigInt64Array)[0])], n: [v.length], vmax: [max] };
}

async function main(): Promise<void> {
  const rows = 200_000, groups = 20_000;
  // One run for all: in a worker, the task's run is alive at the collection it forces.
  const run = new TaskRun(undefined, () => undefined);
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const chunks = [];
    for (let start = 0; start < rows; start += 10_000) {
      const key = BigInt64Array.from({ length: 10_000 }, (_, i) => BigInt(((start + i) * 7919 + partition) % groups));
      const v = Float64Array.from({ length: 10_000 }, (_, i) => Math.sin(start + i));
      chunks.push(blockFromIPC(blockToIPC(tableFromArrays({ key, v }))));
    }
    let out = 0;
    for await (const block of mapGroupBlocks(chunks, summarizeGroup as never, { keys: ["key"], batchFormat: "columns", operator: "mapGroups" }, run, 8 << 20)) out += block.numRows;
    if (out !== groups) throw new Error(`partition ${partition}: ${out} groups, not ${groups}`);
    gc();
    console.log(`partition ${partition} done`);
  }
}

void main();
