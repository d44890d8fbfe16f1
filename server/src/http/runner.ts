// The job-runner entry (dist/job-runner.js): one child process per job or plan inspection, so user code
// (module top level and UDFs) never runs in the server's process and a job outlives its HTTP client.
// The parent sends one RunnerRequest over IPC; the runner answers with RunnerMessages and exits.
import type { Dataset } from "../api/dataset";
import { DataContext } from "../api/context";
import { compilePipeline, evaluatePipeline, type ModuleRef } from "../loader";
import { opDisplayName, opsInOrder, inputsOf } from "../plan";
import type { JobError, JobOptions, JobResult, PlanOperator, ProgressSnapshot } from "./contract";
import { runDataset, schemaFields, toJobError } from "./outcome";

/** A pipeline to load: a file to compile, or an already compiled bundle. */
export type RunnerPipeline = { filename: string; code?: string };

export type RunnerRequest =
  | { type: "run"; pipeline: RunnerPipeline; options: JobOptions }
  | { type: "plan"; pipeline: RunnerPipeline };

export type RunnerMessage =
  | { type: "started" }
  | { type: "progress"; progress: ProgressSnapshot }
  | { type: "done"; result: JobResult }
  | { type: "plan"; operators: PlanOperator[] }
  | { type: "failed"; error: JobError };

const send = (message: RunnerMessage) => new Promise<void>((resolve) => {
  if (process.connected) process.send!(message, () => resolve()); else resolve();
});

async function load(pipeline: RunnerPipeline): Promise<Dataset> {
  const ref: ModuleRef = pipeline.code === undefined ? compilePipeline(pipeline.filename) : { filename: pipeline.filename, code: pipeline.code };
  return evaluatePipeline(ref);
}

async function runJob(pipeline: RunnerPipeline, options: JobOptions, signal: AbortSignal): Promise<void> {
  const dataset = await load(pipeline);
  const limits = DataContext.getCurrent().resourceLimits;
  if (options.workers) limits.cpu = options.workers;
  if (options.memoryBytes) limits.memoryBytes = options.memoryBytes;
  await send({ type: "started" });
  const result = await runDataset(dataset, {
    preview: options.preview ?? 20, signal, onProgress: (progress) => void send({ type: "progress", progress }),
  });
  await send({ type: "done", result });
}

/** Each operator with its output schema, found by executing the plan up to it until its first block (writes are not run). */
async function inspectPlan(pipeline: RunnerPipeline): Promise<void> {
  const dataset = await load(pipeline);
  const ops = opsInOrder(dataset.op);
  const operators: PlanOperator[] = [];
  for (const [index, op] of ops.entries()) {
    const operator: PlanOperator = {
      index, name: opDisplayName(op), kind: op.kind, inputs: inputsOf(op).map((input) => ops.indexOf(input)), schema: null,
    };
    if (op.kind === "write") {
      operator.schema = operators[operator.inputs[0]].schema;
    } else {
      try {
        operator.schema = schemaFields(await dataset.atOperator(op).limit(1).schema());
      } catch (e) {
        operator.schemaError = toJobError(e).message;
      }
    }
    operators.push(operator);
  }
  await send({ type: "plan", operators });
}

function main(): void {
  const abort = new AbortController();
  // Cancel: the server sends SIGTERM (running tasks stop, partial output files are removed); a server
  // that went away disconnects the channel, which cancels too.
  process.once("SIGTERM", () => abort.abort());
  process.once("disconnect", () => abort.abort());
  process.once("message", (request: RunnerRequest) => {
    const work = request.type === "run" ? runJob(request.pipeline, request.options, abort.signal) : inspectPlan(request.pipeline);
    work.catch((e) => send({ type: "failed", error: toJobError(e) }))
      .finally(() => process.exit(0));
  });
}

main();
