// Entry point of a worker thread: runs tasks (read → transforms → write or return) one at a time.
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parentPort } from "node:worker_threads";
import { DataType, type Schema } from "apache-arrow";
import {
  SchemaMismatch, blockToIPC, blockBytes, concatBlocks, conformBlock, sameSchema, schemaFromIPC, schemaToIPC, sliceBlock,
  splitBlockBySize, transferable, type Block,
} from "../block";
import {
  commitOutput, idCount, idKeys, idRange, outputFileName, recordDoneFiles, recordErroredRows, recordNames, taskCommits, widen,
  type ErroredRow, type IdRange,
} from "../checkpoint";
import {
  TaskError, TaskRun, applyTransforms, inputBytes, rowName, type ActorInit, type BlockOrigin, type DriverMessage, type OriginBlock, type TaskSpec, type WorkerMessage,
} from "../cluster";
import { IoError, loadFormatLibraries, stopUploads, type FileWriteResult, type WriteContext } from "../io";
import { mayRepeatIds, type UdfFunction } from "../plan";
import { becomeActor, datasinkAt, udfResolver } from "./objects";
import { sourceBlocks } from "./read";
import { atLeastRows, atMostRows } from "./row-bounds";
import { writeToSink } from "./sink-write";
import { mapWriterFor, reduceSource } from "./exchange";
import { PacedBlocks, type Flush } from "./flushing";

const port = parentPort!;
const cancelled = new Set<number>();

/**
 * Per running task: output credits left, the wait for the next credit, and V8's external memory of this
 * isolate when it started, less its input (what earlier tasks left: a decoder's wasm memory, garbage not collected yet).
 */
interface TaskState {
  credits: number; waiter?: () => void; externalAtStart: number;
  /** When the task had made its blocks and only its last writes were left in flight ("flushing"). */
  flushingSince?: number;
  /** Settles when the task has ended (reported done or failed). */
  ended?: Promise<void>;
}
const runningTasks = new Map<number, TaskState>();

/** The flushes of this worker's tasks other than `taskId`. */
const othersFlushing = (taskId: number): Flush[] => [...runningTasks].flatMap(([id, { flushingSince, ended }]) =>
  (id !== taskId && flushingSince !== undefined && ended ? [{ since: flushingSince, ended }] : []));

/**
 * A full garbage collection. The ArrayBuffers of blocks a task has made and sent live outside V8's heap,
 * and V8 collects them late: a worker making many blocks held ~100 MiB of them. The flag is process-wide
 * and harmless; the function is taken from a fresh context, where V8 installs it.
 */
const collectGarbage = (() => {
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
})();

/** Below this much a full collection costs more than the memory it frees. */
const GARBAGE_FLOOR_BYTES = 16 * 2 ** 20;

/** Collects garbage once this worker's ArrayBuffers exceed a few blocks: at most one collection per that much garbage. */
function releaseBuffers(blockBytes: number): void {
  if (collectGarbage && process.memoryUsage().arrayBuffers > Math.max(4 * blockBytes, GARBAGE_FLOOR_BYTES)) collectGarbage();
}

async function takeCredit(taskId: number): Promise<void> {
  const state = runningTasks.get(taskId)!;
  while (state.credits <= 0 && !cancelled.has(taskId)) await new Promise<void>((resolve) => { state.waiter = resolve; });
  state.credits--;
}

function wakeTask(taskId: number): void {
  const state = runningTasks.get(taskId);
  const waiter = state?.waiter;
  if (state) state.waiter = undefined;
  waiter?.();
}

/**
 * A running task's messages carry what it holds now: this isolate's external memory (ArrayBuffers, wasm
 * memory) beyond what it held when the task started, less the buffers they transfer (those count in the
 * driver's queues). A collection during the task of what earlier tasks left makes it read low.
 */
function send(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  const state = "taskId" in message && message.type !== "done" && message.type !== "error" ? runningTasks.get(message.taskId) : undefined;
  if (!state) return port.postMessage(message, transfer);
  const sent = transfer.reduce((sum, buffer) => sum + buffer.byteLength, 0);
  const held = Math.max(0, getHeapStatistics().external_memory - state.externalAtStart - sent);
  port.postMessage({ ...message, held }, transfer);
}

