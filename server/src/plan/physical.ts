// Physical plan: the logical plan translated into stages with fusion (read → map-like chain → write
// becomes one task that runs in one worker), with the optimizer's pushdowns applied to the reads.
import type { BatchFormat } from "../block";
import { builtinSinkSpec, type BuiltinSinkSpec, type SourceDef } from "../io";
import type { CheckpointSpec } from "./checkpoint";
import type { Expr } from "./expr";
import {
  DEFAULT_BATCH_SIZE, PlanError, opDisplayName, opsInOrder,
  type ActorOptions, type ErrorPolicy, type LogicalOp, type UdfFunction,
} from "./logical";
import { optimize, type ReadPushdown } from "./optimizer";
import { aggregateExchange, joinExchange, mapGroupsExchange, projectedSource, repartitionExchange, shuffleExchange, sortExchange } from "./all-to-all";
import type { ExchangeMapStep, ExchangeSpec } from "./exchange";
import { type ReadSchemas, checkJoinKeys } from "./schema";
import type { UdfRef } from "./udf";

// ---------------------------------------------------------------------------------------------
// Physical plan

export type { UdfRef } from "./udf";

export type OnError = "fail" | "skip";

export type RowStep = { kind: "map" | "flatMap" | "filter"; operator: string; udf: UdfRef; onError: OnError };

/** A transform that runs inside a task; all of it is plain data, sent to workers. */
export type TransformSpec =
  | { kind: "rows"; steps: RowStep[] }
  | { kind: "batches"; operator: string; udf: UdfRef; batchSize?: number; batchFormat: BatchFormat; onError: OnError; callsAtOnce?: number }
  | { kind: "addColumn"; operator: string; column: string; udf: UdfRef; onError: OnError }
  | { kind: "selectColumns" | "dropColumns"; operator: string; columns: string[] }
  | { kind: "renameColumns"; operator: string; mapping: Record<string, string> }
  /** Keeps each row with probability fraction, decided by the seed and the row's input position. */
  | { kind: "sample"; operator: string; fraction: number; seed: number }
  /** Expressions, evaluated on Arrow columns (cluster/expressions.ts): a new column, a row filter, a projection. */
  | { kind: "withColumn"; operator: string; column: string; expr: Expr }
  | { kind: "filterExpr"; operator: string; predicate: Expr }
  | { kind: "select"; operator: string; exprs: Expr[] };

/** Only a flatMap or a batch UDF can make several rows of one ID; a plain row map cannot. */
export const mayRepeatIds = (transforms: TransformSpec[]) =>
  transforms.some((t) => t.kind === "batches" || (t.kind === "rows" && t.steps.some((step) => step.kind === "flatMap")));

/** An actor pool's size and what each actor is built from; sent to workers, so plain data. */
export interface ActorPoolSpec {
  udf: UdfRef;
  constructorArgs: unknown[];
  minActors: number;
  maxActors: number;
  initialActors: number;
  maxConcurrency: number;
  numCpus: number;
}

/** Where a write task finds its datasink: a built-in's plain description, else its op's position in the pipeline file. */
export interface DatasinkRef { builtin?: BuiltinSinkSpec; position?: number; name: string }

export interface SinkSpec {
  datasink: DatasinkRef;
  /** Unique to this run: what its writes are named after (WriteContext.jobId). */
  filePrefix: string;
  /** Set for a checkpointed job: each written file is committed with its IDs. */
  checkpoint?: CheckpointSpec;
}

