// Runs a fused chain of map-like transforms over a stream of blocks, inside a worker.
import { Table, type Vector } from "apache-arrow";
import {
  ColumnViews, type Block, type Columns, type Row, blockFromColumns, blockFromRows, blockToColumns, blockToRows,
  blockBytes, concatBlocks, describeSchema, joinBatches, preview, sliceBlock,
} from "../block";
import type { ErroredRow } from "../checkpoint";
import type { OnError, TransformSpec, UdfFunction, UdfRef } from "../plan";
import type { BlockOrigin, TaskErrorInfo } from "./protocol";
import { RdpipeError, type RdpipeErrorCode } from "../errors";
import { ExprEvalError, filterRows, select, withColumn } from "./expressions";
import { sampleRows } from "./sample";

export interface OriginBlock { block: Block; origin: BlockOrigin }

export class TaskError extends RdpipeError {
  readonly code: RdpipeErrorCode;
  constructor(readonly info: TaskErrorInfo) {
    super(info.message);
    this.code = info.kind;
  }
}

export type UdfResolver = (ref: UdfRef) => UdfFunction;

/** What transforms share within one task: UDF time for stats, and where rows that errored under onError "skip" go. */
export class TaskRun {
  udfMs = 0;
  constructor(readonly idColumn: string | undefined, readonly skipRow: (row: ErroredRow) => void) {}
}

export function applyTransforms(
  input: AsyncIterable<OriginBlock>, transforms: TransformSpec[], resolve: UdfResolver, run: TaskRun, targetBlockBytes: number,
): AsyncIterable<OriginBlock> {
  const output = transforms.reduce<AsyncIterable<OriginBlock>>((stream, t) => applyOne(stream, t, resolve, run), input);
  return transforms.length > 0 ? coalesce(output, targetBlockBytes) : output;
}

/** Joins the small blocks that batch-sized UDF calls produce into blocks of about the target size, each one record batch (the writers pay per batch). */
async function* coalesce(input: AsyncIterable<OriginBlock>, targetBytes: number): AsyncIterable<OriginBlock> {
  let pending: OriginBlock[] = [];
  let pendingBytes = 0;
  let pendingSchema = "";
  const flush = () => {
    const out = { block: joinBatches(concatBlocks(pending.map((p) => p.block))), origin: pending[0].origin };
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const item of input) {
    const { schema } = item.block;
    if (pending.length > 0 && schema !== pending[pending.length - 1].block.schema && pendingSchema !== describeSchema(schema)) yield flush();
    if (pending.length === 0) pendingSchema = describeSchema(schema);
    pending.push(item);
    pendingBytes += blockBytes(item.block);
    if (pendingBytes >= targetBytes) yield flush();
  }
  if (pending.length > 0) yield flush();
}

function applyOne(input: AsyncIterable<OriginBlock>, t: TransformSpec, resolve: UdfResolver, run: TaskRun): AsyncIterable<OriginBlock> {
  switch (t.kind) {
    case "rows": return rowSteps(input, t.steps.map((s) => ({ ...s, fn: resolve(s.udf) })), run);
    case "batches": return batches(input, t, resolve(t.udf), run);
    case "addColumn": return addColumn(input, t, resolve(t.udf), run);
    case "withColumn": case "select": case "filterExpr": return expressionBlocks(input, t);
    case "sample": return sampleRows(input, t);
    default: return mapBlocks(input, (block) => projectColumns(block, t));
  }
}

async function* mapBlocks(input: AsyncIterable<OriginBlock>, fn: (b: Block) => Block): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of input) yield { block: fn(block), origin };
}

