// A small rule-based optimizer: what each file read may leave out, from the UDF-free operators above it.
//   projection: only the columns the operators above use are read (a mapGroups or filter UDF's from its source, see udf-columns.ts);
//   predicate:  filter expressions become a statistics predicate: row groups and hive folders where no
//               row can match are not read (the filter still runs on the rows that are read);
//   limit:      a limit above row-preserving operators caps each read task.
// The logical plan is left as it is (workers find UDFs by its positions); the pushdowns are a side table
// that toPhysicalPlan applies to the reads. Pushdown stops at any operator that runs a UDF, but for a
// projection through a filter or mapGroups UDF whose source shows the columns it reads.
import type { PrunePredicate, PruneValue } from "../io";
import { pruneText } from "../io";
import { exprColumns, exprText, type CompareFn, type Expr } from "./expr";
import type { AggregateFn } from "./aggregate";
import { inputsOf, opDisplayName, opsInOrder, type LogicalOp } from "./logical";
import { udfColumns } from "./udf-columns";

/** optionalColumns: those of `columns` only a UDF's source names (a property it reads may be no column): a file without them is read without them. */
export interface ReadPushdown { columns?: string[]; optionalColumns?: string[]; filter?: PrunePredicate; limit?: number }

export interface OptimizedPlan {
  pushdowns: Map<LogicalOp, ReadPushdown>;
  /** What was pushed into which read, and where pushdown stopped, for explain(). */
  notes: string[];
  /** The UDF above each read where pushdown stopped. */
  stops: Map<LogicalOp, LogicalOp>;
  /** The mapGroups ops whose read was narrowed to the columns their UDF's source reads: those columns (a guard in the worker). */
  udfReads: Map<LogicalOp, string[]>;
}

const UDF_KINDS = new Set(["map", "flatMap", "filter", "mapBatches", "addColumn"]);
/** Operators that keep every row and its order, one output row per input row. */
const ROW_PRESERVING = new Set(["withColumn", "select", "selectColumns", "dropColumns", "renameColumns"]);
/** Operators a filter commutes with: they keep the set of rows. */
const ROW_SET_PRESERVING = new Set([...ROW_PRESERVING, "sort", "repartition", "randomShuffle"]);

export function optimize(root: LogicalOp): OptimizedPlan {
  const parents = new Map<LogicalOp, LogicalOp[]>();
  for (const op of opsInOrder(root)) for (const input of inputsOf(op)) parents.set(input, [...(parents.get(input) ?? []), op]);
  const pushdowns = new Map<LogicalOp, ReadPushdown>();
  const notes: string[] = [];
  const stops = new Map<LogicalOp, LogicalOp>();
  const udfReads = new Map<LogicalOp, string[]>();
  for (const read of opsInOrder(root)) {
    if (read.kind !== "read" || read.source.type !== "files") continue;
    // The chain of single consumers above the read: what its rows go through.
    const chain: LogicalOp[] = [];
    for (let op: LogicalOp = read; parents.get(op)?.length === 1;) { op = parents.get(op)![0]; chain.push(op); }
    const pushdown: ReadPushdown = {};
    const { columns, optional, inferred } = projection(chain, read.source.options.columns);
    if (columns) pushdown.columns = columns;
    if (columns && optional.length > 0) pushdown.optionalColumns = optional;
    for (const [op, reads] of columns ? inferred : []) {
      if (op.kind === "mapGroups") udfReads.set(op, reads);
      notes.push(`${opDisplayName(op)} reads only ${reads.length > 0 ? [...reads].sort().join(", ") : op.kind === "mapGroups" ? "its keys" : "no column"} (from its source)`);
    }
    const filter = predicate(chain);
    if (filter) pushdown.filter = filter;
    const limit = rowLimit(chain);
    if (limit !== undefined) pushdown.limit = limit;
    const stop = chain.find((op) => UDF_KINDS.has(op.kind));
    if (columns) notes.push(`${read.name}: reads only columns ${columns.join(", ")}${optional.length > 0 ? " (of these, what the files have)" : ""}`);
    if (filter) notes.push(`${read.name}: skips row groups and hive folders where no row can match ${pruneText(filter)}`);
    if (limit !== undefined) notes.push(`${read.name}: each read task stops after ${limit} rows`);
    if (stop) {
      notes.push(`${read.name}: ${columns && inferred.has(stop) ? "filter and limit pushdown stop" : "pushdown stops"} at ${opDisplayName(stop)} (a UDF)`);
      stops.set(read, stop);
    }
    if (Object.keys(pushdown).length > 0) pushdowns.set(read, pushdown);
  }
  return { pushdowns, notes, stops, udfReads };
}

