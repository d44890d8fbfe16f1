// All-to-all operators (repartition, random shuffle, sort, zip) and hash aggregation. They run in
// the driver over their whole input; rows move by typed index arrays and `takeRows`, never as objects.
import { DataType, Field, Float64, RecordBatch, Schema, Struct, Table, Vector, makeData, vectorFromArray } from "apache-arrow";
import {
  Block, BlockError, Columns, Row, assertSameSchema, blockFromColumns, blockToRows, columnValues, concatBlocks,
  sliceBlock, takeRows, utf8Vector,
} from "../block";

// ---------------------------------------------------------------------------------------------
// Repartition, shuffle

/** Splits the rows into n blocks of (nearly) equal row counts, keeping row order. */
export function repartitionBlocks(blocks: Block[], n: number): Block[] {
  if (!Number.isInteger(n) || n < 1) throw new BlockError(`repartition needs a positive whole number of blocks, got ${n}`);
  return splitEvenly(concatBlocks(blocks), n);
}

/** A random permutation of all rows, the same for the same seed, in as many blocks as the input. */
export function shuffleBlocks(blocks: Block[], seed?: number): Block[] {
  const all = concatBlocks(blocks);
  const random = mulberry32(seed ?? Math.floor(Math.random() * 2 ** 32));
  const order = identityIndices(all.numRows);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return splitEvenly(takeRows(all, order), Math.max(1, blocks.length));
}

/** n consecutive slices; the first `numRows % n` get one row more than the others. */
function splitEvenly(block: Block, n: number): Block[] {
  if (block.numRows === 0) return Array.from({ length: n }, () => block); // a table without batches cannot be sliced
  const base = Math.floor(block.numRows / n);
  const extra = block.numRows % n;
  const out: Block[] = [];
  for (let i = 0, start = 0; i < n; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    out.push(sliceBlock(block, start, end));
    start = end;
  }
  return out;
}

function identityIndices(n: number): Uint32Array {
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  return indices;
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// Sort

export type SortKey = string | string[];

/** Stable sort by key columns; nulls (and NaN, just before them) come last in either direction. */
export function sortBlocks(blocks: Block[], key: SortKey, descending: boolean | boolean[] = false): Block[] {
  const keys = typeof key === "string" ? [key] : key;
  if (keys.length === 0) throw new BlockError("sort needs at least one key column");
  const directions = Array.isArray(descending) ? descending : keys.map(() => descending);
  if (directions.length !== keys.length) {
    throw new BlockError(`sort got ${keys.length} key column(s) but ${directions.length} descending flag(s)`);
  }
  const all = concatBlocks(blocks);
  if (all.numRows === 0 && all.numCols === 0) return [all];
  const vectors = keys.map((name) => requireColumn(all, name, "sort"));
  // Least significant key first: each pass is stable, so it keeps the order later keys set among equals.
  let order = identityIndices(all.numRows);
  for (let k = keys.length - 1; k >= 0; k--) order = sortRowsByKey(order, keys[k], vectors[k], directions[k]);
  return splitEvenly(takeRows(all, order), Math.max(1, blocks.length));
}

/**
 * Stably reorders `rows` by one key column, NaN then nulls last. Without a comparator: numbers go
 * through a radix sort, other values through ranks and a counting sort, both far faster than
 * Array#sort with a comparator on a million rows.
 */
function sortRowsByKey(rows: Uint32Array, column: string, vector: Vector, descending: boolean): Uint32Array {
  if (!isSortable(vector.type)) throw new BlockError(`sort: column '${column}' has type ${vector.type}, which cannot be a sort key`);
  const values = columnValues(vector);
  const valued: number[] = [], nans: number[] = [], nulls: number[] = [];
  let onlyNumbers = true;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i], v = values[row];
    if (v === null) nulls.push(row);
    else if (v !== v) nans.push(row);
    else {
      valued.push(row);
      if (typeof v !== "number" && typeof v !== "boolean") onlyNumbers = false;
    }
  }
  const valuedRows = Uint32Array.from(valued);
  const sorted = onlyNumbers ? radixSortByNumber(valuedRows, values, descending) : sortByRank(valuedRows, values, descending);
  const out = new Uint32Array(rows.length);
  out.set(sorted);
  out.set(nans, sorted.length);
  out.set(nulls, sorted.length + nans.length);
  return out;
}

