// A done map task's input, kept on a cluster so that the task can run again when the node holding its
// partitions is lost (Ray's lineage reconstruction). A read task is kept as it is: it says what to
// read. Blocks that came from upstream (the reduce output of an earlier exchange, say) go to a file in
// the exchange's spill folder on the driver's disk, not to its memory, and are read back only for a
// rerun; the folder goes with the job's spill folder, however the job ends.
import * as path from "node:path";
import type { TaskSpec } from "../cluster";
import type { ChunkRef } from "../plan";
import { ChunkSink, chunkBytes } from "./exchange";

/** A done map task as kept for a rerun: its spec, and where its input blocks are when they were spilled. */
export interface KeptInput { spec: TaskSpec; spilled?: ChunkRef[] }

/** The task's spec without its input blocks, which go to `<exchange spill folder>/inputs/`. */
export function keepInput(spec: TaskSpec, taskIndex: number): KeptInput {
  const { input, exchangeMap } = spec;
  if (input.kind !== "blocks" || !exchangeMap) return { spec };
  const what = `map task ${taskIndex}'s input (kept for a rerun after a node loss)`;
  const sink = new ChunkSink(spec.stage, path.join(exchangeMap.spillDir, "inputs"), `${exchangeMap.side}-${taskIndex}.arrows`, 0, what);
  input.blocks.forEach((ipc, i) => sink.addBytes(ipc, { partition: i, rows: 0, bytes: ipc.byteLength }));
  sink.close();
  return { spec: { ...spec, input: { ...input, blocks: [] } }, spilled: sink.chunks };
}

/** The spec to run the task again with: its input blocks read back. */
export function keptSpec(kept: KeptInput): TaskSpec {
  const { spec, spilled } = kept;
  if (!spilled || spec.input.kind !== "blocks") return spec;
  return { ...spec, input: { ...spec.input, blocks: spilled.map(chunkBytes) } };
}
