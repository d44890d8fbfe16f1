// Errored rows as the panel pins them at the top of a failed or partly-skipped job: each row once, as a
// key/value table, the error without the row repeated, where it happened and the Debug button.
import type { CheckpointErroredRow, JobSummary } from "../../server/src/contract";
import { el } from "./dom";

export type ErroredRowKind = "errored-row" | "failed-row";

/** The row the job failed on (a UDF under onError "fail"), in the shape of a checkpoint's errored row. */
export function failedRow(job: JobSummary): CheckpointErroredRow | undefined {
  const error = job.error;
  if (error?.kind !== "udf" || !error.operator || !error.rowInput) return undefined;
  return { id: null, operator: error.operator, file: error.file, row: error.row, input: error.rowInput, error: error.message, stack: error.stack, at: job.finishedAt ?? "" };
}

/** The row's columns as a table (values as JSON); a row whose JSON was cut (ending in …) or is no object stays text. */
function rowTable(input: string): HTMLElement {
  let row: unknown;
  try { row = input.endsWith("…") ? undefined : JSON.parse(input); } catch { row = undefined; }
  if (!row || typeof row !== "object" || Array.isArray(row)) return el("pre", { class: "errored-input" }, input);
  return el("table", { class: "errored-input" },
    ...Object.entries(row).map(([key, value]) => el("tr", { "data-key": key }, el("th", {}, key), el("td", {}, JSON.stringify(value)))));
}

/** The error as the engine wrote it, less the row it appends (shown above as the table). */
const withoutRow = (error: string) => error.replace(/\n\s*row: [\s\S]*$/, "");

/** Where in the pipeline file the UDF threw: the stack's first frame in a *.rdpipe.ts file. */
export interface SourceLine { name?: string; file: string; line: number; column: number }

export function udfSourceLine(stack: string | undefined): SourceLine | undefined {
  for (const frame of stack?.split("\n") ?? []) {
    const match = /^\s*at (?:(.+?) \()?(.+\.rdpipe\.[cm]?[jt]s):(\d+):(\d+)\)?\s*$/.exec(frame);
    if (match) return { name: match[1], file: match[2], line: Number(match[3]), column: Number(match[4]) };
  }
  return undefined;
}

/** A link that opens the pipeline file at the line the UDF threw. */
function sourceLink(stack: string | undefined, open: (at: SourceLine) => void): HTMLElement | false {
  const at = udfSourceLine(stack);
  if (!at) return false;
  const where = `${at.file.split("/").at(-1)}:${at.line}`;
  const link = el("a", { class: "udf-source", href: "#", title: `Open ${at.file} at line ${at.line}` }, at.name ? `${at.name} (${where})` : where);
  link.addEventListener("click", (event) => { event.preventDefault(); open(at); });
  return link;
}

/** A path's last two parts, the whole path on hover. */
function place(row: CheckpointErroredRow): HTMLElement | false {
  if (!row.file) return false;
  const parts = row.file.split("/").filter(Boolean);
  const short = parts.length > 2 ? `…/${parts.slice(-2).join("/")}` : row.file;
  return el("span", { class: "errored-file", title: row.file }, `${short}${row.row === undefined ? "" : ` row ${row.row}`}`);
}

export function erroredRowCard(
  row: CheckpointErroredRow, kind: ErroredRowKind, debugButton: HTMLElement, openSource: (at: SourceLine) => void,
): HTMLElement {
  return el("article", { class: `errored-row ${kind}`, "data-id": JSON.stringify(row.id) },
    el("div", { class: "errored-row-head" },
      el("span", { class: "errored-id" }, kind === "failed-row" ? "The row the job failed on" : `ID ${JSON.stringify(row.id)}`),
      el("span", { class: "errored-where" }, el("span", { class: "errored-operator" }, row.operator), place(row)),
      debugButton),
    rowTable(row.input),
    el("pre", { class: "errored-error" }, withoutRow(row.error)),
    sourceLink(row.stack, openSource),
    row.stack ? el("details", {}, el("summary", {}, "Stack"), el("pre", { class: "errored-stack" }, row.stack)) : false);
}