/**
 * Pieces of about maxBytes that never split the rows sharing an ID (the rows a flatMap made of one input
 * row): a crash between two pieces' commits would otherwise commit the ID with only some of its rows.
 */
function splitKeepingIds(block: Block, maxBytes: number, idColumn: string): Block[] {
  const pieces = splitBlockBySize(block, maxBytes);
  const ids = block.getChild(idColumn);
  if (pieces.length <= 1 || !ids) return pieces;
  const out: Block[] = [];
  let start = 0;
  let natural = 0;
  for (const piece of pieces.slice(0, -1)) {
    natural += piece.numRows;
    if (natural <= start) continue; // the previous piece already reached past this boundary
    let end = natural;
    while (end < block.numRows && ids.get(end) === ids.get(end - 1)) end++;
    if (end >= block.numRows) break;
    out.push(sliceBlock(block, start, end));
    start = end;
  }
  out.push(sliceBlock(block, start, block.numRows));
  return out;
}

/**
 * Blocks whose last rows never share an ID with the next block's first rows (batch UDFs after a flatMap
 * cut blocks anywhere): each block waits for the next, and only when that one starts with the ID it ends
 * with is its trailing run of that ID moved in front of the next. Other blocks pass as they were made: a
 * row group read from Parquet stays whole, so its unchanged columns are still copied as read.
 */
async function* idRunsTogether(blocks: AsyncIterable<OriginBlock>, idColumn: string): AsyncIterable<OriginBlock> {
  let held: OriginBlock | undefined;
  for await (const item of blocks) {
    if (held && item.block.numRows === 0) continue; // no rows to keep together
    const runStart = held && continuedRunStart(held.block, item.block, idColumn);
    if (!held || runStart === undefined) {
      if (held) yield held;
      held = item;
      continue;
    }
    if (runStart > 0) yield { block: sliceBlock(held.block, 0, runStart), origin: held.origin };
    held = { block: concatBlocks([sliceBlock(held.block, runStart, held.block.numRows), item.block]), origin: { ...held.origin, exact: false } };
  }
  if (held) yield held;
}

/** Where the run of one ID that ends `block` starts, if `next` begins with that ID; undefined if it does not. */
function continuedRunStart(block: Block, next: Block, idColumn: string): number | undefined {
  const ids = block.getChild(idColumn);
  const nextIds = next.getChild(idColumn);
  if (!ids || !nextIds || block.numRows === 0) return undefined;
  const last = ids.get(block.numRows - 1);
  if (nextIds.get(0) !== last) return undefined;
  let runStart = block.numRows - 1;
  while (runStart > 0 && ids.get(runStart - 1) === last) runStart--;
  return runStart;
}

/** A checkpointed write refuses a block whose ID column is missing or has nulls, before writing anything. */
function checkIds(block: Block, idColumn: string, stage: string): void {
  const column = block.getChild(idColumn);
  if (!column) {
    throw new TaskError({ kind: "udf", operator: stage, message: `${stage}: the rows reaching the write have no ID column '${idColumn}' (the input lacks it, or a UDF dropped it); their columns are ${block.schema.fields.map((f) => `'${f.name}'`).join(", ")}` });
  }
  if (column.nullCount > 0) {
    throw new TaskError({ kind: "udf", operator: stage, message: `${stage}: ${column.nullCount} rows reaching the write have a null ID in '${idColumn}'; every row needs an ID to be checkpointed` });
  }
}

// ---- One schema per output: a write task asks the driver for the output's schema before its first file.

/** Answers to "schema" requests, by task (undefined: the task was cancelled while it waited). */
const schemaReplies = new Map<number, (reply: OutputSchemaReply | undefined) => void>();

type OutputSchemaReply = Extract<DriverMessage, { type: "schema" }>;
/** fixedBy: what fixed it, for errors, when not the output's first block. */
interface OutputSchema { schema: Schema; fixedBy?: string }

