// The executor's public entry: `execute` runs a logical plan and streams its output blocks.
import type { Block } from "../block";
import type { LogicalOp } from "../plan";
import { StreamingExecutor } from "./executor";
import type { ExecutionOptions, ExecutionResult } from "./result";
import type { ExecSettings } from "./settings";

export type { ExecSettings } from "./settings";
export type { ExecutionOptions, ExecutionResult, WrittenFile } from "./result";
export type { CheckpointProgress, OperatorProgress, ProgressSnapshot } from "./progress";
export { ExecutionError } from "./errors";
export { formatBytes, formatCount } from "./stats";
export { compareScalars, requireColumn } from "./all-to-all";
export { MapWriter, cutChunk, reduceBlocks, type PartitionSide, type ReduceContext, type ReduceFn } from "./exchange";
export {
  BacklogActorPoolAutoscaler, QueuedWorkClusterAutoscaler, type ActorPoolAutoscaler, type ActorPoolUsage, type ClusterAutoscaler, type ClusterUsage,
} from "./autoscaler";

export type Execution = AsyncGenerator<Block> & { result: Promise<ExecutionResult> };

export function execute(root: LogicalOp, settings: ExecSettings, options: ExecutionOptions = {}): Execution {
  const executor = new StreamingExecutor(root, settings, options);
  const generator = executor.run() as Execution;
  generator.result = executor.result;
  return generator;
}
