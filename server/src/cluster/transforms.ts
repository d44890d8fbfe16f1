// Runs a fused chain of map-like transforms over a stream of blocks, inside a worker.
import { Table, type Vector } from "apache-arrow";
import {
  type Block, type Columns, type Row, blockFromColumns, blockFromRows, blockToColumns, blockToRows,
  blockBytes, concatBlocks, describeSchema, preview, sliceBlock,
} from "../block";
import type { TransformSpec, UdfFunction, UdfRef } from "../plan";
import type { BlockOrigin, TaskErrorInfo } from "./protocol";

export interface OriginBlock { block: Block; origin: BlockOrigin }

export class TaskError extends Error {
  constructor(readonly info: TaskErrorInfo) {
    super(info.message);
  }
}

export type UdfResolver = (ref: UdfRef) => UdfFunction;

/** Accumulates the time spent inside UDFs, for stats. */
export class UdfClock { ms = 0; }

export function applyTransforms(
  input: AsyncIterable<OriginBlock>, transforms: TransformSpec[], resolve: UdfResolver, clock: UdfClock, targetBlockBytes: number,
): AsyncIterable<OriginBlock> {
  const output = transforms.reduce<AsyncIterable<OriginBlock>>((stream, t) => applyOne(stream, t, resolve, clock), input);
  return transforms.length > 0 ? coalesce(output, targetBlockBytes) : output;
}

/** Joins the small blocks that batch-sized UDF calls produce into blocks of about the target size. */
async function* coalesce(input: AsyncIterable<OriginBlock>, targetBytes: number): AsyncIterable<OriginBlock> {
  let pending: OriginBlock[] = [];
  let pendingBytes = 0;
  const flush = () => {
    const out = { block: concatBlocks(pending.map((p) => p.block)), origin: pending[0].origin };
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const item of input) {
    if (pending.length > 0 && describeSchema(pending[0].block.schema) !== describeSchema(item.block.schema)) yield flush();
    pending.push(item);
    pendingBytes += blockBytes(item.block);
    if (pendingBytes >= targetBytes) yield flush();
  }
  if (pending.length > 0) yield flush();
}

function applyOne(input: AsyncIterable<OriginBlock>, t: TransformSpec, resolve: UdfResolver, clock: UdfClock): AsyncIterable<OriginBlock> {
  switch (t.kind) {
    case "rows": return rowSteps(input, t.steps.map((s) => ({ ...s, fn: resolve(s.udf) })), clock);
    case "batches": return batches(input, t.operator, resolve(t.udf), t.batchSize, t.batchFormat, clock, t.callsAtOnce ?? 1);
    case "addColumn": return addColumn(input, t.operator, t.column, resolve(t.udf), clock);
    default: return mapBlocks(input, (block) => projectColumns(block, t));
  }
}

async function* mapBlocks(input: AsyncIterable<OriginBlock>, fn: (b: Block) => Block): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of input) yield { block: fn(block), origin };
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";

function udfError(operator: string, e: unknown, origin: BlockOrigin, rowIndex?: number, rowValue?: unknown): TaskError {
  if (e instanceof TaskError) return e;
  const row = rowIndex !== undefined && origin.exact !== false ? origin.rowOffset + rowIndex : undefined;
  const err = e instanceof Error ? e : new Error(String(e));
  const where = origin.file ? ` of ${origin.file}` : "";
  const position = row !== undefined ? ` on row ${row}${where}` : rowValue !== undefined ? ` on a row${where}` : where ? ` on a batch${where}` : "";
  const rowText = rowValue !== undefined ? `\n  row: ${preview(rowValue)}` : "";
  return new TaskError({
    kind: "udf", operator, file: origin.file, row, rowPreview: rowValue !== undefined ? preview(rowValue) : undefined,
    message: `${operator} failed${position}: ${err.name}: ${err.message}${rowText}`, stack: err.stack,
  });
}

type ResolvedStep = { kind: "map" | "flatMap" | "filter"; operator: string; fn: UdfFunction };

/** Row UDFs see blocks in slices of this many rows, which bounds the JS objects alive at once. */
const ROW_CHUNK = 4096;

