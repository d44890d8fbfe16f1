// Evaluates plan expressions on a block's Arrow columns, a record batch at a time, in tight loops over
// typed arrays: no row objects, no per-value callbacks. Nulls follow SQL: arithmetic and comparisons
// with a null are null, and/or are three-valued, a filter keeps only rows where the predicate is true.
import { RecordBatch, Table, type Vector } from "apache-arrow";
import { type Block, blockFromColumns, concatBlocks, takeRows } from "../block";
import { exprName, exprText, type ArithFn, type CastType, type CompareFn, type Expr, type Literal } from "../plan";
import {
  type Col, type Loaded, bothValid, broadcast, exactInts, loadColumn, needsExactInts, storeColumn, stringAt, strings,
} from "./expr-columns";

/** An expression that cannot be evaluated on this block (an unknown column, values of the wrong kind, a bad cast). */
export class ExprEvalError extends Error {}

type Columns = (name: string) => Loaded;

function literal(value: Literal): Col {
  if (value === null) return { kind: "null" };
  if (typeof value === "bigint") return { kind: "scalar", value: Number(value), int: true, exact: value };
  if (value instanceof Date) return { kind: "scalar", value: value.getTime(), int: false, time: true };
  return { kind: "scalar", value, int: typeof value === "number" && Number.isInteger(value) };
}

/** Numbers of a column as an accessor over the loop; strings are parsed (a string that is no number is null). */
function numbers(c: Col, n: number, e: Expr): { values: Float64Array; valid: Uint8Array | null; int: boolean } | undefined {
  if (c.kind === "null") return undefined;
  if (c.kind === "scalar") {
    if (typeof c.value === "number") return { values: new Float64Array(n).fill(c.value), valid: null, int: c.int };
    if (typeof c.value === "string") return numbers(broadcast(c, n), n, e);
  }
  if (c.kind === "num") return c;
  if (c.kind === "str") {
    const values = new Float64Array(n), valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (c.valid && !c.valid[i]) continue;
      const text = stringAt(c, i);
      values[i] = text.trim() === "" ? NaN : Number(text);
      valid[i] = Number.isNaN(values[i]) ? 0 : 1;
    }
    return { values, valid, int: false };
  }
  throw new ExprEvalError(`${exprText(e)}: expected numbers, got ${c.kind === "other" ? c.vector.type : c.kind} values`);
}

