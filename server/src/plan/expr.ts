// Expressions as plain data (rd.col("price").mul(rd.col("qty")).gt(100)): they travel to workers inside
// the plan, are typed against a schema here, and are evaluated on Arrow columns by cluster/expressions.ts.
import { DataType, type Schema } from "apache-arrow";

export type Literal = null | boolean | number | string | bigint | Date;
export type ArithFn = "add" | "sub" | "mul" | "div" | "mod";
export type CompareFn = "eq" | "ne" | "lt" | "le" | "gt" | "ge";
export type CastType = "int32" | "int64" | "float32" | "float64" | "string" | "bool";
export type StrMatchFn = "startsWith" | "endsWith" | "contains";
export type StrFn = "lower" | "upper" | "len";

export type Expr =
  | { op: "col"; name: string }
  | { op: "lit"; value: Literal }
  | { op: "arith"; fn: ArithFn; left: Expr; right: Expr }
  | { op: "compare"; fn: CompareFn; left: Expr; right: Expr }
  | { op: "logic"; fn: "and" | "or"; left: Expr; right: Expr }
  | { op: "unary"; fn: "neg" | "not" | "isNull" | "isNotNull"; arg: Expr }
  | { op: "isIn"; arg: Expr; values: Literal[] }
  | { op: "alias"; name: string; arg: Expr }
  | { op: "cast"; to: CastType; arg: Expr }
  | { op: "strMatch"; fn: StrMatchFn; arg: Expr; pattern: string }
  | { op: "str"; fn: StrFn; arg: Expr };

/** What an expression's values are, as far as typing needs to know ("time": dates and timestamps; "other": lists, structs… passed through only). */
export type ValueKind = "int" | "float" | "string" | "bool" | "time" | "null" | "other";

const SYMBOLS: Record<ArithFn | CompareFn, string> = {
  add: "+", sub: "-", mul: "*", div: "/", mod: "%", eq: "=", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=",
};

function literalText(value: Literal): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return `'${value.toISOString()}'`;
  return value === null ? "null" : typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** The expression as a person reads it: `(price * qty) > 100`. */
export function exprText(e: Expr): string {
  switch (e.op) {
    case "col": return e.name;
    case "lit": return literalText(e.value);
    case "arith": case "compare": return `(${exprText(e.left)} ${SYMBOLS[e.fn]} ${exprText(e.right)})`;
    case "logic": return `(${exprText(e.left)} ${e.fn} ${exprText(e.right)})`;
    case "unary": return e.fn === "neg" ? `-${exprText(e.arg)}` : e.fn === "not" ? `not ${exprText(e.arg)}` : `${exprText(e.arg)}.${e.fn}()`;
    case "isIn": return `${exprText(e.arg)}.isIn([${e.values.map(literalText).join(", ")}])`;
    case "alias": return `${exprText(e.arg)} as ${e.name}`;
    case "cast": return `${exprText(e.arg)}::${e.to}`;
    case "strMatch": return `${exprText(e.arg)}.str.${e.fn}(${JSON.stringify(e.pattern)})`;
    case "str": return `${exprText(e.arg)}.str.${e.fn}()`;
  }
}

/** The column an expression makes in select: its alias, the column it names, else its text. */
export function exprName(e: Expr): string {
  return e.op === "alias" || e.op === "col" ? e.name : exprText(e);
}

/** The columns an expression reads. */
export function exprColumns(e: Expr, into = new Set<string>()): Set<string> {
  switch (e.op) {
    case "col": into.add(e.name); break;
    case "lit": break;
    case "arith": case "compare": case "logic": exprColumns(e.left, into); exprColumns(e.right, into); break;
    default: exprColumns(e.arg, into);
  }
  return into;
}

/** The expression with column references renamed (undefined when a column has no new name). */
export function renameExprColumns(e: Expr, rename: (name: string) => string | undefined): Expr | undefined {
  switch (e.op) {
    case "col": { const name = rename(e.name); return name === undefined ? undefined : { op: "col", name }; }
    case "lit": return e;
    case "arith": case "compare": case "logic": {
      const left = renameExprColumns(e.left, rename), right = renameExprColumns(e.right, rename);
      return left && right ? { ...e, left, right } : undefined;
    }
    default: { const arg = renameExprColumns(e.arg, rename); return arg && { ...e, arg } as Expr; }
  }
}