function isSortable(type: DataType): boolean {
  const isString = (t: DataType) => DataType.isUtf8(t) || DataType.isLargeUtf8(t);
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isBool(type) || isString(type) ||
    DataType.isTimestamp(type) || DataType.isDate(type) || (DataType.isDictionary(type) && isString(type.dictionary));
}

/** LSD radix sort (4 passes of 16 bits) of rows by the IEEE-754 bits of their values, made order-preserving. */
function radixSortByNumber(rows: Uint32Array, values: unknown[], descending: boolean): Uint32Array {
  const n = rows.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(values[rows[i]]);
    keys[i] = v === 0 ? 0 : v; // -0 equals 0
  }
  // Little-endian (every platform Node runs on): word 2i is the low half of keys[i], 2i+1 the high half.
  const words = new Uint32Array(keys.buffer);
  const invert = descending ? 0xffffffff : 0;
  for (let i = 0; i < n; i++) {
    const negative = (words[2 * i + 1] & 0x80000000) !== 0;
    words[2 * i] = (negative ? ~words[2 * i] : words[2 * i]) ^ invert;
    words[2 * i + 1] = (negative ? ~words[2 * i + 1] : words[2 * i + 1] | 0x80000000) ^ invert;
  }
  let positions = identityIndices(n);
  const digits = new Uint32Array(n);
  for (let pass = 0; pass < 4; pass++) {
    const word = pass >> 1, shift = (pass & 1) * 16;
    let allSame = true;
    for (let i = 0; i < n; i++) {
      digits[i] = (words[2 * i + word] >>> shift) & 0xffff;
      if (digits[i] !== digits[0]) allSame = false;
    }
    if (!allSame) positions = countingSort(positions, digits, 0x10000).sorted;
  }
  for (let i = 0; i < n; i++) positions[i] = rows[positions[i]];
  return positions;
}

/** Counting sort by each value's rank among the distinct values (strings; int64 beyond 2^53). */
function sortByRank(rows: Uint32Array, values: unknown[], descending: boolean): Uint32Array {
  const distinct = [...new Set(Array.from(rows, (row) => values[row]))];
  const needsCodePointOrder = distinct.some((v) => typeof v === "string" && NON_BMP_OR_HIGH_CODE_UNIT.test(v));
  if (typeof distinct[0] === "string" && !needsCodePointOrder) distinct.sort(); // default order: UTF-16 code units
  else distinct.sort(compareScalars);
  if (descending) distinct.reverse();
  const rankOf = new Map<unknown, number>();
  for (let i = 0; i < distinct.length; i++) rankOf.set(distinct[i], i);
  const ranks = new Uint32Array(values.length);
  for (let i = 0; i < rows.length; i++) ranks[rows[i]] = rankOf.get(values[rows[i]])!;
  return countingSort(rows, ranks, distinct.length).sorted;
}

/** Stable counting sort of `rows` by `bucketOf[row]` (< numBuckets); `starts[b]` is where bucket b begins. */
function countingSort(rows: Uint32Array, bucketOf: Uint32Array, numBuckets: number): { sorted: Uint32Array; starts: Uint32Array } {
  const starts = new Uint32Array(numBuckets + 1);
  for (let i = 0; i < rows.length; i++) starts[bucketOf[rows[i]] + 1]++;
  for (let b = 0; b < numBuckets; b++) starts[b + 1] += starts[b];
  const next = starts.slice(0, numBuckets);
  const sorted = new Uint32Array(rows.length);
  for (let i = 0; i < rows.length; i++) sorted[next[bucketOf[rows[i]]]++] = rows[i];
  return { sorted, starts };
}

const NON_BMP_OR_HIGH_CODE_UNIT = /[\uD800-\uFFFF]/;

