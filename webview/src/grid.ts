// The preview grid: a job's preview rows (server/src/contract/jobs.ts JobPreview) as a typed,
// virtualized table. Headers show each column's Arrow type and sort on click (nulls last); a summary
// row shows the server's min/max/nulls; only the rows in view (plus a margin) are in the DOM, each at
// a fixed height, so thousands of rows scroll smoothly. A selected cell copies as JSON, and so does its row.
import type { ColumnSummary, FieldInfo, JobPreview, PreviewCell } from "../../server/src/contract";

const ROW_HEIGHT = 24;
const MAX_HEIGHT = 420;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 8;
/** Characters of a string shown in a cell; the whole value is its title. */
const SHOWN_CHARS = 120;

interface Grid {
  key: string;
  element: HTMLElement;
  scrollTop: number;
}
/** The grid last shown in each place (preview, checkpoint rows): the panel re-renders on each message, and a grid keeps its sort, selection and scroll. */
const current = new Map<string, Grid>();

/** The grid of `preview` for job `jobId`; the same element while the job and its preview stay the same. */
export function previewGrid(jobId: string, preview: JobPreview): HTMLElement {
  return dataGrid("preview", `${jobId}:${preview.rows.length}`, preview, { title: "Preview" });
}

export interface GridOptions {
  /** A heading above the grid. */
  title?: string;
  /** The position of the first row in a larger whole (a page of rows), for the row numbers. */
  firstRow?: number;
}

/** A grid of `data` in the place `slot` (its section's class); the same element while `key` and the columns stay the same. */
export function dataGrid(slot: string, key: string, data: JobPreview, options: GridOptions = {}): HTMLElement {
  const fullKey = `${key}:${data.fields.map((f) => `${f.name}:${f.type}`).join(",")}`;
  const shown = current.get(slot);
  if (shown?.key === fullKey) {
    // Once the panel has put it back in the page (a detached scroller forgets its position).
    queueMicrotask(() => shown.element.dispatchEvent(new CustomEvent("restore")));
    return shown.element;
  }
  const grid: Grid = { key: fullKey, element: document.createElement("section"), scrollTop: 0 };
  current.set(slot, grid);
  build(grid, data, slot, options);
  return grid.element;
}

const isNumeric = (type: string) => /^(U?Int\d*|Float\d*|Decimal)/.test(type);