export function valueKindOf(type: DataType): ValueKind {
  if (DataType.isInt(type)) return "int";
  if (DataType.isFloat(type) || DataType.isDecimal(type)) return "float";
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || (DataType.isDictionary(type) && DataType.isUtf8(type.dictionary))) return "string";
  if (DataType.isBool(type)) return "bool";
  if (DataType.isDate(type) || DataType.isTimestamp(type)) return "time";
  if (DataType.isNull(type)) return "null";
  return "other";
}

/** Column name → kind of values; what typing checks an expression against. */
export type ExprSchema = Map<string, ValueKind>;

export const exprSchemaOf = (schema: Schema): ExprSchema => new Map(schema.fields.map((f) => [f.name, valueKindOf(f.type)]));

/** An expression that does not fit its input: an unknown column, or values of the wrong kind. */
export class ExprTypeError extends Error {}

const literalKind = (v: Literal): ValueKind =>
  v === null ? "null" : v instanceof Date ? "time" : typeof v === "boolean" ? "bool" : typeof v === "string" ? "string" : typeof v === "bigint" || Number.isInteger(v) ? "int" : "float";

const isNumeric = (k: ValueKind) => k === "int" || k === "float" || k === "null";

/** The kind of an expression's values against a schema; an unknown column or a kind mismatch is an ExprTypeError. */
export function exprKind(e: Expr, schema: ExprSchema): ValueKind {
  const need = (kind: ValueKind, ok: boolean, what: string) => {
    if (!ok) throw new ExprTypeError(`${what} in ${exprText(e)}, got ${kind} values`);
  };
  switch (e.op) {
    case "col": {
      const kind = schema.get(e.name);
      if (kind === undefined) {
        throw new ExprTypeError(`unknown column '${e.name}'; the columns are ${[...schema.keys()].map((c) => `'${c}'`).join(", ")}`);
      }
      return kind;
    }
    case "lit": return literalKind(e.value);
    case "arith": {
      const left = exprKind(e.left, schema), right = exprKind(e.right, schema);
      for (const k of [left, right]) need(k, isNumeric(k) || k === "other", `${e.fn} needs numbers`);
      return e.fn !== "div" && left !== "float" && right !== "float" ? "int" : "float";
    }
    case "compare": {
      const left = exprKind(e.left, schema), right = exprKind(e.right, schema);
      const comparable = left === right || left === "null" || right === "null" || left === "other" || right === "other"
        || (isNumeric(left) && isNumeric(right)) || (left === "string" && isNumeric(right)) || (isNumeric(left) && right === "string");
      need(right, comparable, `${e.fn} compares values of one kind (${left} on the left)`);
      return "bool";
    }
    case "logic": for (const side of [e.left, e.right]) { const k = exprKind(side, schema); need(k, k === "bool" || k === "null" || k === "other", `${e.fn} needs booleans`); } return "bool";
    case "unary": {
      const k = exprKind(e.arg, schema);
      if (e.fn === "neg") { need(k, isNumeric(k) || k === "other", "neg needs numbers"); return k; }
      if (e.fn === "not") need(k, k === "bool" || k === "null" || k === "other", "not needs booleans");
      return "bool";
    }
    case "isIn": exprKind(e.arg, schema); return "bool";
    case "alias": return exprKind(e.arg, schema);
    case "cast": exprKind(e.arg, schema); return e.to === "string" ? "string" : e.to === "bool" ? "bool" : e.to.startsWith("int") ? "int" : "float";
    case "strMatch": case "str": {
      const k = exprKind(e.arg, schema);
      need(k, k === "string" || k === "null" || k === "other", `str.${e.fn} needs strings`);
      return e.op === "strMatch" ? "bool" : e.fn === "len" ? "int" : "string";
    }
  }
}