/** Order of two non-null values of one column; strings by code point, as Arrow compares UTF-8 bytes. */
function compareScalars(a: unknown, b: unknown): number {
  if (typeof a === "string" && typeof b === "string") return compareCodePoints(a, b);
  // Numbers, booleans, and bigints (also mixed with numbers) all order correctly with < and >.
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i), cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // UTF-16 puts surrogates (code points above U+FFFF) below U+E000..U+FFFF; code point order puts them above.
    if (ca >= 0xd800 && cb >= 0xd800) return surrogatesLast(ca) - surrogatesLast(cb);
    return ca - cb;
  }
  return a.length - b.length;
}

function surrogatesLast(codeUnit: number): number {
  return codeUnit >= 0xe000 ? codeUnit - 0x800 : codeUnit + 0x2000;
}

// ---------------------------------------------------------------------------------------------
// Zip

/** Row-aligned column concatenation; output blocks follow the left side's block boundaries. */
export function zipBlocks(left: Block[], right: Block[]): Block[] {
  const leftRows = totalRows(left), rightRows = totalRows(right);
  if (leftRows !== rightRows) {
    throw new BlockError(`zip needs datasets with the same number of rows: left has ${leftRows}, right has ${rightRows}`);
  }
  const leftSchema = commonSchema(left, "zip (left side)");
  const rightSchema = commonSchema(right, "zip (right side)");
  const names = new Set(leftSchema.fields.map((f) => f.name));
  const renamed = rightSchema.fields.map((field) => {
    let name = field.name;
    for (let suffix = 1; names.has(name); suffix++) name = `${field.name}_${suffix}`;
    names.add(name);
    return new Field(name, field.type, field.nullable, field.metadata);
  });
  const schema = new Schema([...leftSchema.fields, ...renamed]);
  const structType = new Struct(schema.fields);

  const rightBatches = right.flatMap((b) => b.batches).filter((b) => b.numRows > 0);
  let rightIndex = 0, rightOffset = 0;
  return left.map((block) => {
    const batches: RecordBatch[] = [];
    for (const leftBatch of block.batches) {
      for (let leftOffset = 0; leftOffset < leftBatch.numRows;) {
        const rightBatch = rightBatches[rightIndex];
        const length = Math.min(leftBatch.numRows - leftOffset, rightBatch.numRows - rightOffset);
        const children = [
          ...leftBatch.data.children.map((d) => d.slice(leftOffset, length)),
          ...rightBatch.data.children.map((d) => d.slice(rightOffset, length)),
        ];
        batches.push(new RecordBatch(schema, makeData({ type: structType, length, nullCount: 0, children })));
        leftOffset += length;
        rightOffset += length;
        if (rightOffset === rightBatch.numRows) { rightIndex++; rightOffset = 0; }
      }
    }
    return new Table(schema, batches);
  });
}

function totalRows(blocks: Block[]): number {
  return blocks.reduce((sum, b) => sum + b.numRows, 0);
}

/** The schema all non-empty blocks share (checked). */
function commonSchema(blocks: Block[], where: string): Schema {
  const withRows = blocks.filter((b) => b.numRows > 0);
  const schema = (withRows[0] ?? blocks[0])?.schema ?? new Schema([]);
  for (const block of withRows) assertSameSchema(schema, block.schema, where);
  return schema;
}

function requireColumn(block: Block, name: string, what: string): Vector {
  const vector = block.getChild(name);
  if (vector === null) {
    const available = block.schema.fields.map((f) => f.name).join(", ") || "(none)";
    throw new BlockError(`${what}: unknown column '${name}'; available columns: ${available}`);
  }
  return vector;
}

// ---------------------------------------------------------------------------------------------
// Aggregations

/** Ray Data's AggregateFn: per group, init → accumulateBlock (per block) → merge (partials) → finalize. */
export interface AggregateFn<A = unknown> {
  /** Output column name, as Ray names it: "count()", "sum(x)", … */
  name: string;
  init(key: unknown): A;
  /** `rows` are the indices, in `block`, of this group's rows. */
  accumulateBlock(acc: A, block: Block, rows: ArrayLike<number>): A;
  merge(a: A, b: A): A;
  finalize(acc: A): unknown;
}