export type PhysicalOp =
  /** position: the read's place in the pipeline file's plan, where workers find a user-defined datasource. */
  | { kind: "read"; name: string; source: SourceDef; position?: number; overrideNumBlocks?: number; transforms: TransformSpec[]; sink?: SinkSpec; exchangeMap?: ExchangeMapStep; logical: LogicalOp[] }
  | { kind: "map"; name: string; input: PhysicalOp; transforms: TransformSpec[]; sink?: SinkSpec; exchangeMap?: ExchangeMapStep; logical: LogicalOp[] }
  /** The reduce side of an exchange; its inputs are the stages whose tasks partition (their exchangeMap); later map-like ops and a write fuse into its tasks. */
  | { kind: "exchange"; name: string; inputs: PhysicalOp[]; exchange: ExchangeSpec; transforms: TransformSpec[]; sink?: SinkSpec; logical: LogicalOp[] }
  | { kind: "actorPool"; name: string; input: PhysicalOp; transforms: TransformSpec[]; actorPool: ActorPoolSpec; batchSize?: number; logical: LogicalOp[] }
  | { kind: "limit"; name: string; input: PhysicalOp; n: number; logical: LogicalOp[] }
  | { kind: "blockOrder"; name: string; input: PhysicalOp; seed: number; logical: LogicalOp[] }
  | { kind: "union"; name: string; inputs: PhysicalOp[]; logical: LogicalOp[] }
  | { kind: "zip"; name: string; inputs: [PhysicalOp, PhysicalOp]; logical: LogicalOp[] };

export interface PhysicalPlanOptions {
  /** Positions of ops in the pipeline file's plan, when the plan came from a file. */
  positions?: Map<LogicalOp, number>;
  /** A unique prefix for the files this run writes. */
  writePrefix: string;
  /** Set for a checkpointed job: the write commits each file it writes. */
  checkpoint?: CheckpointSpec;
  /** What the optimizer pushed into each read; by default what optimize(root) finds. */
  pushdowns?: Map<LogicalOp, ReadPushdown>;
  /** With pushdowns: the mapGroups ops whose reads were narrowed to what their UDF's source reads (OptimizedPlan's). */
  udfReads?: Map<LogicalOp, string[]>;
}

/** Validates the plan and fuses map-like chains (and a final write) into the stage before them. */
export function toPhysicalPlan(root: LogicalOp, options: PhysicalPlanOptions): PhysicalOp {
  validatePlan(root);
  const { pushdowns, udfReads } = options.pushdowns ? { pushdowns: options.pushdowns, udfReads: options.udfReads ?? new Map<LogicalOp, string[]>() } : optimize(root);
  const udfRef = (op: LogicalOp & { fn: UdfFunction }): UdfRef => ({
    position: options.positions?.get(op), source: op.fn.toString(), name: opDisplayName(op),
  });
  const build = (op: LogicalOp): PhysicalOp => {
    switch (op.kind) {
      case "read":
        return { kind: "read", name: op.name, source: pushedSource(op.source, pushdowns.get(op)), position: options.positions?.get(op), overrideNumBlocks: op.overrideNumBlocks, transforms: [], logical: [op] };
      case "map": case "flatMap": case "mapBatches":
        if (isClass(op.fn)) {
          // Data crosses into the pool: the actor stage fuses with nothing (as in Ray Data).
          const transform = transformOf(op, udfRef);
          if (transform.kind === "batches") transform.callsAtOnce = op.options.maxConcurrency;
          return {
            kind: "actorPool", name: opDisplayName(op), input: build(op.input), transforms: [transform],
            actorPool: actorPoolSpec(op.options, udfRef(op)), batchSize: transform.kind === "batches" ? transform.batchSize : undefined, logical: [op],
          };
        }
      // falls through: a function UDF fuses like any map-like op
      case "filter": case "addColumn": case "selectColumns": case "dropColumns": case "renameColumns": case "randomSample":
      case "withColumn": case "filterExpr": case "select": {
        const stage = fusableStage(build(op.input));
        stage.transforms = appendTransform(stage.transforms, transformOf(op, udfRef));
        stage.name = `${stage.name}->${opDisplayName(op)}`;
        stage.logical = [...stage.logical, op];
        return stage;
      }
      case "write": {
        const stage = fusableStage(build(op.input));
        stage.sink = { datasink: datasinkRef(op, options), filePrefix: options.writePrefix, checkpoint: options.checkpoint };
        if (stage.kind === "read") stage.source = withKeptEncoding(stage.source, stage.sink.datasink);
        stage.name = `${stage.name}->${opDisplayName(op)}`;
        stage.logical = [...stage.logical, op];
        return stage;
      }
      case "limit":
        return { kind: "limit", name: opDisplayName(op), input: build(op.input), n: op.n, logical: [op] };
      case "repartition": case "randomShuffle": case "sort": case "aggregate": case "mapGroups":
        return exchangeStage(opDisplayName(op), [build(op.input)], exchangeOf(op, options, udfRef, udfReads.get(op)), [op]);
      case "randomizeBlockOrder":
        return { kind: "blockOrder", name: opDisplayName(op), input: build(op.input), seed: op.seed, logical: [op] };
      case "union":
        return { kind: "union", name: "Union", inputs: op.inputs.map(build), logical: [op] };
      case "zip":
        return { kind: "zip", name: "Zip", inputs: [build(op.inputs[0]), build(op.inputs[1])], logical: [op] };
      case "join":
        return exchangeStage(op.spec.operator, [build(op.inputs[0]), build(op.inputs[1])], joinExchange(op.spec, op.numPartitions), [op]);
    }
  };
  return build(root);
}

