import { sourceSchema } from "../io";
import { type LogicalOp, type ReadSchemas, opsInOrder } from "../plan";
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

/** The schemas of the reads under a join that a footer gives (Parquet), so the join's keys are checked before any task runs. */
export async function joinInputSchemas(root: LogicalOp, targetBlockBytes: number): Promise<ReadSchemas | undefined> {
  const ops = opsInOrder(root);
  if (!ops.some((op) => op.kind === "join")) return undefined;
  const reads: ReadSchemas = new Map();
  await Promise.all(ops.map(async (op) => {
    if (op.kind !== "read" || op.source.type !== "files") return;
    const schema = await sourceSchema(op.source, targetBlockBytes).catch(() => undefined);
    if (schema) reads.set(op, schema);
  }));
  return reads;
}