/** Integer arithmetic on 64-bit integers (add, sub, mul, mod): exact where doubles are not. */
function exactArith(fn: ArithFn, l: Col, r: Col, n: number, valid: Uint8Array | null): Col {
  const x = exactInts(l, n), y = exactInts(r, n);
  const out = new BigInt64Array(n);
  let outValid = valid;
  for (let i = 0; i < n; i++) {
    if (outValid && !outValid[i]) continue;
    const a = typeof x === "bigint" ? x : x[i], b = typeof y === "bigint" ? y : y[i];
    if (fn === "mod" && b === 0n) { outValid ??= new Uint8Array(n).fill(1); outValid[i] = 0; continue; }
    out[i] = fn === "add" ? a + b : fn === "sub" ? a - b : fn === "mul" ? a * b : a % b;
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = Number(out[i]);
  return { kind: "num", values, valid: outValid, int: true, exact: out };
}

const isTime = (c: Col) => (c.kind === "num" || c.kind === "scalar") && c.time === true;

function arith(fn: ArithFn, l: Col, r: Col, n: number, e: Expr): Col {
  if (isTime(l) || isTime(r)) throw new ExprEvalError(`${exprText(e)}: arithmetic on dates and timestamps is not supported; compare them instead`);
  const a = numbers(l, n, e), b = numbers(r, n, e);
  if (!a || !b) return { kind: "null" };
  if (fn !== "div" && needsExactInts(l, r)) return exactArith(fn, l, r, n, bothValid(a.valid, b.valid));
  const x = a.values, y = b.values, out = new Float64Array(n);
  let valid = bothValid(a.valid, b.valid);
  switch (fn) {
    case "add": for (let i = 0; i < n; i++) out[i] = x[i] + y[i]; break;
    case "sub": for (let i = 0; i < n; i++) out[i] = x[i] - y[i]; break;
    case "mul": for (let i = 0; i < n; i++) out[i] = x[i] * y[i]; break;
    case "div": case "mod":
      for (let i = 0; i < n; i++) {
        // Division by zero is null (as in DuckDB), never Infinity or NaN.
        if (y[i] === 0) { valid ??= new Uint8Array(n).fill(1); valid[i] = 0; continue; }
        out[i] = fn === "div" ? x[i] / y[i] : x[i] % y[i];
      }
  }
  return { kind: "num", values: out, valid, int: a.int && b.int && fn !== "div" };
}

const encoder = new TextEncoder();

/** Byte order of string i of c against bytes p (UTF-8 byte order is code point order). */
function compareBytes(c: Extract<Col, { kind: "str" }>, i: number, p: Uint8Array): number {
  const start = c.offsets[i], len = c.offsets[i + 1] - start, bytes = c.bytes;
  const m = Math.min(len, p.length);
  for (let k = 0; k < m; k++) { const d = bytes[start + k] - p[k]; if (d !== 0) return d; }
  return len - p.length;
}

const ORDER_TESTS: Record<CompareFn, (d: number) => boolean> = {
  eq: (d) => d === 0, ne: (d) => d !== 0, lt: (d) => d < 0, le: (d) => d <= 0, gt: (d) => d > 0, ge: (d) => d >= 0,
};

function compare(fn: CompareFn, l: Col, r: Col, n: number, e: Expr): Col {
  if (l.kind === "null" || r.kind === "null") return { kind: "null" };
  const values = new Uint8Array(n);
  const test = ORDER_TESTS[fn];
  const isStr = (c: Col) => c.kind === "str" || (c.kind === "scalar" && typeof c.value === "string");
  const isBool = (c: Col) => c.kind === "bool" || (c.kind === "scalar" && typeof c.value === "boolean");
  if (isStr(l) && isStr(r)) {
    if (l.kind === "scalar") return compare(FLIP[fn], r, l, n, e);
    const left = l as Extract<Col, { kind: "str" }>;
    if (r.kind === "scalar") {
      const p = encoder.encode(r.value as string);
      for (let i = 0; i < n; i++) values[i] = test(compareBytes(left, i, p)) ? 1 : 0;
      return { kind: "bool", values, valid: left.valid && left.valid.slice() };
    }
    const right = r as Extract<Col, { kind: "str" }>;
    for (let i = 0; i < n; i++) values[i] = test(compareBytes(left, i, right.bytes.subarray(right.offsets[i], right.offsets[i + 1]))) ? 1 : 0;
    return { kind: "bool", values, valid: bothValid(left.valid, right.valid) };
  }
  if (isBool(l) && isBool(r)) {
    const bits = (c: Col) => (c.kind === "scalar" ? broadcast(c, n) : c) as Extract<Col, { kind: "bool" }>;
    const a = bits(l), b = bits(r);
    for (let i = 0; i < n; i++) values[i] = test(a.values[i] - b.values[i]) ? 1 : 0;
    return { kind: "bool", values, valid: bothValid(a.valid, b.valid) };
  }
  const a = numbers(l, n, e)!, b = numbers(r, n, e)!;
  if (needsExactInts(l, r)) {
    const x = exactInts(l, n), y = exactInts(r, n);
    for (let i = 0; i < n; i++) {
      const p = typeof x === "bigint" ? x : x[i], q = typeof y === "bigint" ? y : y[i];
      values[i] = test(p < q ? -1 : p > q ? 1 : 0) ? 1 : 0;
    }
    return { kind: "bool", values, valid: bothValid(a.valid, b.valid) };
  }
  const x = a.values, y = b.values;
  switch (fn) {
    case "eq": for (let i = 0; i < n; i++) values[i] = x[i] === y[i] ? 1 : 0; break;
    case "ne": for (let i = 0; i < n; i++) values[i] = x[i] !== y[i] ? 1 : 0; break;
    case "lt": for (let i = 0; i < n; i++) values[i] = x[i] < y[i] ? 1 : 0; break;
    case "le": for (let i = 0; i < n; i++) values[i] = x[i] <= y[i] ? 1 : 0; break;
    case "gt": for (let i = 0; i < n; i++) values[i] = x[i] > y[i] ? 1 : 0; break;
    case "ge": for (let i = 0; i < n; i++) values[i] = x[i] >= y[i] ? 1 : 0; break;
  }
  return { kind: "bool", values, valid: bothValid(a.valid, b.valid) };
}

const FLIP: Record<CompareFn, CompareFn> = { eq: "eq", ne: "ne", lt: "gt", le: "ge", gt: "lt", ge: "le" };

function booleans(c: Col, n: number, e: Expr): Extract<Col, { kind: "bool" }> | undefined {
  if (c.kind === "null") return undefined;
  if (c.kind === "scalar" && typeof c.value === "boolean") return broadcast(c, n) as Extract<Col, { kind: "bool" }>;
  if (c.kind === "bool") return c;
  throw new ExprEvalError(`${exprText(e)}: expected booleans, got ${c.kind === "other" ? c.vector.type : c.kind === "scalar" ? typeof c.value : c.kind} values`);
}

/** SQL's three-valued and/or: false and null is false, true or null is true, else null wins. */
function logic(fn: "and" | "or", l: Col, r: Col, n: number, e: Expr): Col {
  const a = booleans(l, n, e), b = booleans(r, n, e);
  const allNull = new Uint8Array(n);
  const av = a?.values ?? allNull, bv = b?.values ?? allNull;
  const aValid = a ? a.valid : allNull, bValid = b ? b.valid : allNull;
  const values = new Uint8Array(n), valid = new Uint8Array(n);
  const decisive = fn === "and" ? 0 : 1;
  for (let i = 0; i < n; i++) {
    const aOk = aValid ? aValid[i] : 1, bOk = bValid ? bValid[i] : 1;
    if ((aOk && av[i] === decisive) || (bOk && bv[i] === decisive)) { values[i] = decisive; valid[i] = 1; }
    else if (aOk && bOk) { values[i] = 1 - decisive; valid[i] = 1; }
  }
  return { kind: "bool", values, valid };
}

function validityOnly(c: Col, n: number): Uint8Array | null {
  if (c.kind === "null") return new Uint8Array(n);
  if (c.kind === "scalar") return null;
  if (c.kind === "other") {
    if (c.vector.nullCount === 0) return null;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = c.vector.isValid(i) ? 1 : 0;
    return out;
  }
  return c.valid;
}

function isIn(c: Col, values: Literal[], n: number, e: Expr): Col {
  const candidates = values.filter((v) => v !== null);
  const out: Col = { kind: "bool", values: new Uint8Array(n), valid: null };
  let any: Col | undefined;
  for (const v of candidates) {
    const hit = compare("eq", c, literal(v), n, e);
    any = any ? logic("or", any, hit, n, e) : hit;
  }
  any ??= c.kind === "null" ? { kind: "null" } : { ...out, valid: validityOnly(c, n) };
  // x IN (…, NULL) is null where no candidate matched.
  return candidates.length < values.length ? logic("or", any, { kind: "null" }, n, e) : any;
}

function cast(to: CastType, c: Col, n: number, e: Expr): Col {
  if (c.kind === "null") return c;
  if (isTime(c)) throw new ExprEvalError(`${exprText(e)}: casting dates and timestamps is not supported`);
  if (to === "string") {
    if (c.kind === "str") return c;
    const loaded = c.kind === "scalar" ? broadcast(c, n) : c;
    if (loaded.kind === "num") {
      const { values, valid, int } = loaded;
      return strings(Array.from(values, (v, i) => (valid && !valid[i] ? null : int || !Number.isInteger(v) ? String(v) : `${v}.0`)));
    }
    if (loaded.kind === "bool") return strings(Array.from(loaded.values, (v, i) => (loaded.valid && !loaded.valid[i] ? null : v ? "true" : "false")));
    throw new ExprEvalError(`${exprText(e)}: cannot cast ${loaded.kind === "other" ? loaded.vector.type : loaded.kind} values to string`);
  }
  if (to === "bool") {
    const loaded = c.kind === "scalar" ? broadcast(c, n) : c;
    if (loaded.kind === "bool") return loaded;
    if (loaded.kind === "num") return { kind: "bool", values: Uint8Array.from(loaded.values, (v) => (v !== 0 ? 1 : 0)), valid: loaded.valid };
    if (loaded.kind === "str") {
      const values = new Uint8Array(n), valid = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        if (loaded.valid && !loaded.valid[i]) continue;
        const text = stringAt(loaded, i).trim().toLowerCase();
        if (!["true", "t", "1", "false", "f", "0"].includes(text)) throw new ExprEvalError(`${exprText(e)}: cannot cast '${stringAt(loaded, i)}' to bool`);
        values[i] = ["true", "t", "1"].includes(text) ? 1 : 0;
        valid[i] = 1;
      }
      return { kind: "bool", values, valid };
    }
    throw new ExprEvalError(`${exprText(e)}: cannot cast ${loaded.kind === "other" ? loaded.vector.type : loaded.kind} values to bool`);
  }
  const source = c.kind === "bool" ? { values: Float64Array.from(c.values), valid: c.valid } : numbers(c, n, e)!;
  if (c.kind === "str" || (c.kind === "scalar" && typeof c.value === "string")) {
    const strs = c.kind === "str" ? c : broadcast(c, n) as Extract<Col, { kind: "str" }>;
    for (let i = 0; i < n; i++) {
      if ((!strs.valid || strs.valid[i]) && source.valid && !source.valid[i]) throw new ExprEvalError(`${exprText(e)}: cannot cast '${stringAt(strs, i)}' to ${to}`);
    }
  }
  const int = to.startsWith("int");
  const values = int ? source.values.map((v) => Math.sign(v) * Math.round(Math.abs(v))) : source.values;
  if (to === "int32") {
    for (let i = 0; i < n; i++) {
      if ((!source.valid || source.valid[i]) && (values[i] > 2147483647 || values[i] < -2147483648)) throw new ExprEvalError(`${exprText(e)}: ${values[i]} is out of the range of int32`);
    }
  }
  return { kind: "num", values, valid: source.valid, int, width: to.endsWith("32") ? 32 : undefined };
}