export interface ColumnAggregateOptions {
  /** Skip nulls (default). When false, one null makes the result null. All-null or no rows → null either way. */
  ignoreNulls?: boolean;
  alias?: string;
}

export function Count(opts: { alias?: string } = {}): AggregateFn {
  const count: AggregateFn<number> = {
    name: opts.alias ?? "count()",
    init: () => 0,
    accumulateBlock: (n, _block, rows) => n + rows.length,
    merge: (a, b) => a + b,
    finalize: (n) => BigInt(n), // an int64 column, as Ray's count
  };
  return count;
}

/** Sum: of an integer column an int64 column, exact (bigint) over int64 input; else float64. */
export function Sum(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  // Columns hold one kind: number + number, or bigint + bigint for int64.
  return columnAggregate("sum", on, opts, true, runningValue((a, b) => (a as number) + (b as number)));
}

export function Min(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate("min", on, opts, false, runningValue((a, b) => (compareScalars(b, a) < 0 ? b : a)));
}

export function Max(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate("max", on, opts, false, runningValue((a, b) => (compareScalars(b, a) > 0 ? b : a)));
}

export function Mean(on: string, opts: ColumnAggregateOptions = {}): AggregateFn {
  return columnAggregate<{ sum: number; count: number }>("mean", on, opts, true, {
    init: () => ({ sum: 0, count: 0 }),
    step: (s, value) => { s.sum += Number(value); s.count++; return s; },
    merge: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
    finalize: (s) => s.sum / s.count,
  });
}

/** Standard deviation (Welford, partials merged with Chan et al.); ddof defaults to 1, as in Ray. */
export function Std(on: string, opts: ColumnAggregateOptions & { ddof?: number } = {}): AggregateFn {
  const ddof = opts.ddof ?? 1;
  return columnAggregate<{ count: number; mean: number; m2: number }>("std", on, opts, true, {
    init: () => ({ count: 0, mean: 0, m2: 0 }),
    step: (s, value) => {
      const x = Number(value);
      s.count++;
      const delta = x - s.mean;
      s.mean += delta / s.count;
      s.m2 += delta * (x - s.mean);
      return s;
    },
    merge: (a, b) => {
      const count = a.count + b.count;
      if (a.count === 0 || b.count === 0) return a.count === 0 ? { ...b } : { ...a };
      const delta = b.mean - a.mean;
      return { count, mean: a.mean + (delta * b.count) / count, m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count };
    },
    // Ray returns 0 for a single value whatever ddof is.
    finalize: (s) => (s.count < 2 ? 0 : Math.sqrt(s.m2 / (s.count - ddof))),
  });
}

/** A user aggregation over row objects. */
export function customAggregate<A>(spec: {
  name: string;
  init: (key: unknown) => A;
  accumulateRow: (acc: A, row: Row) => A;
  merge: (a: A, b: A) => A;
  finalize?: (acc: A) => unknown;
}): AggregateFn<A> {
  return {
    name: spec.name,
    init: spec.init,
    accumulateBlock(acc, block, rows) {
      let blockRows = rowsCache.get(block);
      if (blockRows === undefined) rowsCache.set(block, (blockRows = blockToRows(block)));
      for (let i = 0; i < rows.length; i++) acc = spec.accumulateRow(acc, blockRows[rows[i]]);
      return acc;
    },
    merge: spec.merge,
    finalize: spec.finalize ?? ((acc) => acc),
  };
}

/** How a built-in folds the non-null values of one column. */
interface Reducer<S> {
  init(): S;
  step(state: S, value: unknown): S;
  merge(a: S, b: S): S;
  /** `type` is the input column's. */
  finalize(state: S, type: DataType): unknown;
}

/**
 * A reducer whose state is the running result itself, null until the first value. The result keeps
 * the column's kind: integers become int64 (as Arrow sums them), timestamps and dates stay dates.
 */