/** Expressions on each block, vectorized; a filter's output no longer maps rows to input positions. */
async function* expressionBlocks(input: AsyncIterable<OriginBlock>, t: Extract<TransformSpec, { kind: "withColumn" | "select" | "filterExpr" }>): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of input) {
    let out: Block;
    try {
      out = t.kind === "withColumn" ? withColumn(block, t.operator, t.column, t.expr)
        : t.kind === "select" ? select(block, t.operator, t.exprs) : filterRows(block, t.operator, t.predicate);
    } catch (e) {
      if (!(e instanceof ExprEvalError)) throw e;
      const where = origin.file ? ` (a block of ${origin.file})` : "";
      throw new TaskError({ kind: "input", operator: t.operator, file: origin.file, message: `${t.operator}${where}: ${e.message}` });
    }
    if (t.kind !== "filterExpr") yield { block: out, origin };
    else if (out.numRows > 0) yield { block: out, origin: out.numRows === block.numRows ? origin : { ...origin, exact: false } };
  }
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";

/** Where a row of a block is, for errors: its position in the input while the block still maps to it. */
export function rowName(origin: BlockOrigin, row: number): string {
  if (origin.exact === false) return `row ${row} of a block${origin.file ? ` read from ${origin.file}` : ""}`;
  return `row ${origin.rowOffset + row}${origin.file ? ` of ${origin.file}` : ""}`;
}

/** A UDF failure naming the operator, the input file, the row's position and ID when known, and the row. */
function udfError(operator: string, e: unknown, origin: BlockOrigin, run: TaskRun, rowIndex?: number, rowValue?: Row): TaskError {
  if (e instanceof TaskError) return e;
  const row = rowIndex !== undefined && origin.exact !== false ? origin.rowOffset + rowIndex : undefined;
  const err = e instanceof Error ? e : new Error(String(e));
  const id = rowValue !== undefined && run.idColumn !== undefined ? rowValue[run.idColumn] : undefined;
  const idText = id !== undefined ? ` (${run.idColumn} ${preview(id)})` : "";
  const where = origin.file ? ` of ${origin.file}` : "";
  const position = row !== undefined ? ` on row ${row}${idText}${where}` : rowValue !== undefined ? ` on a row${idText}${where}` : where ? ` on a batch${where}` : "";
  const rowText = rowValue !== undefined ? `\n  row: ${preview(rowValue)}` : "";
  return new TaskError({
    kind: "udf", operator, file: origin.file, row, rowPreview: rowValue !== undefined ? preview(rowValue) : undefined,
    rowInput: rowValue !== undefined ? rowJson(rowValue) : undefined,
    id: id !== undefined ? String(id) : undefined,
    message: `${operator} failed${position}: ${err.name}: ${err.message}${rowText}`, stack: err.stack,
  });
}

/** A batch UDF's result that is no batch of the input's rows (a column of another length, not columns at all): the batch is at fault, not a row. */
class BatchShapeError extends Error {}

