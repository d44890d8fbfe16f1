// The job panel: a live view of one execution-server job (operators, resources, state), its checkpoint
// (committed files, IDs, output rows, errored rows) and the Resume and Cancel actions. It talks only to
// its host, through the panel messages of the contract (server/src/contract/panel.ts); its state survives a reload (getState/setState).
import {
  FINISHED_STATES, type CheckpointErroredRow, type CheckpointErrorsResponse, type CheckpointIdsResponse, type CheckpointRowsResponse, type CheckpointSummaryResponse,
  type CheckpointView, type CheckpointViewName, type HostToWebview, type JobSummary, type OperatorProgress, type ProgressSnapshot, type WebviewToHost,
} from "../../server/src/contract";
import { checkpointRowsGrid } from "./checkpoint-rows";
import { bytes, button, count, el } from "./dom";
import { type ErroredRowKind, erroredRowCard, failedRow } from "./errored-rows";
import { previewGrid } from "./grid";
import { header, missingJob } from "./header";
import { type PlanFolds, planSection } from "./plan-view";
import { nodesStrip } from "./nodes-view";
import { isFinished, operatorCard, outcome, resources } from "./progress-view";
import "./panel.css";

interface WebviewApi {
  postMessage(message: WebviewToHost): void;
  getState(): unknown;
  setState(state: PanelState): void;
}
declare function acquireVsCodeApi(): WebviewApi;

interface CheckpointPages {
  summary?: CheckpointSummaryResponse;
  ids?: CheckpointIdsResponse;
  rows?: CheckpointRowsResponse;
  errors?: CheckpointErrorsResponse;
}

interface PanelState {
  job?: JobSummary;
  progress?: ProgressSnapshot;
  pages: CheckpointPages;
  /** Set when the user pressed Cancel, until the job's state moves. */
  cancelRequested: boolean;
  hostError?: string;
  /** From the host: its workspace folders, for the title. */
  workspaceFolders?: string[];
  /** Set when the host found the job is not on its server. */
  missing?: { jobId: string; serverUrl: string };
  /** The Plan section's parts the user opened or closed. */
  planFolds?: PlanFolds;
}

const PAGE_SIZE: Record<CheckpointViewName, number> = { summary: 20, ids: 20, rows: 10, errors: 10 };

const vscode = acquireVsCodeApi();
const root = document.getElementById("panel")!;
let state: PanelState = restoredState();

function restoredState(): PanelState {
  const saved = vscode.getState() as PanelState | undefined;
  return saved && typeof saved === "object" && "pages" in saved ? saved : { pages: {}, cancelRequested: false };
}

// ------------------------------------------------------------------ messages

window.addEventListener("message", (event: MessageEvent<HostToWebview>) => {
  const message = event.data;
  switch (message.type) {
    case "jobEvent": {
      const jobEvent = message.event;
      switch (jobEvent.type) {
        case "state": showJob(jobEvent.job, jobEvent.progress); break;
        case "finished": showJob(jobEvent.job, state.progress); break;
        case "progress": if (jobEvent.jobId === state.job?.id) state.progress = jobEvent.progress; break;
        case "checkpoint": if (jobEvent.jobId === state.job?.id) state.job = { ...state.job, checkpoint: jobEvent.checkpoint }; break;
        case "log": return; // the host shows logs (the extension's OutputChannel)
      }
      break;
    }
    case "checkpointPage": storePage(message.page); break;
    case "hostInfo": state.workspaceFolders = message.workspaceFolders; break;
    case "jobMissing": state = { pages: {}, cancelRequested: false, workspaceFolders: state.workspaceFolders, missing: { jobId: message.jobId, serverUrl: message.serverUrl } }; break;
    case "hostError":
      state.hostError = message.message;
      state.cancelRequested = false;
      break;
  }
  update();
});