/** A seed the plan fixes when the user gave none, so a retried map task cuts its rows as the first attempt did. */
const anySeed = () => Math.floor(Math.random() * 2 ** 32);

function exchangeOf(
  op: Extract<LogicalOp, { kind: "repartition" | "randomShuffle" | "sort" | "aggregate" | "mapGroups" }>, options: PhysicalPlanOptions,
  udfRef: (op: LogicalOp & { fn: UdfFunction }) => UdfRef, udfReads: string[] | undefined,
): ExchangeSpec {
  const name = opDisplayName(op);
  switch (op.kind) {
    case "sort": {
      const keys = [op.key].flat();
      return sortExchange(keys, Array.isArray(op.descending) ? op.descending : keys.map(() => op.descending as boolean));
    }
    case "aggregate": return aggregateExchange(op.keys, op.aggs, name, options.positions?.get(op));
    case "randomShuffle": return shuffleExchange(op.seed ?? anySeed());
    case "repartition": return repartitionExchange(op.numBlocks, { shuffle: op.shuffle, keys: op.keys, seed: anySeed() });
    case "mapGroups": return mapGroupsExchange(op.keys, udfRef(op), op.options.batchFormat ?? "columns", op.options.fnConstructorArgs ?? [], name, udfReads);
  }
}

type FusableStage = Extract<PhysicalOp, { kind: "read" | "map" | "exchange" }>;

/**
 * An exchange over `inputs`: each input's last stage becomes the exchange's map side (its tasks
 * partition their output with the side's partitioner instead of returning blocks).
 */
export function exchangeStage(name: string, inputs: PhysicalOp[], exchange: ExchangeSpec, logical: LogicalOp[]): PhysicalOp {
  const mapStages = inputs.map((input, side) => {
    const stage = fusableStage(input);
    if (stage.kind === "exchange") {
      // An exchange's reduce tasks return blocks; a separate map stage partitions them again.
      return withMapStep({ kind: "map", name: "Map", input: stage, transforms: [], logical: [] }, name, side, exchange);
    }
    return withMapStep(stage, name, side, exchange);
  });
  return { kind: "exchange", name, inputs: mapStages, exchange, transforms: [], logical };
}

function withMapStep(stage: Extract<PhysicalOp, { kind: "read" | "map" }>, operator: string, side: number, exchange: ExchangeSpec): PhysicalOp {
  stage.exchangeMap = { operator, side, partitioner: exchange.partitioners[side], combine: exchange.combine };
  if (stage.kind === "read" && stage.transforms.length === 0) stage.source = projectedSource(stage.source, exchange.combine?.columns);
  stage.name = `${stage.name}->${operator}(map)`;
  return stage;
}

