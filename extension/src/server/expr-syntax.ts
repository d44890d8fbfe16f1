// Expressions as a pipeline file writes them (rd.col("price").mul(rd.col("qty")).gt(100)), as a tree of
// text ranges shaped like the engine's expression trees, so a hover finds the node under the cursor and
// its type in the plan inspection's typed expressions (the engine's typing rules, run in the job runner).
import ts from "typescript";
import type { TypedExpr } from "../../../server/src/contract";

/** A text range as offsets into the document (as operator-calls.ts has it). */
interface OffsetRange { start: number; end: number }

/** A node of a written expression: its range and its sub-expressions, in the order TypedExpr lists them. */
export interface ExprSyntax { range: OffsetRange; args: ExprSyntax[] }

const BINARY = new Set(["add", "sub", "mul", "div", "mod", "eq", "ne", "lt", "le", "gt", "ge", "and", "or"]);
const UNARY = new Set(["neg", "not", "isNull", "isNotNull", "isIn", "alias", "cast"]);
const STRING = new Set(["startsWith", "endsWith", "contains", "lower", "upper", "len"]);

/** The tree of a written expression; a call it does not know (rd.col, rd.lit, a variable, a literal) is a leaf. */
export function exprSyntax(node: ts.Expression, file: ts.SourceFile): ExprSyntax {
  if (ts.isParenthesizedExpression(node)) return exprSyntax(node.expression, file);
  const range = { start: node.getStart(file), end: node.getEnd() };
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
    const { expression: receiver, name } = node.expression;
    const [argument] = node.arguments;
    if (BINARY.has(name.text) && argument) return { range, args: [exprSyntax(receiver, file), exprSyntax(argument, file)] };
    if (UNARY.has(name.text)) return { range, args: [exprSyntax(receiver, file)] };
    if (STRING.has(name.text) && ts.isPropertyAccessExpression(receiver) && receiver.name.text === "str") return { range, args: [exprSyntax(receiver.expression, file)] };
  }
  return { range, args: [] };
}

/** The expressions an operator call evaluates: withColumn's second argument, filter's first, each of select's. */
export function expressionArguments(call: ts.CallExpression, kind: string, file: ts.SourceFile): ExprSyntax[] | undefined {
  const args = kind === "withColumn" ? call.arguments.slice(1, 2) : kind === "filterExpr" ? call.arguments.slice(0, 1) : kind === "select" ? call.arguments : undefined;
  return args?.map((argument) => exprSyntax(argument, file));
}

const inside = (range: OffsetRange, offset: number) => range.start <= offset && offset < range.end;

/**
 * The typed node under `offset`: the innermost written node containing it, found in `typed` by the same
 * path (undefined where the written and the inspected trees part, e.g. a file edited since its save).
 */
export function typedExprAt(written: ExprSyntax[], typed: TypedExpr[], offset: number): { node: TypedExpr; range: OffsetRange } | undefined {
  const root = written.findIndex((w) => inside(w.range, offset));
  if (root < 0 || written.length !== typed.length) return undefined;
  let [w, t] = [written[root], typed[root]];
  for (;;) {
    const next = w.args.findIndex((arg) => inside(arg.range, offset));
    if (next < 0) return { node: t, range: w.range };
    if (w.args.length !== t.args.length) return undefined;
    [w, t] = [w.args[next], t.args[next]];
  }
}