function strFn(fn: "lower" | "upper" | "len" | "startsWith" | "endsWith" | "contains", c: Col, n: number, e: Expr, pattern = ""): Col {
  if (c.kind === "null") return c;
  const s = (c.kind === "scalar" ? broadcast(c, n) : c) as Col;
  if (s.kind !== "str") throw new ExprEvalError(`${exprText(e)}: str.${fn} needs strings, got ${s.kind === "other" ? s.vector.type : s.kind} values`);
  const { bytes, offsets, valid } = s;
  if (fn === "lower" || fn === "upper") {
    return strings(Array.from({ length: n }, (_, i) => (valid && !valid[i] ? null : fn === "lower" ? stringAt(s, i).toLowerCase() : stringAt(s, i).toUpperCase())));
  }
  if (fn === "len") {
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let chars = 0;
      for (let k = offsets[i]; k < offsets[i + 1]; k++) if ((bytes[k] & 0xc0) !== 0x80) chars++;
      values[i] = chars;
    }
    return { kind: "num", values, valid, int: true };
  }
  const p = encoder.encode(pattern);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const start = offsets[i], end = offsets[i + 1];
    if (end - start < p.length) continue;
    if (fn === "contains") { values[i] = buffer.subarray(start, end).indexOf(p) >= 0 ? 1 : 0; continue; }
    const at = fn === "startsWith" ? start : end - p.length;
    let match = 1;
    for (let k = 0; k < p.length; k++) if (bytes[at + k] !== p[k]) { match = 0; break; }
    values[i] = match;
  }
  return { kind: "bool", values, valid };
}

