// A join as plain data: its type, key columns and suffixes, the checks of its key columns, and the
// schema of its output (one schema for every output block, whichever side a row came from).
import { DataType, Field, Float64, Int64, Schema, Utf8 } from "apache-arrow";
import { describeType } from "../block";

/** Ray Data's join types. */
export const JOIN_TYPES = ["inner", "left_outer", "right_outer", "full_outer", "left_semi", "right_semi", "left_anti", "right_anti"] as const;
export type JoinType = (typeof JOIN_TYPES)[number];

/** What `Dataset.join` takes (Ray Data's `join`, camel-cased). */
export interface JoinOptions {
  joinType: JoinType;
  /** The left side's key columns (Ray's default: "id"). */
  on?: string | string[];
  /** The right side's key columns, when named differently from `on`. */
  rightOn?: string | string[];
  /** Appended to a left column whose name the right side's output also has (default none). */
  leftSuffix?: string;
  /** Appended to a right column whose name the left side's output also has (default "_right" when neither suffix is given). */
  rightSuffix?: string;
  /** Partitions both sides are hashed into (each joined on its own): more partitions, less memory per partition. */
  numPartitions?: number;
}

/** The join a kernel runs: every option resolved. */
export interface JoinSpec {
  joinType: JoinType;
  on: string[];
  rightOn: string[];
  leftSuffix: string;
  rightSuffix: string;
  /** The operator's display name, for errors. */
  operator: string;
}

/** Only one side's rows (and columns) come out of a semi or anti join. */
export function outputSide(joinType: JoinType): "left" | "right" | "both" {
  if (joinType === "left_semi" || joinType === "left_anti") return "left";
  if (joinType === "right_semi" || joinType === "right_anti") return "right";
  return "both";
}

/** Why the options cannot make a join, or undefined; checked when `join` is called. */
export function joinOptionsProblem(options: JoinOptions): string | undefined {
  if (!JOIN_TYPES.includes(options.joinType)) {
    return `joinType must be one of ${JOIN_TYPES.map((t) => `"${t}"`).join(", ")}, got ${JSON.stringify(options.joinType)}`;
  }
  const on = [options.on ?? "id"].flat(), rightOn = [options.rightOn ?? on].flat();
  if (on.length === 0) return "on needs at least one key column";
  if (![...on, ...rightOn].every((c) => typeof c === "string" && c.length > 0)) return "key columns must be non-empty strings";
  if (rightOn.length !== on.length) return `on has ${on.length} key column(s) but rightOn has ${rightOn.length}`;
  for (const [name, keys] of [["on", on], ["rightOn", rightOn]] as const) {
    const repeated = keys.find((k, i) => keys.indexOf(k) !== i);
    if (repeated !== undefined) return `${name} names column '${repeated}' twice`;
  }
  const n = options.numPartitions;
  if (n !== undefined && !(Number.isInteger(n) && n > 0)) return `numPartitions must be a positive integer, got ${n}`;
  return undefined;
}

/** The options resolved (checked first with joinOptionsProblem); the operator is named e.g. "Join(inner on id)". */
export function joinSpec(options: JoinOptions): JoinSpec {
  const on = [options.on ?? "id"].flat(), rightOn = [options.rightOn ?? on].flat();
  const noSuffix = options.leftSuffix === undefined && options.rightSuffix === undefined;
  const keys = on.join(", ") + (rightOn.join() === on.join() ? "" : ` = ${rightOn.join(", ")}`);
  return {
    joinType: options.joinType, on, rightOn, operator: `Join(${options.joinType} on ${keys})`,
    leftSuffix: options.leftSuffix ?? "", rightSuffix: options.rightSuffix ?? (noSuffix ? "_right" : ""),
  };
}

/** How a key column's values are compared: numbers by value (an int32 key joins an int64 or float one), the others by type. */
export type KeyKind = "int64" | "number" | "string" | "boolean" | "temporal";

const isString = (t: DataType): boolean =>
  DataType.isUtf8(t) || DataType.isLargeUtf8(t) || (DataType.isDictionary(t) && isString(t.dictionary));

function keyKind(type: DataType): KeyKind | undefined {
  if (DataType.isInt(type) && type.bitWidth === 64) return "int64";
  if (DataType.isInt(type) || DataType.isFloat(type)) return "number";
  if (isString(type)) return "string";
  if (DataType.isBool(type)) return "boolean";
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return "temporal";
  return undefined;
}

/** One key pair's comparison and the type of its (coalesced) output column. */
export interface KeyPair { left: string; right: string; kind: KeyKind; outputType: DataType }

/**
 * The key pairs of a join over these schemas, or why there are none: a key column missing from its
 * side, a type that cannot be a key (a struct, a list, binary), or two types whose values never compare.
 */
export function joinKeys(left: Schema, right: Schema, spec: JoinSpec): KeyPair[] | string {
  const problem = sideProblem(left, spec.on, "left") ?? sideProblem(right, spec.rightOn, "right");
  if (problem !== undefined) return problem;
  const pairs: KeyPair[] = [];
  for (let k = 0; k < spec.on.length; k++) {
    const typeOf = (schema: Schema, name: string) => schema.fields.find((f) => f.name === name)!.type;
    const pair = keyPair(spec.on[k], spec.rightOn[k], typeOf(left, spec.on[k]), typeOf(right, spec.rightOn[k]));
    if (typeof pair === "string") return pair;
    pairs.push(pair);
  }
  return pairs;
}