/** A file read's source with the optimizer's projection, predicate and limit in its options. */
export function pushedSource(source: SourceDef, pushdown: ReadPushdown | undefined): SourceDef {
  if (!pushdown || source.type !== "files") return source;
  const { columns, optionalColumns, filter, limit } = pushdown;
  return {
    ...source,
    options: { ...source.options, ...(columns && { columns }), ...(optionalColumns && { optionalColumns }), ...(filter && { filter }), ...(limit !== undefined && { limit }) },
  };
}

/** A Parquet read written to Parquet in the same task keeps its encoded columns, so that unchanged ones are written as they were read. */
function withKeptEncoding(source: SourceDef, sink: DatasinkRef): SourceDef {
  const output = sink.builtin?.type === "files" ? sink.builtin.output : undefined;
  if (source.type !== "files" || source.format !== "parquet" || output?.format !== "parquet") return source;
  return { ...source, options: { ...source.options, keepEncoded: true } };
}

function datasinkRef(op: Extract<LogicalOp, { kind: "write" }>, options: PhysicalPlanOptions): DatasinkRef {
  const ref = { builtin: builtinSinkSpec(op.datasink, options.writePrefix), position: options.positions?.get(op), name: opDisplayName(op) };
  if (!ref.builtin && ref.position === undefined) {
    throw new PlanError(`${ref.name}: a Datasink reaches the write tasks only from a pipeline file, which every worker loads; define the pipeline in a *.rdpipe.ts file`, op);
  }
  return ref;
}

function actorPoolSpec(options: ActorOptions, udf: UdfRef): ActorPoolSpec {
  const [minActors, maxActors, initialActors] = concurrencyRange(options.concurrency!);
  return {
    udf, constructorArgs: options.fnConstructorArgs ?? [], minActors, maxActors, initialActors,
    maxConcurrency: options.maxConcurrency ?? 1, numCpus: options.numCpus ?? 1,
  };
}

/** [min, max, initial] from `concurrency: n | [min, max] | [min, max, initial]`. */
function concurrencyRange(concurrency: NonNullable<ActorOptions["concurrency"]>): [number, number, number] {
  if (typeof concurrency === "number") return [concurrency, concurrency, concurrency];
  const [min, max, initial = min] = concurrency;
  return [min, max, initial];
}

/** Map-like ops join the read, map or exchange stage before them unless it already ends in a write (or feeds an exchange). */
function fusableStage(stage: PhysicalOp): FusableStage {
  if ((stage.kind === "read" || stage.kind === "map") && !stage.sink && !stage.exchangeMap) return stage;
  if (stage.kind === "exchange" && !stage.sink) return stage;
  return { kind: "map", name: "Map", input: stage, transforms: [], logical: [] };
}

function transformOf(op: LogicalOp, udfRef: (op: LogicalOp & { fn: UdfFunction }) => UdfRef): TransformSpec {
  const operator = opDisplayName(op);
  switch (op.kind) {
    case "map": case "flatMap": case "filter":
      return { kind: "rows", steps: [{ kind: op.kind, operator, udf: udfRef(op), onError: op.options.onError ?? "fail" }] };
    case "mapBatches":
      return {
        kind: "batches", operator, udf: udfRef(op), batchFormat: op.options.batchFormat ?? "columns",
        batchSize: op.options.batchSize === undefined ? DEFAULT_BATCH_SIZE : op.options.batchSize ?? undefined,
        onError: op.options.onError ?? "fail",
      };
    case "addColumn":
      return { kind: "addColumn", operator, column: op.column, udf: udfRef(op), onError: op.options.onError ?? "fail" };
    case "selectColumns": case "dropColumns":
      return { kind: op.kind, operator, columns: op.columns };
    case "renameColumns":
      return { kind: "renameColumns", operator, mapping: op.mapping };
    case "randomSample":
      return { kind: "sample", operator, fraction: op.fraction, seed: op.seed };
    case "withColumn":
      return { kind: "withColumn", operator, column: op.column, expr: op.expr };
    case "filterExpr":
      return { kind: "filterExpr", operator, predicate: op.predicate };
    case "select":
      return { kind: "select", operator, exprs: op.exprs };
    default:
      throw new PlanError(`${operator} is not a map-like operator`);
  }
}