function evaluate(e: Expr, columns: Columns, n: number): Col {
  switch (e.op) {
    case "col": return columns(e.name);
    case "lit": return literal(e.value);
    case "alias": return evaluate(e.arg, columns, n);
    case "arith": return arith(e.fn, evaluate(e.left, columns, n), evaluate(e.right, columns, n), n, e);
    case "compare": return compare(e.fn, evaluate(e.left, columns, n), evaluate(e.right, columns, n), n, e);
    case "logic": return logic(e.fn, evaluate(e.left, columns, n), evaluate(e.right, columns, n), n, e);
    case "isIn": return isIn(evaluate(e.arg, columns, n), e.values, n, e);
    case "cast": return cast(e.to, evaluate(e.arg, columns, n), n, e);
    case "strMatch": return strFn(e.fn, evaluate(e.arg, columns, n), n, e, e.pattern);
    case "str": return strFn(e.fn, evaluate(e.arg, columns, n), n, e);
    case "unary": {
      const c = evaluate(e.arg, columns, n);
      if (e.fn === "isNull" || e.fn === "isNotNull") {
        const valid = validityOnly(c, n);
        const values = new Uint8Array(n).fill(e.fn === "isNull" ? 0 : 1);
        if (valid) for (let i = 0; i < n; i++) values[i] = e.fn === "isNull" ? 1 - valid[i] : valid[i];
        return { kind: "bool", values, valid: null };
      }
      if (e.fn === "not") {
        const b = booleans(c, n, e);
        return b ? { kind: "bool", values: b.values.map((v) => 1 - v), valid: b.valid } : { kind: "null" };
      }
      const x = numbers(c, n, e);
      if (x && c.kind === "num" && c.exact) return exactArith("sub", { kind: "scalar", value: 0, int: true, exact: 0n }, c, n, c.valid && c.valid.slice());
      return x ? { kind: "num", values: x.values.map((v) => -v), valid: x.valid, int: x.int } : { kind: "null" };
    }
  }
}