function showJob(job: JobSummary, progress: ProgressSnapshot | undefined): void {
  const sameJob = job.id === state.job?.id;
  const wasFinished = sameJob && FINISHED_STATES.includes(state.job!.state);
  if (!sameJob) state = { pages: {}, cancelRequested: false, workspaceFolders: state.workspaceFolders, planFolds: state.planFolds };
  state.missing = undefined;
  if (sameJob && job.state !== state.job!.state) state.cancelRequested = false;
  state.job = job;
  state.progress = progress ?? (sameJob ? state.progress : undefined);
  if (FINISHED_STATES.includes(job.state) && (!wasFinished || !state.pages.summary)) requestAllPages();
}

function storePage(page: CheckpointView): void {
  if (page.jobId !== state.job?.id) return;
  switch (page.type) {
    case "checkpoint": state.pages.summary = page; break;
    case "checkpointIds": state.pages.ids = page; break;
    case "checkpointRows": state.pages.rows = page; break;
    case "checkpointErrors": state.pages.errors = page; break;
  }
}

function inspectable(job: JobSummary | undefined): job is JobSummary {
  return !!job && job.checkpoint.available && !job.checkpoint.deleted;
}

function requestPage(view: CheckpointViewName, offset: number): void {
  if (!inspectable(state.job)) return;
  vscode.postMessage({ type: "requestCheckpointPage", jobId: state.job.id, view, offset: Math.max(0, offset), limit: PAGE_SIZE[view] });
}

function requestAllPages(): void {
  for (const view of Object.keys(PAGE_SIZE) as CheckpointViewName[]) requestPage(view, 0);
}

/**
 * What a reload restores: the state without the preview's rows, which can be thousands (the job's
 * `state` event, sent again when the reloaded panel says "ready", brings them back).
 */
function savedState(): PanelState {
  const result = state.job?.result;
  return result?.preview ? { ...state, job: { ...state.job!, result: { ...result, preview: undefined } } } : state;
}

