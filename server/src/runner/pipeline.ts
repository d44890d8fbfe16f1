// A job's pipeline in the runner: loaded from its file or bundle, cut at an operator for "run to here",
// the checkpoint it runs with, and the job's resource limits.
import type { Dataset } from "../api/dataset";
import { DataContext } from "../api/context";
import type { JobOptions } from "../contract";
import { compilePipeline, evaluatePipeline } from "../loader";
import { PlanError, opDisplayName, opsInOrder, type ModuleRef } from "../plan";
import type { RunCheckpoint, RunnerPipeline } from "./protocol";

export async function loadRunnerPipeline(pipeline: RunnerPipeline): Promise<Dataset> {
  const ref: ModuleRef = pipeline.code === undefined ? compilePipeline(pipeline.filename) : { filename: pipeline.filename, code: pipeline.code };
  return evaluatePipeline(ref);
}

/** The checkpoint a loaded pipeline runs with: its checkpointConfig, used only by a plan that ends in a write. */
export function checkpointOf(dataset: Dataset): RunCheckpoint {
  const config = DataContext.getCurrent().checkpointConfig;
  if (!config) return { reason: "this job runs without checkpointing: its pipeline sets no DataContext.getCurrent().checkpointConfig" };
  if (dataset.op.kind !== "write") return { reason: "the plan does not end in a write, so it runs without its checkpointConfig" };
  return { settings: config.settings() };
}

/** The options' worker and memory limits win over what the pipeline file set. */
export function applyResourceOptions(options: Pick<JobOptions, "workers" | "memoryBytes">): void {
  const limits = DataContext.getCurrent().resourceLimits;
  if (options.workers) limits.cpu = options.workers;
  if (options.memoryBytes) limits.memoryBytes = options.memoryBytes;
}

/** "Run to here": the plan ending at one of its operators (at a write, at what the write would write). */
export function upToOperator(dataset: Dataset, index: number): Dataset {
  const ops = opsInOrder(dataset.op);
  const target = ops[index];
  if (!target) {
    throw new PlanError(`options.untilOperator ${index} is past the plan's last operator (${ops.length - 1}: ${opDisplayName(ops[ops.length - 1])})`);
  }
  return dataset.atOperator(target.kind === "write" ? target.input : target);
}
