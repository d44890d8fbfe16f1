// Where a pipeline file builds each operator: the Dataset method calls found with the TypeScript compiler
// API, in the plan's canonical order, so an operator the engine reports (by index) gets a range in the file.
import ts from "typescript";
import type { PlanOperator } from "../../../server/src/contract";
import { type ExprSyntax, expressionArguments } from "./expr-syntax";

/** The operator kind each Dataset-building call creates (read functions of the API, Dataset and GroupedData methods). */
const OPERATOR_KIND_OF_CALL: Record<string, string> = {
  readParquet: "read", readCsv: "read", readJson: "read", readText: "read", readBinaryFiles: "read",
  range: "read", fromItems: "read", fromArrow: "read", readDatasource: "read", readSql: "read", readImages: "read", readLance: "read",
  map: "map", flatMap: "flatMap", filter: "filter", mapBatches: "mapBatches", addColumn: "addColumn",
  selectColumns: "selectColumns", dropColumns: "dropColumns", renameColumns: "renameColumns", withColumn: "withColumn", select: "select",
  limit: "limit", repartition: "repartition", randomShuffle: "randomShuffle", sort: "sort", aggregate: "aggregate", mapGroups: "mapGroups",
  randomSample: "randomSample", randomizeBlockOrder: "randomizeBlockOrder",
  union: "union", zip: "zip", writeParquet: "write", writeCsv: "write", writeJson: "write", writeSql: "write", writeImages: "write", writeLance: "write", writeDatasink: "write",
};

/** A text range as offsets into the document. */
export interface OffsetRange { start: number; end: number }

/** A string naming a column in a column operator's arguments: the text between the quotes and where it is. */
export interface ColumnArgument { column: string; range: OffsetRange }

export interface OperatorCall {
  method: string;
  kind: string;
  /** From the method name to the closing parenthesis: `mapBatches(Scorer, {...})`. */
  range: OffsetRange;
  /** The method name alone. */
  nameRange: OffsetRange;
  /** The call this one is chained on, when that call builds an operator too. */
  receiver?: OperatorCall;
  /** Column names given as strings to selectColumns, dropColumns, renameColumns (its keys), select, and inside `col("…")` of expressions. */
  columnArguments: ColumnArgument[];
  /** withColumn, filter(expr), select: the expressions in its arguments, as written. */
  expressions?: ExprSyntax[];
}

const rangeOf = (node: ts.Node, file: ts.SourceFile): OffsetRange => ({ start: node.getStart(file), end: node.getEnd() });

/** String literals naming input columns: `"a"`, `["a", "b"]`, or the keys of `{ a: "x" }` (renameColumns). */
function columnArgumentsOf(call: ts.CallExpression, kind: string, file: ts.SourceFile): ColumnArgument[] {
  const [first] = call.arguments;
  if (!first) return [];
  const literal = (node: ts.Node): ColumnArgument[] => ts.isStringLiteralLike(node)
    ? [{ column: node.text, range: { start: node.getStart(file) + 1, end: node.getEnd() - 1 } }] : [];
  if (kind === "selectColumns" || kind === "dropColumns") {
    return ts.isArrayLiteralExpression(first) ? first.elements.flatMap(literal) : literal(first);
  }
  if (kind === "renameColumns" && ts.isObjectLiteralExpression(first)) {
    return first.properties.flatMap((property) => (property.name ? literal(property.name) : []));
  }
  if (kind === "withColumn" || kind === "filterExpr" || kind === "select") {
    const found: ColumnArgument[] = kind === "select" ? call.arguments.flatMap(literal) : [];
    // `rd.col("x")` or `col("x")` anywhere in the arguments (not inside functions).
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node)) return;
      if (ts.isCallExpression(node)) {
        const callee = node.expression;
        const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : undefined;
        if (name === "col" && node.arguments[0]) found.push(...literal(node.arguments[0]));
      }
      ts.forEachChild(node, visit);
    };
    call.arguments.forEach(visit);
    return found;
  }
  return [];
}

