// Checks of an all-to-all operator's keys when the Dataset is built: arguments, and key columns that
// are missing when the input's columns are known without running anything (in-memory data, column
// selections); otherwise the first block names the missing column.
import { type LogicalOp, type UdfFunction, isClass, knownSchema } from "../plan";

export function checkKeys(input: LogicalOp, keys: string[], operator: string): void {
  const columns = knownSchema(input)?.fields.map((f) => f.name);
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
