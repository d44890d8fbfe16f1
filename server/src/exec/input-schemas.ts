import type { PhysicalOperator } from "./physical";
import { ExecutionError } from "./errors";

/** The files of one read have one schema; a column null in every row of a file fits any type (as readFileBlocks allows). */
export class InputSchemas {
  private readonly first = new Map<PhysicalOperator, { file: string; schema: string[] }>();

  /** The error when `file`'s columns differ from those of the read's first file. */
  check(op: PhysicalOperator, file: string, schema: string[]): ExecutionError | undefined {
    const first = this.first.get(op);
    if (!first) { this.first.set(op, { file, schema }); return undefined; }
    const fits = (a: string, b: string) => a === b || (a.slice(0, a.indexOf(": ")) === b.slice(0, b.indexOf(": ")) && (a.endsWith(": Null") || b.endsWith(": Null")));
    if (first.schema.length === schema.length && schema.every((column, i) => fits(column, first.schema[i]))) return undefined;
    return new ExecutionError(`columns differ across files: ${file} has {${schema.join(", ")}} but ${first.file} has {${first.schema.join(", ")}}`,
      { kind: "input", message: "columns differ across files", file });
  }
}