function runningValue(combine: (a: unknown, b: unknown) => unknown): Reducer<unknown> {
  const fold = (a: unknown, b: unknown) => (a === null ? b : b === null ? a : combine(a, b));
  const finalize = (value: unknown, type: DataType) => {
    if (typeof value !== "number") return value;
    if (DataType.isInt(type)) return BigInt(value);
    return DataType.isTimestamp(type) || DataType.isDate(type) ? new Date(value) : value;
  };
  return { init: () => null, step: fold, merge: fold, finalize };
}

interface ColumnAcc<S> { state: S; nonNull: number; sawNull: boolean; type: DataType | null }

/** The one shape of the built-in column aggregations: name, column lookup, null policy. */
function columnAggregate<S>(
  fn: string, on: string, opts: ColumnAggregateOptions, numericOnly: boolean, reducer: Reducer<S>,
): AggregateFn {
  const name = opts.alias ?? `${fn}(${on})`;
  const ignoreNulls = opts.ignoreNulls ?? true;
  const aggregate: AggregateFn<ColumnAcc<S>> = {
    name,
    init: () => ({ state: reducer.init(), nonNull: 0, sawNull: false, type: null }),
    accumulateBlock(acc, block, rows) {
      const { type, values } = aggregationValues(block, on, name, numericOnly);
      acc.type ??= type;
      for (let i = 0; i < rows.length; i++) {
        const value = values[rows[i]];
        if (value === null) acc.sawNull = true;
        else { acc.state = reducer.step(acc.state, value); acc.nonNull++; }
      }
      return acc;
    },
    merge: (a, b) => ({
      state: reducer.merge(a.state, b.state), nonNull: a.nonNull + b.nonNull, sawNull: a.sawNull || b.sawNull, type: a.type ?? b.type,
    }),
    finalize: (acc) => (acc.nonNull === 0 || (acc.sawNull && !ignoreNulls) ? null : reducer.finalize(acc.state, acc.type!)),
  };
  return aggregate;
}

// Aggregations see a block once per group, so its rows and columns are extracted once and kept with it.
const rowsCache = new WeakMap<Block, Row[]>();
const valuesCache = new WeakMap<Block, Map<string, { type: DataType; values: unknown[] }>>();

/** A column's values with nulls as null; int64 as bigint, so sums stay exact. */
function aggregationValues(block: Block, column: string, aggName: string, numericOnly: boolean): { type: DataType; values: unknown[] } {
  let perBlock = valuesCache.get(block);
  if (perBlock === undefined) valuesCache.set(block, (perBlock = new Map()));
  let cached = perBlock.get(column);
  if (cached === undefined) {
    const vector = requireColumn(block, column, aggName);
    const isInt64 = DataType.isInt(vector.type) && vector.type.bitWidth === 64;
    perBlock.set(column, (cached = { type: vector.type, values: isInt64 ? Array.from(vector) : columnValues(vector) }));
  }
  if (numericOnly && !DataType.isInt(cached.type) && !DataType.isFloat(cached.type)) {
    throw new BlockError(`${aggName} needs a numeric column; '${column}' is ${cached.type}`);
  }
  return cached;
}

// ---------------------------------------------------------------------------------------------
// Hash aggregation

interface Group {
  keyValues: unknown[];
  accs: unknown[];
  /** Position among the groups of the block being added, valid when `epoch` is that block's. */
  slot: number;
  epoch: number;
}

/** Groups rows by key columns (none: one global group) and folds each group with the aggregations. */
export class GroupAggregator {
  /** One Map level per key column, groups at the leaves: no per-row composite key strings. */
  private readonly index = new Map<unknown, unknown>();
  private readonly groups: Group[] = [];
  private keyTypes: DataType[] | null = null;
  private epoch = 0;

