// The job-runner entry (dist/job-runner.js): one child process per job or plan inspection, so user code
// (module top level and UDFs) never runs in the server's process and a job outlives its HTTP client.
// The parent sends one RunnerRequest over IPC; the runner answers with RunnerMessages and exits.
import type { Dataset } from "../api/dataset";
import { DataContext } from "../api/context";
import { validateCheckpointPlan, type CheckpointSettings } from "../checkpoint";
import { compilePipeline, evaluatePipeline, type ModuleRef } from "../loader";
import { PlanError, opDisplayName, opsInOrder, inputsOf, validatePlan, type LogicalOp } from "../plan";
import { ViewRefused, readCheckpointView, type CheckpointViewRequest } from "./checkpoint-view";
import type { CheckpointView, JobError, JobOptions, JobResult, PlanInspection, PlanOperator, PlanProblem, ProgressSnapshot } from "./contract";
import { runDataset, schemaFields, toJobError } from "./outcome";

/** A pipeline to load: a file to compile, or an already compiled bundle. */
export type RunnerPipeline = { filename: string; code?: string };

export type RunnerRequest =
  /** `resume`: this run continues the checkpoint at that path, so the pipeline must still use it. */
  | { type: "run"; pipeline: RunnerPipeline; options: JobOptions; resume?: { checkpointPath: string } }
  | { type: "plan"; pipeline: RunnerPipeline }
  | ({ type: "checkpoint" } & CheckpointViewRequest);

export type RunnerMessage =
  /** After loading: the checkpoint this run uses, or why it runs without one. */
  | { type: "started"; checkpoint: { settings: CheckpointSettings } | { reason: string } }
  | { type: "progress"; progress: ProgressSnapshot }
  | { type: "done"; result: JobResult }
  | ({ type: "plan" } & PlanInspection)
  | { type: "checkpointView"; view: CheckpointView }
  | { type: "refused"; status: 403 | 404; message: string }
  | { type: "failed"; error: JobError };

const send = (message: RunnerMessage) => new Promise<void>((resolve) => {
  if (process.connected) process.send!(message, () => resolve()); else resolve();
});

async function load(pipeline: RunnerPipeline): Promise<Dataset> {
  const ref: ModuleRef = pipeline.code === undefined ? compilePipeline(pipeline.filename) : { filename: pipeline.filename, code: pipeline.code };
  return evaluatePipeline(ref);
}

/** The checkpoint a loaded pipeline runs with: its checkpointConfig, used only by a plan that ends in a write. */
function checkpointOf(dataset: Dataset): { settings: CheckpointSettings } | { reason: string } {
  const config = DataContext.getCurrent().checkpointConfig;
  if (!config) return { reason: "this job runs without checkpointing: its pipeline sets no DataContext.getCurrent().checkpointConfig" };
  if (dataset.op.kind !== "write") return { reason: "the plan does not end in a write, so it runs without its checkpointConfig" };
  return { settings: config.settings() };
}

async function runJob(request: Extract<RunnerRequest, { type: "run" }>, signal: AbortSignal): Promise<void> {
  const { options, resume } = request;
  const loaded = await load(request.pipeline);
  const dataset = options.untilOperator === undefined ? loaded : upToOperator(loaded, options.untilOperator);
  const checkpoint = checkpointOf(dataset);
  if (resume && !("settings" in checkpoint && checkpoint.settings.checkpointPath === resume.checkpointPath)) {
    const now = "settings" in checkpoint ? `the pipeline now uses checkpointPath ${checkpoint.settings.checkpointPath}` : checkpoint.reason;
    throw new PlanError(`cannot resume: the job it resumes used the checkpoint at ${resume.checkpointPath}, but ${now}. ` +
      "Running without that checkpoint would start over and write inputs already written; restore its checkpointConfig, or submit a new job");
  }
  const limits = DataContext.getCurrent().resourceLimits;
  if (options.workers) limits.cpu = options.workers;
  if (options.memoryBytes) limits.memoryBytes = options.memoryBytes;
  await send({ type: "started", checkpoint });
  const result = await runDataset(dataset, {
    preview: options.preview ?? 20, signal, onProgress: (progress) => void send({ type: "progress", progress }),
  });
  await send({ type: "done", result });
}

/** "Run to here": the plan ending at one of its operators (at a write, at what the write would write). */
function upToOperator(dataset: Dataset, index: number): Dataset {
  const ops = opsInOrder(dataset.op);
  const target = ops[index];
  if (!target) {
    throw new PlanError(`options.untilOperator ${index} is past the plan's last operator (${ops.length - 1}: ${opDisplayName(ops[ops.length - 1])})`);
  }
  return dataset.atOperator(target.kind === "write" ? target.input : target);
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
  await send({ type: "plan", operators, problems: planProblems(dataset, ops, operators) });
}

/** What a run would reject before reading anything: the plan checks, and the checkpoint's (with the source's columns when found). */
function planProblems(dataset: Dataset, ops: LogicalOp[], operators: PlanOperator[]): PlanProblem[] {
  const problemOf = (check: () => void): PlanProblem[] => {
    try {
      check();
      return [];
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      return [{ operatorIndex: e.operator ? ops.indexOf(e.operator) : null, message: e.message }];
    }
  };
  const checkpoint = checkpointOf(dataset);
  const sourceColumns = operators[0].schema?.map((field) => field.name);
  return [
    ...problemOf(() => validatePlan(dataset.op)),
    ...("settings" in checkpoint ? problemOf(() => validateCheckpointPlan(dataset.op, checkpoint.settings, sourceColumns)) : []),
  ];
}

async function answerCheckpoint(request: CheckpointViewRequest): Promise<void> {
  try {
    await send({ type: "checkpointView", view: await readCheckpointView(request) });
  } catch (e) {
    if (!(e instanceof ViewRefused)) throw e;
    await send({ type: "refused", status: e.status, message: e.message });
  }
}

function main(): void {
  const abort = new AbortController();
  // Cancel: the server sends SIGTERM (running tasks stop, partial output files are removed); a server
  // that went away disconnects the channel, which cancels too.
  process.once("SIGTERM", () => abort.abort());
  process.once("disconnect", () => abort.abort());
  process.once("message", (request: RunnerRequest) => {
    const work = request.type === "run" ? runJob(request, abort.signal)
      : request.type === "plan" ? inspectPlan(request.pipeline) : answerCheckpoint(request);
    work.catch((e) => send({ type: "failed", error: toJobError(e) }))
      .finally(() => process.exit(0));
  });
}

main();