/** Each row passes through all fused row steps in turn, so errors can name its input position. */
async function* rowSteps(input: AsyncIterable<OriginBlock>, steps: ResolvedStep[], clock: UdfClock): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of rebatch(input, ROW_CHUNK)) {
    const rows = blockToRows(block);
    const out: Row[] = [];
    const started = performance.now();
    for (let i = 0; i < rows.length; i++) {
      let current: Row[] = [rows[i]];
      for (const step of steps) {
        const next: Row[] = [];
        for (const row of current) {
          let result: unknown;
          try {
            result = step.fn(row);
            if (isThenable(result)) result = await result;
          } catch (e) {
            throw udfError(step.operator, e, origin, i, row);
          }
          if (step.kind === "map") {
            if (result === null || typeof result !== "object" || Array.isArray(result)) {
              throw udfError(step.operator, new TypeError(`a map UDF must return an object (a row), got ${preview(result)}`), origin, i, row);
            }
            next.push(result as Row);
          } else if (step.kind === "filter") {
            if (result) next.push(row);
          } else {
            if (result === null || typeof result !== "object" || !(Symbol.iterator in (result as object))) {
              throw udfError(step.operator, new TypeError(`a flatMap UDF must return an array of rows, got ${preview(result)}`), origin, i, row);
            }
            for (const r of result as Iterable<Row>) next.push(r);
          }
        }
        current = next;
        if (current.length === 0) break;
      }
      for (const r of current) out.push(r);
    }
    clock.ms += performance.now() - started;
    if (out.length === 0) continue;
    let result: Block;
    try {
      result = blockFromRows(out, block.schema);
    } catch (e) {
      throw udfError(steps[steps.length - 1].operator, e, origin);
    }
    yield { block: result, origin: out.length === block.numRows && steps.every((st) => st.kind === "map") ? origin : { ...origin, exact: false } };
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
    while (pendingRows >= batchSize) {
      const all = concatBlocks(pending);
      yield { block: sliceBlock(all, 0, batchSize), origin: origin! };
      pending = [sliceBlock(all, batchSize, all.numRows)];
      pendingRows -= batchSize;
      origin = { ...item.origin, rowOffset: item.origin.rowOffset + item.block.numRows - pendingRows };
    }
  }
  if (pendingRows > 0) yield { block: concatBlocks(pending), origin: origin! };
}

/** Up to `callsAtOnce` calls run at once (an async actor UDF); outputs keep the input's order. */
async function* batches(
  input: AsyncIterable<OriginBlock>, operator: string, fn: UdfFunction, batchSize: number | undefined,
  format: "rows" | "columns" | "arrow", clock: UdfClock, callsAtOnce: number,
): AsyncIterable<OriginBlock> {
  const calls: Promise<OriginBlock | undefined>[] = [];
  for await (const { block, origin } of rebatch(input, batchSize)) {
    const call = callBatch(operator, fn, block, origin, format, clock);
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

async function callBatch(
  operator: string, fn: UdfFunction, block: Block, origin: BlockOrigin, format: "rows" | "columns" | "arrow", clock: UdfClock,
): Promise<OriginBlock | undefined> {
  const reuse = new Map<unknown, Vector>();
  const batch = format === "arrow" ? block : format === "rows" ? blockToRows(block) : blockToColumns(block, reuse);
  const started = performance.now();
  let result: unknown;
  try {
    result = fn(batch);
    if (isThenable(result)) result = await result;
  } catch (e) {
    throw udfError(operator, e, origin);
  } finally {
    clock.ms += performance.now() - started;
  }
  let out: Block;
  try {
    out = batchToBlock(result, block, reuse);
  } catch (e) {
    throw udfError(operator, e, origin);
  }
  return out.numRows > 0 ? { block: out, origin: out.numRows === block.numRows ? origin : { ...origin, exact: false } } : undefined;
}

function batchToBlock(result: unknown, input: Block, reuse: Map<unknown, Vector>): Block {
  if (result instanceof Table) return result;
  if (Array.isArray(result)) return blockFromRows(result as Row[], input.schema);
  if (result !== null && typeof result === "object") return blockFromColumns(result as Columns, input.schema, reuse);
  throw new TypeError(`a mapBatches UDF must return columns ({ name: array }), an array of rows or an Arrow Table, got ${preview(result)}`);
}

async function* addColumn(input: AsyncIterable<OriginBlock>, operator: string, column: string, fn: UdfFunction, clock: UdfClock): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of input) {
    const reuse = new Map<unknown, Vector>();
    const started = performance.now();
    let values: unknown;
    try {
      values = fn(blockToColumns(block, reuse));
      if (isThenable(values)) values = await values;
    } catch (e) {
      throw udfError(operator, e, origin);
    } finally {
      clock.ms += performance.now() - started;
    }
    try {
      yield { block: blockFromColumns({ ...vectorsOf(block), [column]: values as ArrayLike<unknown> }, block.schema, reuse), origin };
    } catch (e) {
      throw udfError(operator, e, origin);
    }
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