function make(tag: string, className: string, text?: string): HTMLElement {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function build(grid: Grid, preview: JobPreview, slot: string, { title, firstRow = 0 }: GridOptions): void {
  const { fields, rows, summary } = preview;
  const section = grid.element;
  section.className = slot;
  if (title) section.append(make("h2", "", title));
  if (fields.length === 0) {
    section.append(make("p", "empty", "The plan returned no columns."));
    return;
  }
  let order = rows.map((_, i) => i);
  let sort: { column: number; descending: boolean } | undefined;
  let selected: { row: number; column: number } | undefined;

  const toolbar = make("div", "grid-toolbar");
  const status = make("span", "grid-status", `${rows.length.toLocaleString("en-US")} rows`);
  const copyCell = toolButton("Copy cell", "grid-copy-cell", () => selected && copy(JSON.stringify(rows[selected.row][selected.column])));
  const copyRow = toolButton("Copy row", "grid-copy-row", () => selected && copy(JSON.stringify(rowObject(fields, rows[selected.row]))));
  toolbar.append(status, copyCell, copyRow);

  const scroller = make("div", "grid-scroller");
  scroller.tabIndex = 0;
  const table = make("div", "grid");
  table.setAttribute("role", "grid");
  const headRows = summary.length === 0 ? 1 : 2;
  table.setAttribute("aria-rowcount", String(rows.length + headRows));
  // CSSOM properties, which the CSP allows (style attributes it would block).
  table.style.setProperty("--grid-columns", ["4em", ...fields.map((f) => (isNumeric(f.type) ? "11em" : "14em"))].join(" "));
  const head = make("div", "grid-row grid-head");
  head.setAttribute("role", "row");
  head.append(make("div", "grid-cell grid-index", "#"));
  fields.forEach((field, c) => head.append(headerCell(field, c)));
  const summaryRow = make("div", "grid-row grid-summary");
  summaryRow.setAttribute("role", "row");
  summaryRow.append(make("div", "grid-cell grid-index", "Σ"));
  fields.forEach((field, c) => summaryRow.append(summaryCell(field, summary[c])));
  const body = make("div", "grid-body");
  body.style.height = `${rows.length * ROW_HEIGHT}px`;
  // A view the server gives no summary for has no summary row.
  table.append(head, ...(headRows === 2 ? [summaryRow] : []), body);
  scroller.append(table);
  scroller.style.maxHeight = `${MAX_HEIGHT}px`;
  section.append(toolbar, rows.length === 0 ? make("p", "empty", "No rows.") : scroller);

  function headerCell(field: FieldInfo, c: number): HTMLElement {
    const cell = make("div", `grid-cell grid-header${isNumeric(field.type) ? " numeric" : ""}`);
    cell.setAttribute("role", "columnheader");
    cell.dataset.column = field.name;
    cell.title = `${field.name}: ${field.type}${field.nullable ? " (nullable)" : ""} — click to sort`;
    cell.append(make("span", "grid-name", field.name), make("span", "grid-type", field.type));
    cell.addEventListener("click", () => {
      sort = { column: c, descending: sort?.column === c ? !sort.descending : false };
      order = sortedOrder(rows, c, sort.descending, isNumeric(field.type));
      for (const header of Array.from(head.querySelectorAll<HTMLElement>(".grid-header"))) header.removeAttribute("aria-sort");
      cell.setAttribute("aria-sort", sort.descending ? "descending" : "ascending");
      renderWindow(true);
    });
    return cell;
  }

  let drawn = "";
  function renderWindow(force = false): void {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const visible = Math.ceil((scroller.clientHeight || MAX_HEIGHT) / ROW_HEIGHT);
    const last = Math.min(rows.length, first + visible + 2 * OVERSCAN);
    const range = `${first}-${last}`;
    if (range === drawn && !force) return;
    drawn = range;
    const lines: HTMLElement[] = [];
    for (let position = first; position < last; position++) lines.push(rowElement(order[position], position));
    body.replaceChildren(...lines);
  }

  function rowElement(r: number, position: number): HTMLElement {
    const line = make("div", "grid-row");
    line.setAttribute("role", "row");
    line.setAttribute("aria-rowindex", String(position + headRows + 1));
    line.dataset.row = String(r);
    line.style.top = `${position * ROW_HEIGHT}px`;
    line.append(make("div", "grid-cell grid-index", String(firstRow + r + 1)));
    fields.forEach((field, c) => {
      const cell = valueCell(field, rows[r][c]);
      if (selected?.row === r && selected.column === c) cell.setAttribute("aria-selected", "true");
      cell.addEventListener("click", () => {
        selected = { row: r, column: c };
        for (const other of Array.from(body.querySelectorAll('[aria-selected="true"]'))) other.removeAttribute("aria-selected");
        cell.setAttribute("aria-selected", "true");
        copyCell.removeAttribute("disabled");
        copyRow.removeAttribute("disabled");
      });
      line.append(cell);
    });
    return line;
  }

  let frameQueued = false;
  scroller.addEventListener("scroll", () => {
    grid.scrollTop = scroller.scrollTop;
    if (frameQueued) return;
    frameQueued = true;
    requestAnimationFrame(() => { frameQueued = false; renderWindow(); });
  });
  section.addEventListener("restore", () => {
    scroller.scrollTop = grid.scrollTop;
    renderWindow(true);
  });
  // The first window once the panel has laid the grid out.
  queueMicrotask(() => renderWindow(true));
}

function toolButton(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const element = make("button", className, label) as HTMLButtonElement;
  element.disabled = true;
  element.title = `${label} as JSON (select a cell first)`;
  element.addEventListener("click", onClick);
  return element;
}

function copy(text: string): void {
  void navigator.clipboard.writeText(text).catch((e) => console.error(String(e)));
}

function rowObject(fields: FieldInfo[], row: PreviewCell[]): Record<string, PreviewCell> {
  return Object.fromEntries(fields.map((field, c) => [field.name, row[c]]));
}

/** How a cell reads: strings as they are, other values as JSON. */
const textOf = (value: PreviewCell) => (typeof value === "string" ? value : JSON.stringify(value));

function valueCell(field: FieldInfo, value: PreviewCell): HTMLElement {
  const cell = make("div", `grid-cell${isNumeric(field.type) ? " numeric" : ""}`);
  cell.setAttribute("role", "gridcell");
  if (value === null) {
    cell.append(make("span", "grid-null", "null"));
    return cell;
  }
  const text = textOf(value);
  cell.textContent = text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text;
  cell.title = text;
  return cell;
}

function summaryCell(field: FieldInfo, summary: ColumnSummary | undefined): HTMLElement {
  const cell = make("div", `grid-cell${isNumeric(field.type) ? " numeric" : ""}`);
  if (!summary) return cell;
  cell.dataset.nulls = String(summary.nulls);
  const range = summary.min === undefined ? "" : `${shortText(summary.min)} … ${shortText(summary.max ?? null)}`;
  if (summary.min !== undefined) {
    cell.dataset.min = textOf(summary.min);
    cell.dataset.max = textOf(summary.max ?? null);
  }
  const nulls = `${summary.nulls.toLocaleString("en-US")} null${summary.nulls === 1 ? "" : "s"}`;
  cell.append(make("span", "grid-range", range), make("span", `grid-nulls${summary.nulls > 0 ? " some" : ""}`, nulls));
  cell.title = `min ${cell.dataset.min ?? "—"}\nmax ${cell.dataset.max ?? "—"}\n${nulls}`;
  return cell;
}

const shortText = (value: PreviewCell) => {
  const text = textOf(value);
  return text.length > 20 ? `${text.slice(0, 20)}…` : text;
};

/** Row indexes ordered by column `c`: numbers by value, others as text; nulls last either way. */
function sortedOrder(rows: PreviewCell[][], c: number, descending: boolean, numeric: boolean): number[] {
  // A numeric column's strings are what JSON cannot hold: int64s past 2^53, NaN, ±Infinity.
  const key = (value: PreviewCell): number | bigint | string => {
    if (typeof value === "number") return value;
    if (typeof value === "string" && numeric) return /^-?\d+$/.test(value) ? BigInt(value) : Number(value);
    return textOf(value);
  };
  const keys = rows.map((row) => (row[c] === null ? null : key(row[c])));
  const direction = descending ? -1 : 1;
  return rows.map((_, i) => i).sort((a, b) => {
    const [x, y] = [keys[a], keys[b]];
    if (x === null || y === null) return x === y ? a - b : x === null ? 1 : -1;
    const comparable = typeof x === typeof y || (typeof x !== "string" && typeof y !== "string");
    const [p, q] = comparable ? [x, y] : [String(x), String(y)];
    return p < q ? -direction : p > q ? direction : a - b;
  });
}