/** Its result made into a block; a result of the wrong shape is a BatchShapeError. */
function shapedResult(toBlock: () => Block): Block {
  try {
    return toBlock();
  } catch (e) {
    throw new BatchShapeError(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
}

function batchFailure(operator: string, e: BatchShapeError, origin: BlockOrigin, rows: number): TaskError {
  const range = origin.exact === false ? `a batch of ${rows} rows` : `the batch of rows ${origin.rowOffset}–${origin.rowOffset + rows - 1}`;
  const where = origin.file ? `${origin.exact === false ? " read from" : " of"} ${origin.file}` : "";
  return new TaskError({ kind: "udf", operator, file: origin.file, message: `${operator} failed on ${range}${where}: ${e.message}` });
}

/** Longest JSON of a row's input kept with an errored row. */
const ERRORED_INPUT_CHARS = 64 * 1024;

/** A row a UDF failed on, as JSON for a person to read and for debug-row to replay. */
function rowJson(rowValue: Row): string {
  const json = JSON.stringify(rowValue, (_k, v: unknown) => (typeof v === "bigint" ? v.toString()
    : v instanceof Uint8Array ? `<${v.length} bytes>` : v));
  return json.length > ERRORED_INPUT_CHARS ? `${json.slice(0, ERRORED_INPUT_CHARS)}…` : json;
}

function erroredRow(error: TaskError, rowValue: Row, run: TaskRun): ErroredRow {
  const { info } = error;
  return {
    id: run.idColumn !== undefined ? rowValue[run.idColumn] : undefined, operator: info.operator!, file: info.file, row: info.row,
    input: info.rowInput ?? rowJson(rowValue),
    error: info.message.split("\n")[0], stack: info.stack, at: new Date().toISOString(),
  };
}

/** Under onError "skip" the failure is recorded and the row dropped; under "fail" it ends the task. */
function onRowFailure(onError: OnError, error: TaskError, rowValue: Row, run: TaskRun): void {
  if (onError === "fail") throw error;
  run.skipRow(erroredRow(error, rowValue, run));
}

type ResolvedStep = { kind: "map" | "flatMap" | "filter"; operator: string; fn: UdfFunction; onError: OnError };

/** Row UDFs see blocks in slices of this many rows, which bounds the JS objects alive at once. */
const ROW_CHUNK = 4096;

/** A map UDF's result, checked to be a row. */
function mapped(result: unknown): Row {
  if (result === null || typeof result !== "object" || Array.isArray(result)) {
    throw new TypeError(`a map UDF must return an object (a row), got ${preview(result)}`);
  }
  return result as Row;
}

/**
 * One row through the steps from `from` on, its outputs pushed to out: no arrays between steps, and an
 * await only for a UDF that returned a promise. Throws the failing step's index with its error.
 */
function throughSteps(steps: ResolvedStep[], from: number, row: Row, out: Row[]): void | Promise<void> {
  for (let s = from; s < steps.length; s++) {
    const step = steps[s];
    let result: unknown;
    // Called without a receiver: a stack then names the user's function ("total"), not "Object.total".
    const fn = step.fn;
    try {
      result = fn(row);
    } catch (e) {
      throw new StepFailure(s, e);
    }
    if (isThenable(result)) return Promise.resolve(result).then((r) => afterStep(steps, s, row, r, out), (e) => { throw new StepFailure(s, e); });
    if (step.kind === "map") {
      try { row = mapped(result); } catch (e) { throw new StepFailure(s, e); }
    } else if (step.kind === "filter") {
      if (!result) return;
    } else {
      return afterStep(steps, s, row, result, out);
    }
  }
  out.push(row);
}

/** The rest of a row's way once step s gave `result` (a promise's value, or a flatMap's rows). */
function afterStep(steps: ResolvedStep[], s: number, row: Row, result: unknown, out: Row[]): void | Promise<void> {
  const step = steps[s];
  if (step.kind === "filter") return result ? throughSteps(steps, s + 1, row, out) : undefined;
  if (step.kind === "map") {
    let next: Row;
    try { next = mapped(result); } catch (e) { throw new StepFailure(s, e); }
    return throughSteps(steps, s + 1, next, out);
  }
  if (result === null || typeof result !== "object" || !(Symbol.iterator in (result as object))) {
    throw new StepFailure(s, new TypeError(`a flatMap UDF must return an array of rows, got ${preview(result)}`));
  }
  const rows = [...(result as Iterable<Row>)];
  let pending: Promise<void> | undefined;
  for (const r of rows) {
    pending = pending ? pending.then(() => throughSteps(steps, s + 1, r, out)) : (throughSteps(steps, s + 1, r, out) || undefined);
  }
  return pending;
}

/** A row's failure in step `step` (its index in the fused steps). */
class StepFailure {
  constructor(readonly step: number, readonly error: unknown) {}
}

/** Each row passes through all fused row steps in turn, so errors can name its input position. */
async function* rowSteps(input: AsyncIterable<OriginBlock>, steps: ResolvedStep[], run: TaskRun): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of rebatch(input, ROW_CHUNK)) {
    const rows = blockToRows(block);
    const out: Row[] = [];
    let skipped = 0;
    const started = performance.now();
    for (let i = 0; i < rows.length; i++) {
      const before = out.length;
      try {
        const pending = throughSteps(steps, 0, rows[i], out);
        if (pending) await pending;
      } catch (e) {
        if (!(e instanceof StepFailure)) throw e;
        // The input row, not an intermediate one, is what a resume reprocesses and what a user debugs.
        out.length = before;
        const step = steps[e.step];
        onRowFailure(step.onError, udfError(step.operator, e.error, origin, run, i, rows[i]), rows[i], run);
        skipped++;
      }
    }
    run.udfMs += performance.now() - started;
    if (out.length === 0) continue;
    let result: Block;
    try {
      result = blockFromRows(out, block.schema);
    } catch (e) {
      throw udfError(steps[steps.length - 1].operator, e, origin, run);
    }
    const exact = skipped === 0 && out.length === block.numRows && steps.every((st) => st.kind === "map");
    yield { block: result, origin: exact ? origin : { ...origin, exact: false } };
  }
}

