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

/** A path's last two parts, the whole path on hover. */
function place(row: CheckpointErroredRow): HTMLElement | false {
  if (!row.file) return false;
  const parts = row.file.split("/").filter(Boolean);
  const short = parts.length > 2 ? `…/${parts.slice(-2).join("/")}` : row.file;
  return el("span", { class: "errored-file", title: row.file }, `${short}${row.row === undefined ? "" : ` row ${row.row}`}`);
}

export function erroredRowCard(row: CheckpointErroredRow, kind: ErroredRowKind, debugButton: HTMLElement): HTMLElement {
  return el("article", { class: `errored-row ${kind}`, "data-id": JSON.stringify(row.id) },
    el("div", { class: "errored-row-head" },
      el("span", { class: "errored-id" }, kind === "failed-row" ? "The row the job failed on" : `ID ${JSON.stringify(row.id)}`),
      el("span", { class: "errored-where" }, el("span", { class: "errored-operator" }, row.operator), place(row)),
      debugButton),
    rowTable(row.input),
    el("pre", { class: "errored-error" }, withoutRow(row.error)),
    row.stack ? el("details", {}, el("summary", {}, "Stack"), el("pre", { class: "errored-stack" }, row.stack)) : false);
}
