// The panel's header: the pipeline's workspace-relative path, the job's state badge (its tone: running,
// ok, warning when rows were skipped, error), a short job ID with a copy button, links to the job it
// resumes or that resumed it, and Cancel (gone once the job has finished) and Resume (a disabled one says why on hover).
import { FINISHED_STATES, type JobSummary, type ProgressSnapshot } from "../../server/src/contract";
import { button, el } from "./dom";
import { pipelineTitle } from "./title";

export interface HeaderActions {
  cancelRequested: boolean;
  workspaceFolders: string[];
  cancel(): void;
  resume(): void;
  openJob(jobId: string): void;
}

export const shortId = (id: string) => id.slice(0, 8);

/** Rows a UDF failed on and the job skipped (onError: "skip"). */
export function skippedRows(job: JobSummary, progress: ProgressSnapshot | undefined): number {
  return Math.max(job.checkpoint.available ? job.checkpoint.counters?.erroredRows ?? 0 : 0, progress?.erroredRows ?? 0);
}

type Tone = "neutral" | "running" | "ok" | "warning" | "error";

function badge(job: JobSummary, progress: ProgressSnapshot | undefined): HTMLElement {
  const skipped = skippedRows(job, progress);
  const tone: Tone = job.state === "running" ? "running"
    : job.state === "succeeded" ? (skipped > 0 ? "warning" : "ok")
    : job.state === "failed" || job.state === "interrupted" ? "error" : "neutral";
  const glyph = { neutral: "", running: "●", ok: "✓", warning: "⚠", error: "✕" }[tone];
  const label = tone === "warning" ? `${job.state}, ${skipped.toLocaleString("en-US")} rows skipped` : job.state;
  return el("span", { class: `job-state state-${job.state} tone-${tone}`, "data-state": job.state, "data-tone": tone },
    glyph ? el("span", { class: "job-state-glyph", "aria-hidden": "true" }, glyph) : false,
    el("span", { class: "job-state-label" }, label));
}

const jobLink = (className: string, text: string, jobId: string, actions: HeaderActions) => {
  const link = el("a", { class: className, href: "#", "data-job-id": jobId, title: `Show job ${jobId}` }, text);
  link.addEventListener("click", (event) => {
    event.preventDefault();
    actions.openJob(jobId);
  });
  return link;
};

function resumeReason(job: JobSummary): string | undefined {
  const status = job.checkpoint;
  if (!FINISHED_STATES.includes(job.state)) return "The job is still running; a finished job can be resumed";
  if (!status.available) return `Nothing to resume from: ${status.reason}`;
  if (status.deleted) return "Nothing to resume from: the checkpoint was deleted after the job succeeded";
  if (job.resumedBy) return `Already resumed by job ${shortId(job.resumedBy)}`;
  return undefined;
}

export function header(job: JobSummary, progress: ProgressSnapshot | undefined, actions: HeaderActions): HTMLElement {
  const finished = FINISHED_STATES.includes(job.state);
  const resumeWhyNot = resumeReason(job);
  const copy = button("Copy ID", { class: "copy-id secondary", title: `Copy the job ID ${job.id}` }, true, () => {
    void navigator.clipboard.writeText(job.id).catch((e) => console.error(String(e)));
  });
  return el("header", {},
    el("h1", { title: job.pipeline }, pipelineTitle(job.pipeline, actions.workspaceFolders)),
    el("div", { class: "job-line" },
      badge(job, progress),
      el("span", { class: "job-id", title: job.id, "data-job-id": job.id }, `job ${shortId(job.id)}`),
      copy,
      job.resumedFrom ? jobLink("resumed-from", `resumes ${shortId(job.resumedFrom)}`, job.resumedFrom, actions) : false,
      job.resumedBy ? jobLink("resumed-by", `resumed by ${shortId(job.resumedBy)}`, job.resumedBy, actions) : false,
      !finished && (actions.cancelRequested
        ? button("Cancelling…", { class: "cancel" }, false, actions.cancel, "Cancel requested; waiting for the job to stop")
        : button("Cancel", { class: "cancel" }, true, actions.cancel)),
      button("Resume", { class: "resume" }, !resumeWhyNot, actions.resume, resumeWhyNot),
    ));
}

/** What a panel shows for a job the current server does not know. */
export function missingJob(jobId: string, serverUrl: string): HTMLElement {
  return el("div", { class: "job-missing", role: "status" },
    el("h1", {}, `Job ${shortId(jobId)} is not available`),
    el("p", { class: "job-missing-reason" },
      `Job ${shortId(jobId)} is not on the server at ${serverUrl}; it ran on another server or the server was restarted.`),
    el("p", { class: "empty" }, `Full job ID: ${jobId}`));
}