/**
 * Runs a batch UDF; when it fails, runs it again one row at a time to find the rows at fault (so the error
 * names a row and its ID, and "skip" can drop just those rows). A failure no single row reproduces fails the task.
 */
async function guardedBatch(
  block: Block, origin: BlockOrigin, t: { operator: string; onError: OnError }, run: TaskRun, apply: (b: Block) => Promise<Block>,
): Promise<Block> {
  try {
    return await apply(block);
  } catch (batchError) {
    if (batchError instanceof BatchShapeError) throw batchFailure(t.operator, batchError, origin, block.numRows);
    if (block.numRows <= 1 && t.onError === "fail") {
      throw udfError(t.operator, batchError, origin, run, block.numRows === 1 ? 0 : undefined, block.numRows === 1 ? blockToRows(block)[0] : undefined);
    }
    const outputs: Block[] = [];
    let failedRows = 0;
    for (let i = 0; i < block.numRows; i++) {
      const single = sliceBlock(block, i, i + 1);
      try {
        outputs.push(await apply(single));
      } catch (e) {
        const row = blockToRows(single)[0];
        onRowFailure(t.onError, udfError(t.operator, e, origin, run, i, row), row, run);
        failedRows++;
      }
    }
    if (failedRows === 0) throw udfError(t.operator, batchError, origin, run);
    const nonEmpty = outputs.filter((b) => b.numRows > 0);
    return nonEmpty.length > 0 ? concatBlocks(nonEmpty) : sliceBlock(block, 0, 0);
  }
}

async function* rebatch(input: AsyncIterable<OriginBlock>, batchSize: number | undefined): AsyncIterable<OriginBlock> {
  if (batchSize === undefined) { yield* input; return; }
  let pending: Block[] = [];
  let pendingRows = 0;
  let origin: BlockOrigin | undefined;
  for await (const item of input) {
    // A batch never spans files, so row positions in errors stay exact.
    if (pendingRows > 0 && item.origin.file !== origin!.file) {
      yield { block: concatBlocks(pending), origin: origin! };
      pending = [];
      pendingRows = 0;
    }
    if (pendingRows === 0) origin = item.origin;
    pending.push(item.block);
    pendingRows += item.block.numRows;
    if (pendingRows < batchSize) continue;
    // Each batch is one slice of the joined rows (not a slice of the rest sliced again).
    const all = concatBlocks(pending);
    let start = 0;
    for (; pendingRows >= batchSize; start += batchSize) {
      yield { block: sliceBlock(all, start, start + batchSize), origin: origin! };
      pendingRows -= batchSize;
      origin = { ...item.origin, rowOffset: item.origin.rowOffset + item.block.numRows - pendingRows };
    }
    pending = [sliceBlock(all, start, all.numRows)];
  }
  if (pendingRows > 0) yield { block: concatBlocks(pending), origin: origin! };
}

