// The checkpoint's output rows page as a grid (grid.ts). The checkpoint view gives rows as JSON objects
// without a schema, so each column's display type is inferred from the page's values; the file each
// row was committed in is the last column.
import type { CheckpointRowsResponse, FieldInfo, JobPreview, PreviewCell } from "../../server/src/contract";
import { dataGrid } from "./grid";

/** A display type for a column's JSON values (null ones aside): Arrow-like names, "Mixed" when they disagree. */
export function inferType(values: PreviewCell[]): string {
  const types = new Set(values.filter((v) => v !== null).map((v) => {
    if (typeof v === "number") return Number.isInteger(v) ? "Int64" : "Float64";
    if (typeof v === "string") return "Utf8";
    if (typeof v === "boolean") return "Bool";
    return Array.isArray(v) ? "List" : "Struct";
  }));
  if (types.size === 0) return "Null";
  if (types.size === 2 && types.has("Int64") && types.has("Float64")) return "Float64";
  return types.size === 1 ? [...types][0] : "Mixed";
}

export function checkpointRowsData(page: CheckpointRowsResponse): JobPreview {
  const names = [...new Set(page.rows.flatMap(({ row }) => Object.keys(row)))];
  const rows: PreviewCell[][] = page.rows.map(({ file, row }) => [...names.map((name) => (name in row ? row[name] as PreviewCell : null)), file.split("/").at(-1) ?? file]);
  const fields: FieldInfo[] = names.map((name, c) => {
    const values = rows.map((row) => row[c]);
    return { name, type: inferType(values), nullable: values.includes(null) };
  });
  fields.push({ name: "file", type: "Utf8", nullable: false });
  return { fields, rows, summary: [] };
}

/** The grid of one page of output rows; a new page is a new grid. */
export function checkpointRowsGrid(page: CheckpointRowsResponse): HTMLElement {
  return dataGrid("checkpoint-rows", `${page.jobId}:${page.offset}:${page.rows.length}`, checkpointRowsData(page), { firstRow: page.offset });
}
