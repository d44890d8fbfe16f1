// Expressions a pipeline builds (rd.col, rd.lit and their methods) and the logical operators that carry
// them (withColumn, filter(expr), select). An expression is plain data (plan's Expr): it reaches workers
// with the plan and is evaluated there on Arrow columns, and the optimizer can read it.
import {
  newOpId, type ArithFn, type CastType, type CompareFn, type Expr as ExprNode, type Literal, type LogicalOp, exprName, exprText,
} from "../plan";

/** A literal or an expression, wherever an expression is taken. */
export type ExprLike = Expr | Literal;

const CAST_TYPES: CastType[] = ["int32", "int64", "float32", "float64", "string", "bool"];

function checkLiteral(value: unknown, where: string): Literal {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`${where}: a literal must be a finite number, got ${value}`);
  if (["number", "string", "boolean", "bigint"].includes(typeof value)) return value as Literal;
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  throw new TypeError(`${where}: expected an expression (rd.col, rd.lit) or a number, string, boolean, bigint, Date or null, got ${typeof value}`);
}

const nodeOf = (x: ExprLike, where: string): ExprNode => (x instanceof Expr ? x.node : { op: "lit", value: checkLiteral(x, where) });

/** String functions of an expression: `rd.col("name").str.lower()`. */
export class StringFunctions {
  constructor(private readonly node: ExprNode) {}
  private match(fn: "startsWith" | "endsWith" | "contains", pattern: string): Expr {
    if (typeof pattern !== "string") throw new TypeError(`str.${fn}: expected a string, got ${typeof pattern}`);
    return new Expr({ op: "strMatch", fn, arg: this.node, pattern });
  }
  startsWith(prefix: string): Expr { return this.match("startsWith", prefix); }
  endsWith(suffix: string): Expr { return this.match("endsWith", suffix); }
  contains(text: string): Expr { return this.match("contains", text); }
  lower(): Expr { return new Expr({ op: "str", fn: "lower", arg: this.node }); }
  upper(): Expr { return new Expr({ op: "str", fn: "upper", arg: this.node }); }
  /** Length in characters (code points). */
  len(): Expr { return new Expr({ op: "str", fn: "len", arg: this.node }); }
}

/**
 * A column expression (Ray Data's `col`/`lit`), evaluated vectorized in workers. Nulls follow SQL:
 * arithmetic and comparisons with a null give null, a filter keeps only rows where it is true.
 */
export class Expr {
  constructor(readonly node: ExprNode) {}

  private arith(fn: ArithFn, other: ExprLike): Expr { return new Expr({ op: "arith", fn, left: this.node, right: nodeOf(other, fn) }); }
  private compare(fn: CompareFn, other: ExprLike): Expr { return new Expr({ op: "compare", fn, left: this.node, right: nodeOf(other, fn) }); }

  add(other: ExprLike): Expr { return this.arith("add", other); }
  sub(other: ExprLike): Expr { return this.arith("sub", other); }
  mul(other: ExprLike): Expr { return this.arith("mul", other); }
  /** Always floating point; division by zero gives null. */
  div(other: ExprLike): Expr { return this.arith("div", other); }
  mod(other: ExprLike): Expr { return this.arith("mod", other); }
  neg(): Expr { return new Expr({ op: "unary", fn: "neg", arg: this.node }); }

  eq(other: ExprLike): Expr { return this.compare("eq", other); }
  ne(other: ExprLike): Expr { return this.compare("ne", other); }
  lt(other: ExprLike): Expr { return this.compare("lt", other); }
  le(other: ExprLike): Expr { return this.compare("le", other); }
  gt(other: ExprLike): Expr { return this.compare("gt", other); }
  ge(other: ExprLike): Expr { return this.compare("ge", other); }

  and(other: ExprLike): Expr { return new Expr({ op: "logic", fn: "and", left: this.node, right: nodeOf(other, "and") }); }
  or(other: ExprLike): Expr { return new Expr({ op: "logic", fn: "or", left: this.node, right: nodeOf(other, "or") }); }
  not(): Expr { return new Expr({ op: "unary", fn: "not", arg: this.node }); }

  isNull(): Expr { return new Expr({ op: "unary", fn: "isNull", arg: this.node }); }
  isNotNull(): Expr { return new Expr({ op: "unary", fn: "isNotNull", arg: this.node }); }
  isIn(values: unknown[]): Expr {
    if (!Array.isArray(values)) throw new TypeError("isIn: expected an array of values");
    return new Expr({ op: "isIn", arg: this.node, values: values.map((v) => checkLiteral(v, "isIn")) });
  }

  /** Names the column this expression makes in select (and in withColumn's place, the name given there). */
  alias(name: string): Expr {
    if (typeof name !== "string" || name === "") throw new TypeError("alias: expected a non-empty column name");
    return new Expr({ op: "alias", name, arg: this.node });
  }

  cast(type: CastType): Expr {
    if (!CAST_TYPES.includes(type)) throw new TypeError(`cast: expected one of ${CAST_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
    return new Expr({ op: "cast", to: type, arg: this.node });
  }

  get str(): StringFunctions { return new StringFunctions(this.node); }

  /** The column name this expression gets in select. */
  get name(): string { return exprName(this.node); }

  toString(): string { return exprText(this.node); }
}

/** The column `name` of the rows. */
export function col(name: string): Expr {
  if (typeof name !== "string" || name === "") throw new TypeError("col: expected a column name");
  return new Expr({ op: "col", name });
}

/** A constant: a number, string, boolean, bigint, Date (compared with date and timestamp columns) or null. */
export function lit(value: Literal): Expr {
  return new Expr({ op: "lit", value: checkLiteral(value, "lit") });
}

function expression(x: unknown, method: string): ExprNode {
  if (!(x instanceof Expr)) throw new TypeError(`${method}: expected an expression (rd.col("…"), rd.lit(…)), got ${x === null ? "null" : typeof x}`);
  return x.node;
}

export function withColumnOp(input: LogicalOp, name: string, expr: Expr): LogicalOp {
  if (typeof name !== "string" || name === "") throw new TypeError("withColumn: expected a column name");
  return { id: newOpId(), kind: "withColumn", input, column: name, expr: expression(expr, "withColumn") };
}

export function filterExprOp(input: LogicalOp, predicate: Expr): LogicalOp {
  return { id: newOpId(), kind: "filterExpr", input, predicate: expression(predicate, "filter") };
}

/** select("a", rd.col("b").mul(2).alias("b2")): strings name columns. */
export function selectOp(input: LogicalOp, items: (Expr | string)[]): LogicalOp {
  if (items.length === 0) throw new RangeError("select: pass at least one column or expression");
  const exprs = items.map((item) => (typeof item === "string" ? col(item).node : expression(item, "select")));
  const names = exprs.map(exprName);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new RangeError(`select: two expressions make the column '${repeated}'; name one with .alias(…)`);
  return { id: newOpId(), kind: "select", input, exprs };
}
