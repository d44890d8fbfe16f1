// Replays one errored row through the operator that failed on it (from the transform the row entered:
// row UDFs fused into one pass run from the first), in this process and with the engine's own transform
// code, so a debugger attached to this process stops at breakpoints in the pipeline file (its UDFs are
// compiled with inline source maps by the loader).
import { type Block, type Row, blockFromRows, blockToRows } from "../block";
import { type OriginBlock, TaskRun, applyTransforms } from "../cluster/transforms";
import { loadPipeline } from "../loader";
import { type PhysicalOp, PlanError, type TransformSpec, type UdfFunction, type UdfRef, isClass, opDisplayName, opsInOrder, toPhysicalPlan } from "../plan";

export interface DebugRowRequest {
  /** The pipeline file. */
  file: string;
  /** The display name of the operator that failed (an errored row's `operator`). */
  operator: string;
  /** The input row, as recorded with the errored row (JSON). */
  input: string;
}

/** The rows the operator gave for the row. */
export async function debugRow(request: DebugRowRequest): Promise<Row[]> {
  let row: unknown;
  try {
    row = JSON.parse(request.input);
  } catch (e) {
    throw new PlanError(`the row to debug is not JSON: ${(e as Error).message}`);
  }
  if (row === null || typeof row !== "object" || Array.isArray(row)) throw new PlanError("the row to debug must be a JSON object of column values");
  const dataset = await loadPipeline(request.file);
  const ops = opsInOrder(dataset.op);
  const target = ops.find((op) => opDisplayName(op) === request.operator);
  if (!target) {
    throw new PlanError(`${request.file} has no operator named '${request.operator}' (it has: ${ops.map(opDisplayName).join(", ")}); was the pipeline changed?`);
  }
  const positions = new Map(ops.map((op, i) => [op, i]));
  const udfs = new Map(ops.flatMap((op, i) => ("fn" in op ? [[i, op] as const] : [])));
  const resolve = (ref: UdfRef): UdfFunction => {
    const op = ref.position === undefined ? undefined : udfs.get(ref.position);
    if (!op || !("fn" in op)) throw new PlanError(`no UDF at operator ${ref.name}`);
    if (!isClass(op.fn)) return op.fn;
    const args = "options" in op && "fnConstructorArgs" in op.options ? (op.options.fnConstructorArgs ?? []) : [];
    const instance = new (op.fn as new (...a: unknown[]) => { call: UdfFunction })(...(args as unknown[]));
    return instance.call.bind(instance);
  };
  // The recorded row is what entered the transform holding the operator (row UDFs fused into one pass
  // share their input), so the replay starts there. Errors propagate whatever the operators' onError
  // policy says: the failure is what is being debugged.
  const path = transformsUpTo(toPhysicalPlan(target, { positions, writePrefix: "debug" }), request.operator);
  const start = path.findIndex((transform) => holds(transform, request.operator));
  if (start < 0) throw new PlanError(`${request.operator} is not a UDF operator; only a UDF's rows can be debugged`);
  const transforms = path.slice(start).map(failingFast);
  const input: OriginBlock = {
    block: blockFromRows([row as Row]),
    origin: { rowOffset: 0, exact: true },
  };
  const run = new TaskRun(undefined, () => undefined);
  const output: Block[] = [];
  for await (const { block } of applyTransforms((async function* () { yield input; })(), transforms, resolve, run, Number.MAX_SAFE_INTEGER)) {
    output.push(block);
  }
  return output.flatMap(blockToRows);
}

function holds(transform: TransformSpec, operator: string): boolean {
  return transform.kind === "rows" ? transform.steps.some((step) => step.operator === operator) : transform.operator === operator;
}

function failingFast(transform: TransformSpec): TransformSpec {
  switch (transform.kind) {
    case "rows": return { ...transform, steps: transform.steps.map((step) => ({ ...step, onError: "fail" })) };
    case "batches": case "addColumn": return { ...transform, onError: "fail" };
    default: return transform;
  }
}

/** The transforms of the stages from the read to the target operator, in order: the row's path through the plan. */
function transformsUpTo(stage: PhysicalOp, operator: string): TransformSpec[] {
  switch (stage.kind) {
    case "read": return stage.transforms;
    case "map": case "actorPool": return [...transformsUpTo(stage.input, operator), ...stage.transforms];
    default: throw new PlanError(`a row reaches ${operator} through ${stage.name}, which does not work row by row; it cannot be debugged on one row`);
  }
}