  constructor(private readonly keys: string[], private readonly aggs: AggregateFn[]) {
    const names = [...keys, ...aggs.map((a) => a.name)];
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) {
      throw new BlockError(`aggregate: output column '${duplicate}' appears twice; give one aggregation an alias`);
    }
  }

  add(block: Block): void {
    if (block.numRows === 0 && block.numCols === 0) return;
    const keyVectors = this.keys.map((key) => requireColumn(block, key, "groupBy"));
    this.keyTypes ??= keyVectors.map((v) => v.type);
    if (block.numRows === 0) return;

    const keyColumns = keyVectors.map(columnValues);
    const epoch = ++this.epoch;
    const present: Group[] = [];
    const slotOfRow = new Uint32Array(block.numRows);
    for (let row = 0; row < block.numRows; row++) {
      const group = this.groupOf(keyColumns, row);
      if (group.epoch !== epoch) {
        group.epoch = epoch;
        group.slot = present.length;
        present.push(group);
      }
      slotOfRow[row] = group.slot;
    }

    const { sorted: rowsByGroup, starts } = countingSort(identityIndices(block.numRows), slotOfRow, present.length);
    for (let slot = 0; slot < present.length; slot++) {
      const group = present[slot];
      const rows = rowsByGroup.subarray(starts[slot], starts[slot + 1]);
      for (let a = 0; a < this.aggs.length; a++) group.accs[a] = this.aggs[a].accumulateBlock(group.accs[a], block, rows);
    }
  }

  /** One row per group, sorted by key: the key columns (original types), then one column per aggregation. */
  result(): Block {
    const groups = this.keys.length === 0 && this.groups.length === 0 ? [this.newGroup([])] : this.groups;
    const columns: Columns = {};
    this.keys.forEach((key, k) => {
      const values = groups.map((g) => g.keyValues[k]);
      columns[key] = this.keyTypes ? vectorOfType(values, this.keyTypes[k]) : values;
    });
    this.aggs.forEach((agg, a) => { columns[agg.name] = groups.map((g) => agg.finalize(g.accs[a])); });
    // Float64 is only the type of an aggregation column whose values are all null.
    const hint = new Schema(this.aggs.map((agg) => new Field(agg.name, new Float64(), true)));
    const block = blockFromColumns(columns, hint, undefined, groups.length);
    return this.keys.length > 0 && groups.length > 1 ? sortBlocks([block], this.keys)[0] : block;
  }

  private groupOf(keyColumns: unknown[][], row: number): Group {
    const last = keyColumns.length - 1;
    let level = this.index;
    for (let k = 0; k < last; k++) {
      const part = mapKey(keyColumns[k][row]);
      let next = level.get(part) as Map<unknown, unknown> | undefined;
      if (next === undefined) level.set(part, (next = new Map()));
      level = next;
    }
    const leaf = last < 0 ? null : mapKey(keyColumns[last][row]);
    let group = level.get(leaf) as Group | undefined;
    if (group === undefined) {
      level.set(leaf, (group = this.newGroup(keyColumns.map((c) => c[row]))));
      this.groups.push(group);
    }
    return group;
  }

  private newGroup(keyValues: unknown[]): Group {
    const key = this.keys.length === 1 ? keyValues[0] : this.keys.length === 0 ? null : keyValues;
    return { keyValues, accs: this.aggs.map((agg) => agg.init(key)), slot: 0, epoch: 0 };
  }
}

/** Primitives are Map keys as they are (SameValueZero: NaN equals NaN); objects (binary, structs) by content. */
function mapKey(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
}

/** A column of exactly `type` from plain values (strings become Utf8, int64 may arrive as numbers). */
function vectorOfType(values: unknown[], type: DataType): Vector {
  const isString = (t: DataType) => DataType.isUtf8(t) || DataType.isLargeUtf8(t);
  if (isString(type) || (DataType.isDictionary(type) && isString(type.dictionary))) {
    return utf8Vector(values as (string | null)[]);
  }
  if (DataType.isInt(type) && type.bitWidth === 64) {
    return vectorFromArray(values.map((v) => (v === null ? null : BigInt(v as number))), type);
  }
  return vectorFromArray(values, type);
}