/** Consecutive row UDFs run as one pass over each row, so an error can name the row's input position. */
function appendTransform(transforms: TransformSpec[], next: TransformSpec): TransformSpec[] {
  const last = transforms[transforms.length - 1];
  if (last?.kind === "rows" && next.kind === "rows") {
    return [...transforms.slice(0, -1), { kind: "rows", steps: [...last.steps, ...next.steps] }];
  }
  return [...transforms, next];
}

/**
 * Rejects a plan the engine cannot run (operators after a write, actor-pool options that do not fit the
 * UDF, a join whose key columns its inputs' known schemas lack) with a PlanError naming the operator.
 */
export function validatePlan(root: LogicalOp, reads?: ReadSchemas): void {
  for (const op of opsInOrder(root)) {
    if (op.kind === "join") checkJoinKeys(op, reads, (message) => new PlanError(message, op));
    if (op.kind === "write" && op !== root) {
      throw new PlanError(`${opDisplayName(op)} must be the last operator of a pipeline; nothing can follow a write`, op);
    }
    if (op.kind === "map" || op.kind === "flatMap" || op.kind === "mapBatches") validateActorOptions(op, op.fn, op.options);
    else if ("fn" in op && isClass(op.fn) && op.kind !== "mapGroups") {
      throw new PlanError(`${opDisplayName(op)}: a class UDF runs in an actor pool, which map, flatMap and mapBatches offer; pass a function`, op);
    }
  }
}

/** The errored-row budget of each operator that skips bad rows, by display name (Infinity: no budget). */
export function erroredRowBudgets(root: LogicalOp): Map<string, number> {
  const budgets = new Map<string, number>();
  for (const op of opsInOrder(root)) {
    if ("options" in op && (op.options as ErrorPolicy).onError === "skip") {
      budgets.set(opDisplayName(op), (op.options as ErrorPolicy).maxErroredRows ?? Infinity);
    }
  }
  return budgets;
}

function validateActorOptions(op: LogicalOp, fn: UdfFunction, options: ActorOptions): void {
  const name = opDisplayName(op);
  const actorOptions = (["concurrency", "fnConstructorArgs", "numCpus", "maxConcurrency"] as const).filter((k) => options[k] !== undefined);
  if (!isClass(fn)) {
    if (actorOptions.length > 0) throw new PlanError(`${name}: ${actorOptions.join(", ")} configure an actor pool, which only a class UDF gets; a function runs as tasks`);
    return;
  }
  if (options.concurrency === undefined) {
    throw new PlanError(`${name}: a class UDF runs in an actor pool and needs { concurrency: n | [min, max] | [min, max, initial] }`, op);
  }
  if (typeof (fn.prototype as { call?: unknown }).call !== "function") throw new PlanError(`${name}: a class UDF needs a call method`, op);
  const positive = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
  const range = [options.concurrency].flat();
  const [min, max, initial] = concurrencyRange(options.concurrency);
  if (range.length > 3 || !range.every(positive) || min > max || initial < min || initial > max) {
    throw new PlanError(`${name}: concurrency must be n, [min, max] or [min, max, initial] with 1 ≤ min ≤ initial ≤ max, got ${JSON.stringify(options.concurrency)}`, op);
  }
  if (options.maxConcurrency !== undefined && !positive(options.maxConcurrency)) {
    throw new PlanError(`${name}: maxConcurrency must be a positive integer, got ${options.maxConcurrency}`, op);
  }
  if (options.numCpus !== undefined && !(options.numCpus > 0)) throw new PlanError(`${name}: numCpus must be positive, got ${options.numCpus}`, op);
  if (options.fnConstructorArgs !== undefined && !Array.isArray(options.fnConstructorArgs)) {
    throw new PlanError(`${name}: fnConstructorArgs must be an array`, op);
  }
}

export function isClass(fn: UdfFunction): boolean {
  return typeof fn === "function" && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}