/** Why a join cannot run on inputs of these schemas (either may be unknown yet), or undefined. */
export function joinProblem(left: Schema | undefined, right: Schema | undefined, spec: JoinSpec): string | undefined {
  if (left && right) {
    const schema = joinSchema(left, right, spec);
    return typeof schema === "string" ? schema : undefined;
  }
  return (left && sideProblem(left, spec.on, "left")) ?? (right && sideProblem(right, spec.rightOn, "right")) ?? undefined;
}

/** A key column missing from one side, or of a type that cannot be a key. */
function sideProblem(schema: Schema, keys: string[], side: "left" | "right"): string | undefined {
  for (const name of keys) {
    const field = schema.fields.find((f) => f.name === name);
    if (!field) {
      const available = schema.fields.map((f) => `'${f.name}'`).join(", ") || "(none)";
      return `the ${side} side has no key column '${name}'; its columns are ${available}`;
    }
    if (!DataType.isNull(field.type) && !keyKind(field.type)) {
      return `key column '${name}' of the ${side} side has type ${describeType(field.type)}, which cannot be compared as a join key; ` +
        "use a column of numbers, strings, booleans, dates or timestamps";
    }
  }
  return undefined;
}

function keyPair(leftName: string, rightName: string, left: DataType, right: DataType): KeyPair | string {
  // A column null in every row so far has no type: it takes the other side's.
  const l = DataType.isNull(left) ? right : left, r = DataType.isNull(right) ? left : right;
  const lk = keyKind(l) ?? "number", rk = keyKind(r) ?? "number";
  const base = { left: leftName, right: rightName };
  const numeric = (k: KeyKind) => k === "int64" || k === "number";
  if (describeType(l) === describeType(r)) return { ...base, kind: lk, outputType: isString(l) ? new Utf8() : l };
  if (numeric(lk) && numeric(rk)) {
    const bothInts = DataType.isInt(l) && DataType.isInt(r);
    return { ...base, kind: "number", outputType: bothInts ? new Int64() : new Float64() };
  }
  if (lk === "string" && rk === "string") return { ...base, kind: "string", outputType: new Utf8() };
  return `key column '${leftName}' is ${describeType(left)} on the left but '${rightName}' is ${describeType(right)} on the right; these never compare equal (cast one side)`;
}

/** One output column: which side it comes from, its source column, and whether it is a coalesced key. */
export interface OutputColumn { side: "left" | "right"; source: string; name: string; key?: KeyPair }

/**
 * The output's columns: for a semi or anti join that side's as they are; else the left side's (its key
 * columns hold the key of either side's row), then the right side's other than its keys. A name both
 * sides would have gets leftSuffix on the left, rightSuffix on the right.
 */
export function joinColumns(left: Schema, right: Schema, spec: JoinSpec, keys: KeyPair[]): OutputColumn[] | string {
  const side = outputSide(spec.joinType);
  if (side !== "both") {
    return (side === "left" ? left : right).fields.map((f) => ({ side, source: f.name, name: f.name }));
  }
  const leftColumns = left.fields.map((f) => ({ side: "left" as const, source: f.name, name: f.name, key: keys.find((k) => k.left === f.name) }));
  const rightColumns = right.fields.filter((f) => !spec.rightOn.includes(f.name)).map((f) => ({ side: "right" as const, source: f.name, name: f.name }));
  const clashing = new Set(leftColumns.filter((c) => rightColumns.some((r) => r.name === c.name)).map((c) => c.name));
  for (const c of leftColumns) if (clashing.has(c.name)) c.name += spec.leftSuffix;
  for (const c of rightColumns) if (clashing.has(c.name)) c.name += spec.rightSuffix;
  const all = [...leftColumns, ...rightColumns];
  const twice = all.find((c, i) => all.findIndex((d) => d.name === c.name) !== i);
  if (twice) {
    return `column '${twice.name}' would appear twice in the output (leftSuffix ${JSON.stringify(spec.leftSuffix)}, rightSuffix ${JSON.stringify(spec.rightSuffix)}); ` +
      "give suffixes that tell the sides apart";
  }
  return all;
}

/** The output schema, or why the join cannot run on these inputs. */
export function joinSchema(left: Schema, right: Schema, spec: JoinSpec): Schema | string {
  const keys = joinKeys(left, right, spec);
  if (typeof keys === "string") return keys;
  const columns = joinColumns(left, right, spec, keys);
  if (typeof columns === "string") return columns;
  const coalesced = spec.joinType === "right_outer" || spec.joinType === "full_outer";
  return new Schema(columns.map((c) => {
    const type = c.key && coalesced ? c.key.outputType : (c.side === "left" ? left : right).fields.find((f) => f.name === c.source)!.type;
    // Gathered rows of a dictionary-encoded string column are plain strings.
    return new Field(c.name, isString(type) ? new Utf8() : type, true);
  }));
}
