// A task's input in a worker: a datasource's read task (or the blocks an upstream stage made), without
// the rows a checkpoint says are committed already.
import { Schema } from "apache-arrow";
import { blockFromIPC, describeSchema, preview, takeRows, type Block } from "../block";
import { finishedIdsFor, rowsNotIn, type SharedIds } from "../checkpoint";
import { TaskError, type OriginBlock, type TaskSpec, type WorkerMessage } from "../cluster";
import { builtinRead, taskBlocks, type TaskBlock, type TaskRead } from "../io";
import { datasourceAt } from "./objects";

type InputRows = Extract<WorkerMessage, { type: "inputRows" }>;

/** The rows of a block whose IDs are not committed yet (the block itself when none are). */
function dropCommitted(block: Block, ids: SharedIds, idColumn: string, where: string): Block {
  const column = block.getChild(idColumn);
  if (!column) {
    throw new TaskError({ kind: "input", message: `${where} has no ID column '${idColumn}' (CheckpointConfig.idColumn); its columns are ${block.schema.fields.map((f) => `'${f.name}'`).join(", ")}`, file: where });
  }
  const keep = rowsNotIn(ids, column);
  return keep.length === block.numRows ? block : takeRows(block, keep);
}

/** A read task's blocks; a user-defined datasource's failure names it, the task and the task's input. */
async function* readTask(read: TaskRead, task: TaskSpec): AsyncIterable<TaskBlock> {
  if (typeof read.source === "string") {
    yield* taskBlocks(builtinRead(read.source)(read.task.input));
    return;
  }
  const datasource = await datasourceAt(task.module, read.source.position, task.stage);
  try {
    yield* taskBlocks(datasource.read(read.task.input));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    throw new TaskError({
      kind: "udf", operator: task.stage, stack: err.stack,
      message: `${task.stage}: read task ${read.index} of datasource ${datasource.name} (input ${preview(read.task.input)}) failed: ${err.name}: ${err.message}`,
    });
  }
}

/**
 * The task's input blocks, without the rows already committed (by earlier attempts, or an earlier try of
 * this task). Blocks read from a file are reported as input rows of that file.
 */
export async function* sourceBlocks(
  task: TaskSpec, committedByTask: SharedIds | undefined, onInputRows: (message: InputRows) => void, onNoRows?: (block: Block) => void,
  onSkipped?: (input: { file?: string; rowOffset: number; reason: string }) => void,
): AsyncIterable<OriginBlock> {
  const input = task.input;
  const { idColumn } = task;
  const committedSets = [task.committedIds, committedByTask].filter((ids) => ids !== undefined);
  const unfinished = async (block: Block, where: string) => {
    const column = idColumn === undefined ? undefined : block.getChild(idColumn);
    // A finished task's IDs can only be met in a file it did not read (one added since): loaded where a block reaches into them.
    const finished = task.finishedIds && column ? await finishedIdsFor(task.finishedIds, column) : [];
    return [...committedSets, ...finished].reduce((kept, ids) => (idColumn ? dropCommitted(kept, ids, idColumn, where) : kept), block);
  };
  // Dropping committed rows shifts positions within a block, so its rows no longer map to input positions.
  const originOf = (kept: Block, read: Block, origin: { file?: string; rowOffset: number }) => (kept === read ? origin : { ...origin, exact: false });
  if (input.kind === "blocks") {
    for (let i = 0; i < input.blocks.length; i++) {
      const read = blockFromIPC(input.blocks[i]);
      const kept = await unfinished(read, task.stage);
      if (kept.numRows > 0) yield { block: kept, origin: originOf(kept, read, input.origins[i]) };
    }
    return;
  }
  if (input.kind === "exchange") throw new TaskError({ kind: "internal", operator: task.stage, message: `${task.stage}: a reduce task's input is read by worker/exchange's reduceSource` });
  for await (const { block, file, rowOffset, skipped } of readTask(input, task)) {
    if (skipped !== undefined) { onSkipped?.({ file, rowOffset, reason: skipped }); continue; }
    if (block.numRows === 0) { onNoRows?.(block); continue; }
    const kept = await unfinished(block, file ?? task.stage);
    onInputRows({
      type: "inputRows", taskId: task.taskId, rows: block.numRows, alreadyDone: block.numRows - kept.numRows, file,
      schema: file === undefined ? [] : block.schema.fields.map((f) => describeSchema(new Schema([f]))),
    });
    if (kept.numRows > 0) yield { block: kept, origin: originOf(kept, block, file === undefined ? { rowOffset } : { file, rowOffset }) };
  }
}