let renderQueued = false;
function update(): void {
  vscode.setState(savedState());
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

// ------------------------------------------------------------------ rendering

function render(): void {
  const { job } = state;
  if (state.missing) {
    root.replaceChildren(missingJob(state.missing.jobId, state.missing.serverUrl));
    return;
  }
  if (!job) {
    root.replaceChildren(el("p", { class: "empty" }, "Waiting for the job…"));
    return;
  }
  const sections: (HTMLElement | false)[] = [
    header(job, state.progress, {
      cancelRequested: state.cancelRequested,
      workspaceFolders: state.workspaceFolders ?? [],
      cancel: () => {
        state.cancelRequested = true;
        vscode.postMessage({ type: "cancel", jobId: job.id });
        update();
      },
      resume: () => {
        state.hostError = undefined;
        vscode.postMessage({ type: "resume", jobId: job.id });
        update();
      },
      openJob: (jobId) => vscode.postMessage({ type: "openJob", jobId }),
    }),
    outcome(job, state.progress),
    state.hostError ? el("div", { class: "host-error", role: "alert" }, state.hostError) : false,
    jobError(job),
    erroredRows(job),
    resources(state.progress, job),
    nodesStrip(state.progress, job),
    operators(state.progress, job),
    result(job),
    job.result?.preview ? previewGrid(job.id, job.result.preview) : false,
    planSection(job.plan, state.planFolds ?? {}, (name, open) => {
      state.planFolds = { ...state.planFolds, [name]: open };
      vscode.setState(savedState());
    }),
    checkpointInspector(job),
  ];
  const previousHeader = root.querySelector(":scope > header");
  keepUnchangedButtons(previousHeader, sections[0] as HTMLElement);
  root.replaceChildren(...sections.filter((section) => section !== false));
  drawEdges();
}

/**
 * The panel is rebuilt on every progress event; a button rebuilt between a user's mouse down and up
 * loses the click. The header's buttons that did not change (same job, equal element) stay the elements they were.
 */
function keepUnchangedButtons(previous: Element | null, next: HTMLElement): void {
  const jobOf = (header: Element) => header.querySelector(".job-id")?.getAttribute("data-job-id");
  if (!previous || jobOf(previous) !== jobOf(next)) return;
  const old = Array.from(previous.querySelectorAll("button"));
  for (const fresh of Array.from(next.querySelectorAll("button"))) {
    const same = old.find((button) => button.isEqualNode(fresh));
    if (same) fresh.replaceWith(same);
  }
}

function operators(progress: ProgressSnapshot | undefined, job: JobSummary): HTMLElement {
  const list = progress?.operators ?? [];
  return el("section", { class: "operators" },
    el("h2", {}, "Operators"),
    list.length === 0 ? el("p", { class: "empty" }, job.state === "queued" ? "Queued." : isFinished(job) ? "The job ended before it reported progress." : "No progress yet.") : operatorGraph(list, job));
}

/**
 * The plan as a graph, data flowing down: operators in layers by their distance from the reads (a
 * chain is one column; a union or zip puts its inputs side by side), with an edge from each input.
 * The edges are drawn once the cards are laid out (drawEdges, after each render).
 */
function operatorGraph(list: OperatorProgress[], job: JobSummary): HTMLElement {
  const depth: number[] = [];
  list.forEach((op, i) => { depth[i] = op.inputs.length === 0 ? 0 : 1 + Math.max(...op.inputs.map((input) => depth[input] ?? 0)); });
  const layers: HTMLElement[][] = [];
  list.forEach((op, i) => (layers[depth[i]] ??= []).push(operatorCard(op, i, job)));
  return el("div", { class: "operator-graph" },
    el("div", { class: "operator-layers" }, ...layers.map((cards) => el("div", { class: "operator-layer" }, ...cards))));
}

const SVG = "http://www.w3.org/2000/svg";

function drawEdges(): void {
  for (const graph of Array.from(root.querySelectorAll<HTMLElement>(".operator-graph"))) {
    const box = graph.getBoundingClientRect();
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "operator-edges");
    svg.setAttribute("width", String(box.width));
    svg.setAttribute("height", String(box.height));
    const operators = Array.from(graph.querySelectorAll<HTMLElement>(".operator"));
    const cards = new Map(operators.map((card) => [card.dataset.index!, card.getBoundingClientRect()]));
    for (const card of operators) {
      const to = cards.get(card.dataset.index!)!;
      for (const input of (card.dataset.inputs ?? "").split(",").filter(Boolean)) {
        const from = cards.get(input);
        if (!from) continue;
        const [x1, y1, x2, y2] = [from.left + from.width / 2 - box.left, from.bottom - box.top, to.left + to.width / 2 - box.left, to.top - box.top];
        const path = document.createElementNS(SVG, "path");
        path.setAttribute("d", `M ${x1} ${y1} C ${x1} ${(y1 + y2) / 2}, ${x2} ${(y1 + y2) / 2}, ${x2} ${y2}`);
        path.setAttribute("class", "operator-edge");
        path.setAttribute("marker-end", "url(#arrow)");
        svg.append(path);
      }
    }
    const marker = document.createElementNS(SVG, "marker");
    for (const [name, value] of Object.entries({ id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto" })) marker.setAttribute(name, value);
    const head = document.createElementNS(SVG, "path");
    head.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
    head.setAttribute("class", "operator-edge-head");
    marker.append(head);
    const defs = document.createElementNS(SVG, "defs");
    defs.append(marker);
    svg.prepend(defs);
    graph.prepend(svg);
  }
}

function result(job: JobSummary): HTMLElement | false {
  const { result: outcome } = job;
  if (!outcome) return false;
  return el("section", { class: "result" },
    el("h2", {}, "Result"),
    el("p", { "data-rows-out": String(outcome.rowsOut) },
      `${count(outcome.rowsOut)} rows out in ${(outcome.durationMs / 1000).toFixed(1)} s, peak memory ${bytes(outcome.peakMemoryBytes)}`,
      outcome.written ? `; wrote ${count(outcome.written.files)} files (${bytes(outcome.written.bytes)}) to ${outcome.written.path}` : ""));
}

// ------------------------------------------------------------------ checkpoint inspector

function checkpointInspector(job: JobSummary): HTMLElement {
  const status = job.checkpoint;
  const section = el("section", { class: "checkpoint" }, el("h2", {}, "Checkpoint"));
  if (!status.available) {
    section.append(el("p", { class: "empty" }, status.reason));
    return section;
  }
  const counters = status.counters;
  section.append(el("p", { class: "checkpoint-status" },
    `${status.path} (ID column ${status.idColumn}, ${status.backend} backend)`,
    counters ? ` — ${count(counters.committedIds)} IDs in ${count(counters.committedFiles)} files committed, ${count(counters.erroredRows)} errored rows` : "",
    status.deleted ? " — deleted after the job succeeded" : ""));
  if (status.deleted) return section;
  section.append(button("Refresh", { class: "refresh" }, true, requestAllPages));
  const { summary, ids, rows } = state.pages;
  if (summary) {
    section.append(
      el("p", { class: "checkpoint-totals", "data-committed-ids": String(summary.committedIds) },
        `${count(summary.committedIds)} IDs committed by ${summary.attempts.length} attempts; ${count(summary.doneFiles)} input files done; ${count(summary.erroredRows)} errored rows waiting for a resume`),
      pagedList("Committed files", "summary", summary, el("table", { class: "files" },
        el("tr", {}, el("th", {}, "Output file"), el("th", {}, "IDs")),
        ...summary.files.map((f) => el("tr", {}, el("td", {}, f.output), el("td", {}, count(f.ids)))))));
  }
  if (ids) section.append(pagedList("Committed IDs", "ids", ids, el("ol", { class: "ids", start: String(ids.offset + 1) }, ...ids.ids.map((id) => el("li", {}, id)))));
  if (rows) section.append(pagedList("Output rows", "rows", rows, checkpointRowsGrid(rows)));
  return section;
}

function pagedList(title: string, view: CheckpointViewName, page: CheckpointView, body: HTMLElement): HTMLElement {
  const last = Math.min(page.total, page.offset + page.limit);
  return el("div", { class: "paged", "data-view": view },
    el("h3", {}, title),
    el("div", { class: "pager" },
      button("Previous", { class: "previous" }, page.offset > 0, () => requestPage(view, page.offset - page.limit)),
      el("span", { class: "page-range" }, page.total === 0 ? "none" : `${count(page.offset + 1)}–${count(last)} of ${count(page.total)}`),
      button("Next", { class: "next" }, last < page.total, () => requestPage(view, page.offset + page.limit))),
    body);
}

/** The job's error; when a UDF failed on a row (onError "fail"), shown as that row's card, to debug it. */
function jobError(job: JobSummary): HTMLElement | false {
  if (!job.error) return false;
  const row = failedRow(job);
  return row ? rowCard(job, row, "failed-row") : el("pre", { class: "job-error" }, job.error.message);
}

function rowCard(job: JobSummary, row: CheckpointErroredRow, kind: ErroredRowKind = "errored-row"): HTMLElement {
  // A row whose JSON was cut (a very long value) cannot be replayed.
  const debug = button("Debug this row", { class: "debug-row" }, !row.input.endsWith("…"), () => vscode.postMessage({ type: "debugRow", jobId: job.id, row }));
  return erroredRowCard(row, kind, debug, (at) => vscode.postMessage({ type: "openSource", file: at.file, line: at.line, column: at.column }));
}

/** The rows UDFs failed on (onError "skip"), pinned at the top, before the figures. */
function erroredRows(job: JobSummary): HTMLElement | false {
  const { errors } = state.pages;
  if (!errors || errors.total === 0 || !inspectable(job)) return false;
  return el("section", { class: "errored-rows-pinned" },
    pagedList("Errored rows", "errors", errors, el("div", { class: "errored-rows" }, ...errors.rows.map((row) => rowCard(job, row)))));
}

// The edges are laid out for the panel's width: draw them again when it changes.
window.addEventListener("resize", update);
render();
vscode.postMessage({ type: "ready" });