/** Up to `callsAtOnce` calls run at once (an async actor UDF); outputs keep the input's order. */
async function* batches(
  input: AsyncIterable<OriginBlock>, t: Extract<TransformSpec, { kind: "batches" }>, fn: UdfFunction, run: TaskRun,
): AsyncIterable<OriginBlock> {
  const apply = async (block: Block): Promise<Block> => {
    const reuse = new ColumnViews();
    const format = t.batchFormat;
    const batch = format === "arrow" ? block : format === "rows" ? blockToRows(block) : blockToColumns(block, reuse);
    const started = performance.now();
    let result: unknown;
    try {
      result = fn(batch);
      if (isThenable(result)) result = await result;
    } finally {
      run.udfMs += performance.now() - started;
    }
    return shapedResult(() => batchToBlock(result, block, reuse));
  };
  const callOne = async ({ block, origin }: OriginBlock): Promise<OriginBlock | undefined> => {
    const out = await guardedBatch(block, origin, t, run, apply);
    return out.numRows > 0 ? { block: out, origin: out.numRows === block.numRows ? origin : { ...origin, exact: false } } : undefined;
  };
  const callsAtOnce = t.callsAtOnce ?? 1;
  const calls: Promise<OriginBlock | undefined>[] = [];
  for await (const item of rebatch(input, t.batchSize)) {
    const call = callOne(item);
    call.catch(() => undefined); // its error is thrown when its turn to be awaited comes
    calls.push(call);
    if (calls.length < callsAtOnce) continue;
    const out = await calls.shift()!;
    if (out) yield out;
  }
  for (const call of calls) {
    const out = await call;
    if (out) yield out;
  }
}

function batchToBlock(result: unknown, input: Block, reuse: ColumnViews): Block {
  if (result instanceof Table) return result;
  if (Array.isArray(result)) return blockFromRows(result as Row[], input.schema);
  if (result !== null && typeof result === "object") return blockFromColumns(result as Columns, input.schema, reuse);
  throw new TypeError(`a mapBatches UDF must return columns ({ name: array }), an array of rows or an Arrow Table, got ${preview(result)}`);
}

async function* addColumn(
  input: AsyncIterable<OriginBlock>, t: Extract<TransformSpec, { kind: "addColumn" }>, fn: UdfFunction, run: TaskRun,
): AsyncIterable<OriginBlock> {
  const apply = async (block: Block): Promise<Block> => {
    const reuse = new ColumnViews();
    const started = performance.now();
    let values: unknown;
    try {
      values = fn(blockToColumns(block, reuse));
      if (isThenable(values)) values = await values;
    } finally {
      run.udfMs += performance.now() - started;
    }
    return shapedResult(() => blockFromColumns({ ...vectorsOf(block), [t.column]: values as ArrayLike<unknown> }, block.schema, reuse));
  };
  for await (const { block, origin } of input) {
    const out = await guardedBatch(block, origin, t, run, apply);
    if (out.numRows > 0) yield { block: out, origin: out.numRows === block.numRows ? origin : { ...origin, exact: false } };
  }
}

function vectorsOf(block: Block): Record<string, Vector> {
  const out: Record<string, Vector> = {};
  for (const field of block.schema.fields) out[field.name] = block.getChild(field.name)!;
  return out;
}

function projectColumns(block: Block, t: Extract<TransformSpec, { kind: "selectColumns" | "dropColumns" | "renameColumns" }>): Block {
  const names = block.schema.fields.map((f) => f.name);
  const requested = t.kind === "renameColumns" ? Object.keys(t.mapping) : t.columns;
  const missing = requested.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new TaskError({
      kind: "udf", operator: t.operator,
      message: `${t.operator}: unknown column${missing.length > 1 ? "s" : ""} ${missing.map((c) => `'${c}'`).join(", ")}; the columns are ${names.map((c) => `'${c}'`).join(", ")}`,
    });
  }
  const vectors = vectorsOf(block);
  const out: Record<string, Vector> = {};
  switch (t.kind) {
    case "selectColumns": for (const c of t.columns) out[c] = vectors[c]; break;
    case "dropColumns": for (const c of names) if (!t.columns.includes(c)) out[c] = vectors[c]; break;
    case "renameColumns": for (const c of names) out[t.mapping[c] ?? c] = vectors[c]; break;
  }
  return blockFromColumns(out, undefined, undefined, block.numRows);
}