/** filter(expression) builds a filterExpr operator, filter(function) a filter. */
function kindOfCall(method: string, call: ts.CallExpression): string | undefined {
  const kind = OPERATOR_KIND_OF_CALL[method];
  const [first] = call.arguments;
  return kind === "filter" && first && (ts.isCallExpression(first) || ts.isParenthesizedExpression(first)) ? "filterExpr" : kind;
}

/**
 * The operator-building calls of a pipeline file, ordered as the engine orders operators (post-order:
 * a call's inputs end before it does). A call counts when it is a read function, or a Dataset method
 * chained on a call that counts or on a variable initialised with one; calls inside UDFs do not.
 */
export function findOperatorCalls(fileName: string, text: string): OperatorCall[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const initializers = new Map<string, ts.Expression>();
  const collectVariables = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) initializers.set(node.name.text, node.initializer);
    ts.forEachChild(node, collectVariables);
  };
  collectVariables(file);

  const calls = new Map<ts.CallExpression, OperatorCall | null>();
  /** The operator call an expression evaluates to: a call, or a variable initialised with one. */
  const datasetCallOf = (expression: ts.Expression, seen: Set<string>): OperatorCall | null => {
    if (ts.isParenthesizedExpression(expression) || ts.isAwaitExpression(expression) || ts.isAsExpression(expression)) return datasetCallOf(expression.expression, seen);
    if (ts.isCallExpression(expression)) return operatorCallOf(expression);
    if (ts.isIdentifier(expression) && !seen.has(expression.text)) {
      const initializer = initializers.get(expression.text);
      return initializer ? datasetCallOf(initializer, new Set([...seen, expression.text])) : null;
    }
    return null;
  };
  /** The call as an operator, null when it builds none; `x.groupBy(k).aggregate(...)` chains on x. */
  const operatorCallOf = (call: ts.CallExpression): OperatorCall | null => {
    if (calls.has(call)) return calls.get(call)!;
    const callee = call.expression;
    const name = ts.isPropertyAccessExpression(callee) ? callee.name : ts.isIdentifier(callee) ? callee : undefined;
    let result: OperatorCall | null = null;
    if (name) {
      const method = name.text;
      const receiverExpression = ts.isPropertyAccessExpression(callee) ? callee.expression : undefined;
      const receiverIsGroupBy = receiverExpression && ts.isCallExpression(receiverExpression)
        && ts.isPropertyAccessExpression(receiverExpression.expression) && receiverExpression.expression.name.text === "groupBy";
      const receiver = receiverExpression === undefined ? null
        : datasetCallOf(receiverIsGroupBy ? (receiverExpression.expression as ts.PropertyAccessExpression).expression : receiverExpression, new Set());
      const kind = kindOfCall(method, call);
      const isRead = kind === "read";
      if (kind && (isRead || receiver)) {
        result = {
          method, kind, range: { start: name.getStart(file), end: call.getEnd() }, nameRange: rangeOf(name, file),
          receiver: isRead ? undefined : receiver ?? undefined, columnArguments: columnArgumentsOf(call, kind, file),
          expressions: expressionArguments(call, kind, file),
        };
      }
    }
    calls.set(call, result);
    return result;
  };
  const found: { call: OperatorCall; end: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isClassLike(node)) return; // class UDF bodies build no operators
    if (ts.isCallExpression(node)) {
      const operator = operatorCallOf(node);
      if (operator) found.push({ call: operator, end: node.getEnd() });
      for (const argument of node.arguments) if (!ts.isFunctionLike(argument)) visit(argument); // function UDFs build none
      visit(node.expression);
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found.sort((a, b) => a.end - b.end).map((f) => f.call);
}

/** Pairs each plan operator with its call: calls in order, matched by kind, skipping calls of operators the plan does not use. */
export function matchOperatorsToCalls(operators: PlanOperator[], calls: OperatorCall[]): Map<number, OperatorCall> {
  const matched = new Map<number, OperatorCall>();
  let next = 0;
  for (const operator of operators) {
    const at = calls.findIndex((call, i) => i >= next && call.kind === operator.kind);
    if (at < 0) continue;
    matched.set(operator.index, calls[at]);
    next = at + 1;
  }
  return matched;
}