/** The output's schema: this task's first block's, unless another task's block fixed it first. */
async function outputSchema(taskId: number, first: Block): Promise<OutputSchema | undefined> {
  if (cancelled.has(taskId)) return undefined; // the driver no longer answers
  const reply = new Promise<OutputSchemaReply | undefined>((resolve) => schemaReplies.set(taskId, resolve));
  send({ type: "schema", taskId, ipc: schemaToIPC(first.schema) });
  const answer = await reply;
  return answer && { schema: schemaFromIPC(answer.ipc), fixedBy: answer.fixedBy };
}

/** The piece in the output's schema (lossless casts only), else an error naming the operator, column, types and row. */
function fitOutputSchema(piece: Block, { schema, fixedBy }: OutputSchema, stage: string, origin: BlockOrigin): Block {
  try {
    return conformBlock(piece, schema, (row) => rowName(origin, row), fixedBy);
  } catch (e) {
    if (!(e instanceof SchemaMismatch)) throw e;
    const row = e.row !== undefined && origin.exact !== false ? origin.rowOffset + e.row : undefined;
    throw new TaskError({ kind: "udf", operator: stage, file: origin.file, row, message: `${stage}: ${e.message}` });
  }
}

async function runTask(task: TaskSpec): Promise<void> {
  const checkpoint = task.sink?.checkpoint;
  const errored: ErroredRow[] = [];
  const erroredFiles = new Set<string>();
  let errorRecords = 0;
  const run = new TaskRun(task.idColumn, (row) => {
    send({ type: "rowError", taskId: task.taskId, row });
    if (row.file) erroredFiles.add(row.file);
    if (checkpoint) errored.push(row);
  });
  const flushErrored = async () => {
    if (checkpoint && errored.length > 0) await recordErroredRows(checkpoint, task.sink!.taskIndex, errorRecords++, errored.splice(0));
  };
  const resolve = await udfResolver(task.module);
  const earlierTry = checkpoint && task.continueFromCommits ? await taskCommits(checkpoint, task.sink!.taskIndex) : undefined;
  let outputIndex = earlierTry?.nextOutput ?? 0;
  let committedRows = earlierTry?.ids ? idCount(earlierTry.ids) : 0;
  let columnsWithoutRows: Block | undefined;
  // An input the read skipped (an undecodable image under onError "skip") is an errored row of the read, naming its file.
  const skippedInput = ({ file, rowOffset, reason }: { file?: string; rowOffset: number; reason: string }) => run.skipRow({
    id: undefined, operator: task.stage, file, row: rowOffset, input: JSON.stringify(file ?? null), error: `${file ?? task.stage}: ${reason}`, at: new Date().toISOString(),
  });
  const source = task.input.kind === "exchange" ? reduceSource(task, resolve, run, (bytes) => send({ type: "moved", taskId: task.taskId, bytes }))
    : sourceBlocks(task, earlierTry?.ids, (message) => send(message), (block) => { columnsWithoutRows ??= block; }, skippedInput);
  const partitions = await mapWriterFor(task);
  // The range of the IDs this task commits, for its done record; not known after an earlier try committed some.
  let committedRange: IdRange | undefined;
  let rangeKnown = !earlierTry?.ids;
  const transformed = new PacedBlocks(applyTransforms(source, task.transforms, resolve, run, task.targetBlockBytes), () => othersFlushing(task.taskId));
  // A file is written (and committed) while the next block is computed; one at a time, in order.
  let writing: Promise<void> = Promise.resolve();
  let fixedSchema: OutputSchema | undefined;
  /** The block in the output's schema, which the driver fixes (asked again only while it has null-typed columns this block may type); undefined: cancelled. */
  const fitSchema = async (block: Block, origin: BlockOrigin): Promise<Block | undefined> => {
    if (!fixedSchema || (!sameSchema(block.schema, fixedSchema.schema) && fixedSchema.schema.fields.some((f) => DataType.isNull(f.type)))) {
      fixedSchema = await outputSchema(task.taskId, block);
    }
    return fixedSchema && fitOutputSchema(block, fixedSchema, task.stage, origin);
  };
  const sink = task.sink && await datasinkAt(task.module, task.sink.datasink);
  const writeAndCommit = async (context: WriteContext, piece: Block) => {
    const written = await writeToSink(sink!, piece, context, task.stage);
    let keys: Uint32Array | undefined;
    if (checkpoint) {
      await flushErrored();
      const ids = piece.getChild(checkpoint.idColumn)!;
      const outputName = written.path.slice(written.path.lastIndexOf("/") + 1);
      const { renames } = written as FileWriteResult;
      if (renames) await recordNames(checkpoint, outputName, renames);
      await commitOutput(checkpoint, outputName, ids);
      committedRows += piece.numRows;
      if (checkpoint.checkDuplicateIds) keys = idKeys(ids);
      const range = idRange(ids);
      committedRange = committedRange ? widen(committedRange, range) : range;
      rangeKnown &&= committedRange !== undefined;
    }
    send({ type: "written", taskId: task.taskId, result: written, committed: checkpoint !== undefined, idKeys: keys }, keys ? [keys.buffer as ArrayBuffer] : []);
  };
  try {
    // In a checkpointed job (idColumn set) rows sharing an ID stay in one block, through an actor pool too.
    const { idColumn } = task;
    const runs = idColumn && mayRepeatIds(task.transforms) ? idRunsTogether(transformed, idColumn) : transformed;
    const { min: minRows, max: maxRows } = sink?.rowsPerWrite ?? {};
    for await (const { block, origin } of minRows ? atLeastRows(runs, minRows) : runs) {
      if (cancelled.has(task.taskId)) break;
      if (partitions) {
        // Partitions of one schema: the stage's, fixed by its first block, as a write's output.
        const fitted = await fitSchema(block, origin);
        if (!fitted) break;
        partitions.add(fitted);
        continue;
      }
      let pieceStart = 0;
      // A minimum of rows per file wins over the block size: the joined block is written whole.
      const sized = minRows ? [block] : idColumn ? splitKeepingIds(block, task.targetBlockBytes, idColumn) : splitBlockBySize(block, task.targetBlockBytes);
      const pieces = maxRows ? sized.flatMap((piece) => atMostRows(piece, maxRows)) : sized;
      releaseBuffers(task.targetBlockBytes);
      for (const piece of pieces) {
        const pieceOrigin = { ...origin, rowOffset: origin.rowOffset + pieceStart };
        pieceStart += piece.numRows;
        if (piece.numRows === 0) continue;
        const index = outputIndex++;
        if (index < task.skipOutputs) continue;
        if (task.sink) {
          const { filePrefix, taskIndex } = task.sink;
          const context = { jobId: filePrefix, taskIndex, blockIndex: index, name: outputFileName(filePrefix, taskIndex, index, "") };
          const fitted = await fitSchema(piece, pieceOrigin);
          if (!fitted) break; // cancelled while asking
          if (checkpoint) checkIds(fitted, checkpoint.idColumn, task.stage);
          await writing;
          writing = writeAndCommit(context, fitted);
          writing.catch(() => undefined); // its error is thrown where it is awaited
        } else {
          await takeCredit(task.taskId);
          if (cancelled.has(task.taskId)) break;
          const ipc = blockToIPC(piece);
          send({ type: "output", taskId: task.taskId, ipc, rows: piece.numRows, bytes: blockBytes(piece), origin: pieceOrigin }, transferable(ipc));
        }
      }
    }
    // Every block is made; the last write may still be syncing its file: this worker can start the next task
    // meanwhile, if this one's blocks were quick (./flushing). Should the next one fail the job and this
    // one be cancelled, it still records its files done once its writes have landed.
    if (task.sink && transformed.quick && !cancelled.has(task.taskId)) {
      runningTasks.get(task.taskId)!.flushingSince = performance.now();
      send({ type: "flushing", taskId: task.taskId });
    }
  } catch (e) {
    partitions?.abort();
    throw e;
  } finally {
    await writing.catch(() => undefined); // a failed task reports only once its last write has settled
    await flushErrored().catch(() => undefined); // rows skipped so far are recorded even when the task stops early
  }
  await writing;
  if (partitions && cancelled.has(task.taskId)) partitions.abort();
  else if (partitions) {
    const output = partitions.finish();
    send({ type: "mapOutput", taskId: task.taskId, output }, output.chunks.flatMap((c) => (c.ipc ? transferable(c.ipc) : [])));
  }
  if (columnsWithoutRows && outputIndex === 0 && !partitions && !task.sink && task.transforms.length === 0 && !cancelled.has(task.taskId)) {
    // Files with columns and no rows (a header-only CSV): the consumer still learns the columns.
    const ipc = blockToIPC(columnsWithoutRows);
    send({ type: "output", taskId: task.taskId, ipc, rows: 0, bytes: 0, origin: { rowOffset: 0 } }, transferable(ipc));
  }
  if (checkpoint && (runningTasks.get(task.taskId)!.flushingSince !== undefined || !cancelled.has(task.taskId))) {
    // Files with errored rows are not done: a resume must read them again for exactly those rows.
    const inputFiles = task.input.kind === "read" ? task.input.task.metadata?.inputFiles : undefined;
    if (inputFiles) {
      const done = inputFiles.filter((f) => !erroredFiles.has(f.path));
      await recordDoneFiles(checkpoint, task.sink!.taskIndex, done, done.length === inputFiles.length, committedRows, rangeKnown ? committedRange : undefined);
    }
  }
  send({ type: "done", taskId: task.taskId, udfMs: run.udfMs });
}

