// Checks of an all-to-all operator's keys when the Dataset is built: arguments, and key columns that
// are missing when the input's columns are known without running anything (in-memory data, column
// selections); otherwise the first block names the missing column.
import { type LogicalOp, type UdfFunction, isClass } from "../plan";

/** The input's column names, when known without reading. */
function knownColumns(op: LogicalOp): string[] | undefined {
  switch (op.kind) {
    case "read": return op.source.type === "blocks" && op.source.blocks.length > 0 ? op.source.blocks[0].schema.fields.map((f) => f.name) : undefined;
    case "selectColumns": return op.columns;
    case "dropColumns": return knownColumns(op.input)?.filter((c) => !op.columns.includes(c));
    case "renameColumns": return knownColumns(op.input)?.map((c) => op.mapping[c] ?? c);
    case "limit": case "sort": case "randomShuffle": case "repartition": return knownColumns(op.input);
    default: return undefined;
  }
}

export function checkKeys(input: LogicalOp, keys: string[], operator: string): void {
  const columns = knownColumns(input);
  const missing = columns && keys.find((key) => !columns.includes(key));
  if (missing !== undefined) throw new RangeError(`${operator}: unknown column '${missing}'; available columns: ${columns!.join(", ") || "(none)"}`);
}

export function checkSort(input: LogicalOp, keys: string[], descending: boolean | boolean[]): void {
  const operator = `Sort(${keys.join(", ")})`;
  if (keys.length === 0) throw new RangeError("sort needs at least one key column");
  if (Array.isArray(descending) && descending.length !== keys.length) {
    throw new RangeError(`${operator}: ${keys.length} key column(s) but ${descending.length} descending flag(s)`);
  }
  checkKeys(input, keys, operator);
}

export function checkGroupFunction(fn: UdfFunction): void {
  if (isClass(fn) && typeof (fn.prototype as { call?: unknown }).call !== "function") throw new RangeError("mapGroups: a class UDF needs a call method");
}
