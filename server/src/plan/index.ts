// The logical plan a Dataset builds (./logical), its optimization (./optimizer), and its translation
// into physical stages with fusion: read → map-like chain → write becomes one task that runs in one worker.
export type { AggregateFn, SortKey } from "./aggregate";
export type { CheckpointBackendKind, CheckpointSpec } from "./checkpoint";
export type { ModuleRef } from "./module";
export * from "./expr";
export * from "./logical";
export { optimize, type OptimizedPlan, type ReadPushdown } from "./optimizer";
export { checkExpressions, typedExpressions } from "./expr-check";
export * from "./physical";
export { explainParts, explainPlan } from "./explain";
export { HASH_BUCKETS } from "./all-to-all";
export { JOIN_TYPES, joinOptionsProblem, joinSchema, joinSpec, outputSide, type JoinOptions, type JoinSpec, type JoinType, type KeyKind, type KeyPair, type OutputColumn } from "./join";
export { joinColumns, joinKeys, joinProblem } from "./join";
export { checkJoinKeys, knownSchema, type ReadSchemas } from "./schema";
export type {
  AggregateSpec, ChunkCut, ChunkRef, ExchangeMapSpec, ExchangeMapStep, ExchangeReduceSpec, ExchangeSpec, KeyRange, MapCombine, MapOutput, Partitioner, ReducePiece, ReducerSpec,
} from "./exchange";