async function constructActor(init: ActorInit): Promise<void> {
  // Plan validation checked that the class has a call method.
  const udfClass = (await udfResolver(init.module))(init.udf) as new (...args: unknown[]) => { call: UdfFunction };
  let instance: { call: UdfFunction };
  try {
    instance = new udfClass(...init.constructorArgs);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    throw new TaskError({ kind: "udf", operator: init.stage, message: `${init.stage}: the actor's constructor failed: ${err.name}: ${err.message}`, stack: err.stack });
  }
  becomeActor(init.udf, limitCalls(instance.call.bind(instance), init.maxConcurrency));
}

/** fn, with at most `limit` calls running at once; the others wait their turn. */
function limitCalls(fn: UdfFunction, limit: number): UdfFunction {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (input: unknown) => {
    while (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn(input);
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

port.on("message", (message: DriverMessage) => {
  if (message.type === "construct") {
    constructActor(message.actor).then(() => send({ type: "constructed" }), (e: unknown) => {
      const error = e instanceof TaskError ? e.info : { kind: "internal" as const, operator: message.actor.stage, message: `${message.actor.stage}: ${(e as Error)?.message ?? String(e)}` };
      send({ type: "constructFailed", error });
    });
    return;
  }
  if (message.type === "cancel") {
    if (runningTasks.has(message.taskId)) cancelled.add(message.taskId);
    wakeTask(message.taskId);
    schemaReplies.get(message.taskId)?.(undefined);
    return;
  }
  if (message.type === "schema") {
    schemaReplies.get(message.taskId)?.(message);
    schemaReplies.delete(message.taskId);
    return;
  }
  if (message.type === "prepare") {
    // Loading parquet-wasm takes ~90 ms, which a first task would otherwise wait for; a failure shows there.
    setImmediate(() => { try { loadFormatLibraries(message.formats); } catch { /* the task that needs it reports it */ } });
    return;
  }
  if (message.type === "drain") {
    void stopUploads().then(() => send({ type: "drained" }));
    return;
  }
  if (message.type === "credit") {
    const state = runningTasks.get(message.taskId);
    if (state) state.credits++;
    wakeTask(message.taskId);
    return;
  }
  const { task } = message;
  // The task's input blocks came with its message: they are the first thing it holds.
  const state: TaskState = { credits: task.outputCredits, externalAtStart: getHeapStatistics().external_memory - inputBytes(task.input) };
  runningTasks.set(task.taskId, state);
  state.ended = runTask(task).catch((e: unknown) => {
    const info = e instanceof TaskError ? e.info
      : e instanceof IoError ? { kind: "input" as const, message: (e as Error).message }
      : { kind: "internal" as const, message: `${task.stage}: ${(e as Error)?.message ?? String(e)}`, stack: (e as Error)?.stack };
    send({ type: "error", taskId: task.taskId, error: info });
  }).finally(() => {
    cancelled.delete(task.taskId);
    runningTasks.delete(task.taskId);
    schemaReplies.delete(task.taskId);
  });
});

send({ type: "ready" });
