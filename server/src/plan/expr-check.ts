// Plan-time checks of expressions: each expression is typed against the schema that reaches it, found
// from the source (a Parquet footer through the metadata cache, in-memory blocks, range) and carried
// through the operators whose output columns the plan shows. Nothing is read but footers.
import type { Schema } from "apache-arrow";
import type { TypedExpr } from "../contract";
import { sourceSchema } from "../io";
import { ExprTypeError, exprKind, exprName, exprSchemaOf, exprText, type Expr, type ExprSchema } from "./expr";
import { PlanError, inputsOf, opDisplayName, opsInOrder, type LogicalOp } from "./logical";

const EXPRESSION_KINDS = new Set(["withColumn", "filterExpr", "select"]);

/** The columns a read yields where they are known without reading rows. */
async function readSchema(op: Extract<LogicalOp, { kind: "read" }>, targetBlockBytes: number): Promise<ExprSchema | undefined> {
  const { source } = op;
  if (source.type === "range") return new Map([["id", "int"]]);
  const schema: Schema | undefined = source.type === "blocks" ? source.blocks[0]?.schema : await sourceSchema(source, targetBlockBytes).catch(() => undefined);
  return schema && exprSchemaOf(schema);
}

/** Throws a PlanError at the first expression that names a column its input lacks, or does not fit its values. */
export async function checkExpressions(root: LogicalOp, targetBlockBytes: number): Promise<void> {
  const ops = opsInOrder(root);
  if (!ops.some((op) => EXPRESSION_KINDS.has(op.kind))) return;
  const schemas = new Map<LogicalOp, ExprSchema | undefined>();
  for (const op of ops) {
    const input = inputsOf(op).length === 1 ? schemas.get(inputsOf(op)[0]) : undefined;
    let schema: ExprSchema | undefined;
    if (op.kind === "read") {
      schema = await readSchema(op, targetBlockBytes);
    } else if (op.kind === "union") {
      schema = schemas.get(op.inputs[0]);
    } else if (input) {
      schema = outputOf(op, input);
    }
    schemas.set(op, schema);
  }
}

/** The columns an operator outputs given its input's; undefined where a UDF decides them. Types its expressions. */
function outputOf(op: LogicalOp, input: ExprSchema): ExprSchema | undefined {
  const typed = (e: Expr) => {
    try {
      return exprKind(e, input);
    } catch (err) {
      if (err instanceof ExprTypeError) throw new PlanError(`${opDisplayName(op)}: ${err.message}`, op);
      throw err;
    }
  };
  switch (op.kind) {
    case "withColumn": return new Map(input).set(op.column, typed(op.expr));
    case "filterExpr": {
      const kind = typed(op.predicate);
      if (kind !== "bool" && kind !== "null" && kind !== "other") throw new PlanError(`${opDisplayName(op)}: a filter needs a boolean expression, got ${kind} values`, op);
      return input;
    }
    case "select": return new Map(op.exprs.map((e) => [exprName(e), typed(e)]));
    case "selectColumns": return new Map(op.columns.filter((c) => input.has(c)).map((c) => [c, input.get(c)!]));
    case "dropColumns": return new Map([...input].filter(([c]) => !op.columns.includes(c)));
    case "renameColumns": return new Map([...input].map(([c, k]) => [op.mapping[c] ?? c, k]));
    case "limit": case "sort": case "repartition": case "randomShuffle": case "write": return input;
    case "addColumn": return new Map(input).set(op.column, "other");
    default: return undefined;
  }
}

/** An expression's sub-expressions, in the order a call chain writes them (the receiver first). */
function exprArgs(e: Expr): Expr[] {
  switch (e.op) {
    case "col": case "lit": return [];
    case "arith": case "compare": case "logic": return [e.left, e.right];
    default: return [e.arg];
  }
}

/** The expression's tree, each node typed against the schema by the rules the plan checks (an error where it does not fit). */
export function typedExpr(e: Expr, schema: ExprSchema): TypedExpr {
  const args = exprArgs(e).map((arg) => typedExpr(arg, schema));
  try {
    return { text: exprText(e), type: exprKind(e, schema), args };
  } catch (err) {
    if (!(err instanceof ExprTypeError)) throw err;
    return { text: exprText(e), error: err.message, args };
  }
}

/** The expressions an operator evaluates, typed against its input's schema; undefined for an operator without expressions. */
export function typedExpressions(op: LogicalOp, input: Schema): TypedExpr[] | undefined {
  const schema = exprSchemaOf(input);
  switch (op.kind) {
    case "withColumn": return [{ ...typedExpr(op.expr, schema), column: op.column }];
    case "filterExpr": return [typedExpr(op.predicate, schema)];
    case "select": return op.exprs.map((e) => ({ ...typedExpr(e, schema), column: exprName(e) }));
    default: return undefined;
  }
}