/** Each record batch of the block through fn, which gets the batch's columns by name (unknown names fail, naming the columns). */
function perBatch(block: Block, operator: string, fn: (columns: Columns, n: number, batch: Block) => Block): Block {
  if (block.batches.length === 0) return block;
  const out = block.batches.map((batch) => {
    const table = new Table([batch as RecordBatch]);
    const cache = new Map<string, Loaded>();
    const columns: Columns = (name) => {
      let c = cache.get(name);
      if (!c) {
        const vector = table.getChild(name);
        if (!vector) {
          throw new ExprEvalError(`${operator}: unknown column '${name}'; the columns are ${table.schema.fields.map((f) => `'${f.name}'`).join(", ")}`);
        }
        c = loadColumn(vector);
        cache.set(name, c);
      }
      return c;
    };
    return fn(columns, batch.numRows, table);
  });
  return out.length === 1 ? out[0] : concatBlocks(out);
}

function vectorsOf(block: Block): Record<string, Vector> {
  const out: Record<string, Vector> = {};
  for (const field of block.schema.fields) out[field.name] = block.getChild(field.name)!;
  return out;
}

export function withColumn(block: Block, operator: string, column: string, expr: Expr): Block {
  return perBatch(block, operator, (columns, n, batch) =>
    blockFromColumns({ ...vectorsOf(batch), [column]: storeColumn(evaluate(expr, columns, n), n) }, undefined, undefined, n));
}

export function select(block: Block, operator: string, exprs: Expr[]): Block {
  return perBatch(block, operator, (columns, n) => {
    const out: Record<string, Vector> = {};
    for (const e of exprs) out[exprName(e)] = storeColumn(evaluate(e, columns, n), n);
    return blockFromColumns(out, undefined, undefined, n);
  });
}

/** The rows where the predicate is true (null and false drop the row). */
export function filterRows(block: Block, operator: string, predicate: Expr): Block {
  return perBatch(block, operator, (columns, n, batch) => {
    const result = evaluate(predicate, columns, n);
    if (result.kind === "null") return batch.slice(0, 0);
    const b = booleans(result, n, predicate)!;
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (b.values[i] && (!b.valid || b.valid[i])) keep.push(i);
    return keep.length === n ? batch : takeRows(batch, keep);
  });
}