interface Projection {
  /** undefined: all columns. */
  columns?: string[];
  /** Of columns, those only a UDF's source names. */
  optional: string[];
  /** The UDFs whose source gave the columns they read. */
  inferred: Map<LogicalOp, string[]>;
}

/** The columns the chain uses, from its top down. */
function projection(chain: LogicalOp[], userColumns: string[] | undefined): Projection {
  // undefined: all columns.
  let needed: Set<string> | undefined;
  let optional = new Set<string>();
  const inferred = new Map<LogicalOp, string[]>();
  for (const op of [...chain].reverse()) {
    const uses = (more: Iterable<string>) => { for (const c of more) { needed?.add(c); optional.delete(c); } };
    const only = (columns: Iterable<string>) => { needed = new Set(columns); optional = new Set(); inferred.clear(); };
    switch (op.kind) {
      case "selectColumns": only(op.columns); break;
      case "select": only(op.exprs.flatMap((e) => [...exprColumns(e)])); break;
      case "withColumn": needed?.delete(op.column); optional.delete(op.column); uses(exprColumns(op.expr)); break;
      case "filterExpr": uses(exprColumns(op.predicate)); break;
      case "renameColumns": {
        const back = new Map(Object.entries(op.mapping).map(([from, to]) => [to, from]));
        if (needed) needed = new Set([...needed].map((c) => back.get(c) ?? c));
        optional = new Set([...optional].map((c) => back.get(c) ?? c));
        break;
      }
      case "sort": uses([op.key].flat()); break;
      // Built-in aggregations read their keys and their own columns only (a custom one may read any).
      case "aggregate":
        if (op.aggs.every((agg) => agg.spec?.kind === "builtin")) only(aggregateColumns(op.keys, op.aggs));
        else needed = undefined;
        break;
      // Its UDF's result carries no input column: the group's keys and what its source reads are all it needs,
      // and the input columns named like its result's (they give those their types).
      case "mapGroups": {
        const found = (op.options.batchFormat ?? "columns") === "columns" ? udfColumns(op.fn) : undefined;
        if (!found?.returns) { needed = undefined; break; }
        only(op.keys);
        for (const c of [...found.reads, ...found.returns]) if (!needed!.has(c)) { needed!.add(c); optional.add(c); }
        inferred.set(op, [...found.reads]);
        break;
      }
      // Rows pass through: what comes after needs and what its source reads (not with "skip": an errored row is recorded whole).
      case "filter": {
        const found = needed && op.options.onError !== "skip" ? udfColumns(op.fn) : undefined;
        if (!found) { needed = undefined; break; }
        for (const c of found.reads) if (!needed!.has(c)) { needed!.add(c); optional.add(c); }
        inferred.set(op, [...found.reads]);
        break;
      }
      case "repartition": uses(op.keys ?? []); break;
      case "dropColumns": case "limit": case "randomShuffle": break;
      default: needed = undefined;
    }
  }
  if (!needed || needed.size === 0) return { optional: [], inferred: new Map() };
  const wanted = needed;
  const columns = userColumns ? userColumns.filter((c) => wanted.has(c)) : [...wanted];
  // Only names a UDF reads, which a file may lack: a read of none of them has no column to carry its rows.
  if (!userColumns && columns.every((c) => optional.has(c))) return { optional: [], inferred: new Map() };
  return { columns, optional: userColumns ? [] : columns.filter((c) => optional.has(c)), inferred };
}

function aggregateColumns(keys: string[], aggs: AggregateFn[]): Set<string> {
  const on = aggs.flatMap((agg) => (agg.spec?.kind === "builtin" && agg.spec.on !== undefined ? [agg.spec.on] : []));
  return new Set([...keys, ...on]);
}

