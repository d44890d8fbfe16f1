// The job-runner entry (dist/job-runner.js): one child process per job, plan inspection or checkpoint
// view, so user code (module top level and UDFs) never runs in the server's process and a job outlives
// its HTTP client. The parent sends one RunnerRequest over IPC; the runner answers and exits.
import { DataContext } from "../api/context";
import { jobHead, tuneEngineProcess } from "../cluster";
import { PlanError } from "../plan";
import { ViewRefused, readCheckpointView, type CheckpointViewRequest } from "./checkpoint-view";
import { inspectPlan } from "./inspect";
import { runDataset, toJobError } from "./outcome";
import { applyResourceOptions, checkpointOf, loadRunnerPipeline, upToOperator } from "./pipeline";
import type { RunnerMessage, RunnerPipeline, RunnerRequest } from "./protocol";

const send = (message: RunnerMessage) => new Promise<void>((resolve) => {
  if (process.connected) process.send!(message, () => resolve()); else resolve();
});

async function runJob(request: Extract<RunnerRequest, { type: "run" }>, signal: AbortSignal): Promise<void> {
  const { options, resume } = request;
  const loaded = await loadRunnerPipeline(request.pipeline);
  const dataset = options.untilOperator === undefined ? loaded : upToOperator(loaded, options.untilOperator);
  const checkpoint = checkpointOf(dataset);
  if (resume && !("settings" in checkpoint && checkpoint.settings.checkpointPath === resume.checkpointPath)) {
    const now = "settings" in checkpoint ? `the pipeline now uses checkpointPath ${checkpoint.settings.checkpointPath}` : checkpoint.reason;
    throw new PlanError(`cannot resume: the job it resumes used the checkpoint at ${resume.checkpointPath}, but ${now}. ` +
      "Running without that checkpoint would start over and write inputs already written; restore its checkpointConfig, or submit a new job");
  }
  applyResourceOptions(options);
  const context = DataContext.getCurrent();
  if (request.cluster) {
    // The server brings the nodes (sessions on the nodes joined to it): this head never launches any.
    context.cluster = jobHead(request.cluster);
    await send({ type: "head", head: await context.cluster.start() });
  }
  await send({ type: "started", checkpoint, plan: await dataset.explainParts() });
  try {
    const result = await runDataset(dataset, {
      preview: options.preview ?? 20, signal, onProgress: (progress) => void send({ type: "progress", progress }),
    });
    await send({ type: "done", result });
  } finally {
    await context.cluster?.shutdown();
  }
}

async function answerPlan(pipeline: RunnerPipeline): Promise<void> {
  await send({ type: "plan", ...await inspectPlan(await loadRunnerPipeline(pipeline)) });
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
  tuneEngineProcess();
  const abort = new AbortController();
  // Cancel: the server sends SIGTERM (running tasks stop, partial output files are removed); a server
  // that went away disconnects the channel, which cancels too.
  process.once("SIGTERM", () => abort.abort());
  process.once("disconnect", () => abort.abort());
  process.once("message", (request: RunnerRequest) => {
    const work = request.type === "run" ? runJob(request, abort.signal)
      : request.type === "plan" ? answerPlan(request.pipeline) : answerCheckpoint(request);
    work.catch((e) => send({ type: "failed", error: toJobError(e) }))
      .finally(() => process.exit(0));
  });
}

main();
