// The logical plan a Dataset builds: operators as plain data (UDFs by reference), their ids, their
// canonical order (how workers locate UDFs) and their display names.
import type { BatchFormat } from "../block";
import { RdpipeError } from "../errors";
import { datasinkName, type Datasink, type SourceDef } from "../io";
import type { AggregateFn, SortKey } from "./aggregate";
import { exprName, exprText, type Expr } from "./expr";
import type { JoinSpec } from "./join";

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type UdfFunction = Function;

/** What a read reads: a datasource, built-in ones described as plain data (see io's SourceDef). */
export type { SourceDef } from "../io";

/** Rows per batch UDF call when mapBatches gets no batchSize (Ray's default is 1024; ours trades a little memory for fewer calls). */
export const DEFAULT_BATCH_SIZE = 4096;

/** What a UDF's exception does: "fail" (default) stops the job; "skip" records the row and goes on. */
export interface ErrorPolicy {
  onError?: "fail" | "skip";
  /** With onError "skip": the job fails once more rows than this have errored in this operator. Default unlimited. */
  maxErroredRows?: number;
}

/** How a class UDF runs in an actor pool (Ray Data's ActorPoolStrategy and actor options). */
export interface ActorOptions {
  /** Actors in the pool: a fixed n, or [min, max] (autoscaled, starting at min), or [min, max, initial]. */
  concurrency?: number | [number, number] | [number, number, number];
  /** Arguments for the class's constructor; they travel to workers, so they must be structured-cloneable. */
  fnConstructorArgs?: unknown[];
  /** CPU slots one actor holds while it lives (default 1). */
  numCpus?: number;
  /** Calls one actor runs at once; above 1 only helps an async `call` (default 1). */
  maxConcurrency?: number;
}

export interface MapOptions extends ErrorPolicy, ActorOptions {
  /** Rows per UDF call; null = whole blocks as they come. Default DEFAULT_BATCH_SIZE. */
  batchSize?: number | null;
  batchFormat?: BatchFormat;
}

interface OpBase { id: number }
interface UnaryOp extends OpBase { input: LogicalOp }

export type LogicalOp =
  | (OpBase & { kind: "read"; name: string; source: SourceDef; overrideNumBlocks?: number })
  | (UnaryOp & { kind: "map" | "flatMap"; fn: UdfFunction; options: ErrorPolicy & ActorOptions })
  | (UnaryOp & { kind: "filter"; fn: UdfFunction; options: ErrorPolicy })
  | (UnaryOp & { kind: "mapBatches"; fn: UdfFunction; options: MapOptions })
  | (UnaryOp & { kind: "addColumn"; column: string; fn: UdfFunction; options: ErrorPolicy })
  | (UnaryOp & { kind: "withColumn"; column: string; expr: Expr })
  | (UnaryOp & { kind: "filterExpr"; predicate: Expr })
  | (UnaryOp & { kind: "select"; exprs: Expr[] })
  | (UnaryOp & { kind: "selectColumns" | "dropColumns"; columns: string[] })
  | (UnaryOp & { kind: "renameColumns"; mapping: Record<string, string> })
  | (UnaryOp & { kind: "limit"; n: number })
  | (UnaryOp & { kind: "repartition"; numBlocks: number; shuffle?: boolean; keys?: string[] })
  | (UnaryOp & { kind: "randomShuffle"; seed?: number })
  | (UnaryOp & { kind: "randomSample"; fraction: number; seed: number })
  | (UnaryOp & { kind: "randomizeBlockOrder"; seed: number })
  | (UnaryOp & { kind: "sort"; key: SortKey; descending: boolean | boolean[] })
  | (UnaryOp & { kind: "aggregate"; keys: string[]; aggs: AggregateFn[] })
  /** fn gets one whole group as a batch; a class UDF is built once per worker with fnConstructorArgs. */
  | (UnaryOp & { kind: "mapGroups"; keys: string[]; fn: UdfFunction; options: { batchFormat?: BatchFormat; fnConstructorArgs?: unknown[] } })
  | (OpBase & { kind: "union"; inputs: LogicalOp[] })
  | (OpBase & { kind: "zip"; inputs: [LogicalOp, LogicalOp] })
  /** inputs: [left, right]; numPartitions: how many partitions both sides are hashed into. */
  | (OpBase & { kind: "join"; inputs: [LogicalOp, LogicalOp]; spec: JoinSpec; numPartitions?: number })
  | (UnaryOp & { kind: "write"; datasink: Datasink });

let nextOpId = 1;
/** Op ids are unique within a process; they identify ops, they do not locate UDFs in workers. */
export function newOpId(): number {
  return nextOpId++;
}

/** A plan the engine rejects; `operator` is the operator at fault, when there is one. */
export class PlanError extends RdpipeError {
  readonly code = "plan";
  constructor(message: string, readonly operator?: LogicalOp) {
    super(message);
  }
}

export function inputsOf(op: LogicalOp): LogicalOp[] {
  if (op.kind === "read") return [];
  if (op.kind === "union" || op.kind === "zip" || op.kind === "join") return op.inputs;
  return [op.input];
}

/**
 * Ops in a canonical post-order. Building the same pipeline file twice yields the same list, so an
 * op's position in it locates its UDF in a worker that evaluated the file itself.
 */
export function opsInOrder(root: LogicalOp): LogicalOp[] {
  const seen = new Set<LogicalOp>();
  const out: LogicalOp[] = [];
  const visit = (op: LogicalOp) => {
    if (seen.has(op)) return;
    seen.add(op);
    for (const input of inputsOf(op)) visit(input);
    out.push(op);
  };
  visit(root);
  return out;
}

const fnName = (fn: UdfFunction) => (fn.name && fn.name !== "anonymous" ? fn.name : "<lambda>");

export function opDisplayName(op: LogicalOp): string {
  switch (op.kind) {
    case "read": return op.name;
    case "map": return `Map(${fnName(op.fn)})`;
    case "flatMap": return `FlatMap(${fnName(op.fn)})`;
    case "filter": return `Filter(${fnName(op.fn)})`;
    case "mapBatches": return `MapBatches(${fnName(op.fn)})`;
    case "addColumn": return `AddColumn(${op.column})`;
    case "withColumn": return `WithColumn(${op.column} = ${exprText(op.expr)})`;
    case "filterExpr": return `Filter(${exprText(op.predicate)})`;
    case "select": return `Select(${op.exprs.map((e) => (e.op === "col" ? e.name : e.op === "alias" ? `${exprText(e.arg)} as ${e.name}` : exprName(e))).join(", ")})`;
    case "selectColumns": return `SelectColumns(${op.columns.join(", ")})`;
    case "dropColumns": return `DropColumns(${op.columns.join(", ")})`;
    case "renameColumns": return `RenameColumns(${Object.entries(op.mapping).map(([a, b]) => `${a}→${b}`).join(", ")})`;
    case "limit": return `Limit(${op.n})`;
    case "repartition": return `Repartition(${op.numBlocks})`;
    case "randomShuffle": return "RandomShuffle";
    case "randomSample": return `RandomSample(${op.fraction})`;
    case "randomizeBlockOrder": return "RandomizeBlockOrder";
    case "sort": return `Sort(${[op.key].flat().join(", ")})`;
    case "aggregate": return op.keys.length ? `Aggregate(by ${op.keys.join(", ")})` : "Aggregate";
    case "mapGroups": return `MapGroups(${fnName(op.fn)})`;
    case "union": return "Union";
    case "zip": return "Zip";
    case "join": return op.spec.operator;
    case "write": return datasinkName(op.datasink);
  }
}