/** The filters above the read, as one predicate over the read's own columns. */
function predicate(chain: LogicalOp[]): PrunePredicate | undefined {
  // Where each column visible at this point of the chain comes from in the read (null: computed).
  let sourceOf = (name: string): string | null => name;
  const conjuncts: PrunePredicate[] = [];
  for (const op of chain) {
    if (!ROW_SET_PRESERVING.has(op.kind) && op.kind !== "filterExpr") break;
    const before = sourceOf;
    switch (op.kind) {
      case "filterExpr": { const p = toPrune(op.predicate, before); if (p) conjuncts.push(p); break; }
      case "withColumn": {
        const from = op.expr.op === "col" ? before(op.expr.name) : null;
        sourceOf = (name) => (name === op.column ? from : before(name));
        break;
      }
      case "select": {
        const made = new Map(op.exprs.map((e) => {
          const inner = e.op === "alias" ? e.arg : e;
          return [e.op === "alias" || e.op === "col" ? e.name : exprText(e), inner.op === "col" ? before(inner.name) : null];
        }));
        sourceOf = (name) => made.get(name) ?? null;
        break;
      }
      case "selectColumns": sourceOf = (name) => (op.columns.includes(name) ? before(name) : null); break;
      case "dropColumns": sourceOf = (name) => (op.columns.includes(name) ? null : before(name)); break;
      case "renameColumns": {
        const back = new Map(Object.entries(op.mapping).map(([from, to]) => [to, from]));
        sourceOf = (name) => (back.has(name) ? before(back.get(name)!) : name in op.mapping ? null : before(name));
        break;
      }
    }
  }
  return conjuncts.length === 0 ? undefined : conjuncts.length === 1 ? conjuncts[0] : { kind: "and", args: conjuncts };
}

/** The smallest limit reached from the read through row-preserving operators. */
function rowLimit(chain: LogicalOp[]): number | undefined {
  let limit: number | undefined;
  for (const op of chain) {
    if (op.kind === "limit") limit = Math.min(limit ?? Infinity, op.n);
    else if (!ROW_PRESERVING.has(op.kind)) break;
  }
  return limit;
}

const FLIPPED: Record<CompareFn, CompareFn> = { eq: "eq", ne: "ne", lt: "gt", le: "ge", gt: "lt", ge: "le" };
const NEGATED: Record<CompareFn, CompareFn> = { eq: "ne", ne: "eq", lt: "ge", le: "gt", gt: "le", ge: "lt" };

/** NOT pushed inside (SQL's three-valued logic keeps a null comparison null either way); undefined where it cannot be. */
function negate(e: Expr): Expr | undefined {
  switch (e.op) {
    case "compare": return { ...e, fn: NEGATED[e.fn] };
    case "unary":
      if (e.fn === "not") return e.arg;
      if (e.fn === "isNull" || e.fn === "isNotNull") return { ...e, fn: e.fn === "isNull" ? "isNotNull" : "isNull" };
      return undefined;
    case "logic": {
      const left = negate(e.left), right = negate(e.right);
      return left && right ? { op: "logic", fn: e.fn === "and" ? "or" : "and", left, right } : undefined;
    }
    default: return undefined;
  }
}

/**
 * A necessary condition of the filter over the read's columns (a row that passes the filter passes it),
 * or undefined when none is known. `exact` asks for an equivalent one (under an OR, one side of an AND
 * cannot be dropped).
 */
function toPrune(e: Expr, sourceOf: (name: string) => string | null, exact = false): PrunePredicate | undefined {
  const column = (x: Expr) => (x.op === "col" ? sourceOf(x.name) ?? undefined : undefined);
  switch (e.op) {
    case "logic": {
      const left = toPrune(e.left, sourceOf, exact || e.fn === "or"), right = toPrune(e.right, sourceOf, exact || e.fn === "or");
      if (left && right) return { kind: e.fn, args: [left, right] };
      return e.fn === "and" && !exact ? left ?? right : undefined;
    }
    case "compare": {
      const [col, lit, fn] = e.left.op === "col" && e.right.op === "lit" ? [column(e.left), e.right.value, e.fn]
        : e.right.op === "col" && e.left.op === "lit" ? [column(e.right), e.left.value, FLIPPED[e.fn]] : [undefined, null, e.fn];
      // Dates are not compared with statistics (their stored units vary).
      return col === undefined || lit instanceof Date ? undefined : { kind: "compare", column: col, op: fn, value: lit };
    }
    case "unary": {
      if (e.fn === "not") { const inner = negate(e.arg); return inner && toPrune(inner, sourceOf, exact); }
      const col = e.fn === "neg" ? undefined : column(e.arg);
      return col === undefined ? undefined : { kind: e.fn as "isNull" | "isNotNull", column: col };
    }
    case "isIn": {
      const col = column(e.arg);
      return col === undefined || e.values.some((v) => v instanceof Date) ? undefined : { kind: "in", column: col, values: e.values as (PruneValue | null)[] };
    }
    case "strMatch": {
      const col = column(e.arg);
      return col === undefined || e.fn !== "startsWith" ? undefined : { kind: "startsWith", column: col, prefix: e.pattern };
    }
    case "col": { const col = column(e); return col === undefined ? undefined : { kind: "compare", column: col, op: "eq", value: true }; }
    default: return undefined;
  }
}
