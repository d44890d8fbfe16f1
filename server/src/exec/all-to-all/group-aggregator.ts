// Hash aggregation: rows grouped by key columns, each group folded by the aggregations (plan/aggregate's
// AggregateFn). Keys are numbered by a KeyTable over their typed arrays (a Map of values for key types
// it does not take); the built-in aggregations keep typed state per group, any other its own accumulators.
import { DataType, Field, Float64, Schema, type Vector, vectorFromArray } from "apache-arrow";
import { type Block, BlockError, type Columns, blockFromColumns, columnValues, utf8Vector } from "../../block";
import type { AggregateFn } from "../../plan";
import { type Accumulator, accumulatorFor } from "./accumulators";
import { KeyTable } from "./key-table";
import { requireColumn } from "./rows";
import { sortBlocks } from "./sort";

/** The columns of a block of partial aggregates that hold the accumulators' states start with this. */
const PARTIALS = "__rdpipe_partial_";

/** Numbers key tuples: each row's group id, and each group's key values. */
interface KeyIndex {
  readonly size: number;
  ids(vectors: Vector[], numRows: number): Uint32Array;
  keyVector(k: number): Vector;
  keyValue(k: number, id: number): unknown;
}

/** Groups rows by key columns (none: one global group) and folds each group with the aggregations. */
export class GroupAggregator {
  private index?: KeyIndex;
  private keyTypes?: DataType[];
  private accumulators: Accumulator[];

  constructor(private readonly keys: string[], private readonly aggs: AggregateFn[]) {
    const names = [...keys, ...aggs.map((a) => a.name)];
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) {
      throw new BlockError(`aggregate: output column '${duplicate}' appears twice; give one aggregation an alias`);
    }
    this.accumulators = this.newAccumulators();
  }

  add(block: Block): void {
    if (block.numRows === 0 && block.numCols === 0) return;
    const ids = this.idsOf(block);
    if (ids) for (const accumulator of this.accumulators) accumulator.add(block, ids, this.size);
  }

  /** Groups so far. */
  get size(): number { return this.index?.size ?? 0; }

  /** The groups so far as partial aggregates (key columns, then the accumulators' states), for another aggregator's addRowsOrPartials; then none. */
  takePartials(): Block {
    const size = this.size;
    const columns = this.keyColumns();
    this.accumulators.forEach((accumulator, a) => Object.assign(columns, accumulator.partials(`${PARTIALS}${a}_`, size)));
    this.index = undefined;
    this.accumulators = this.newAccumulators();
    return blockFromColumns(columns, undefined, undefined, size);
  }

  /** Folds in a block of rows, or of partial aggregates another aggregator took (its takePartials). */
  addRowsOrPartials(block: Block): void {
    if (!block.schema.fields.some((f) => f.name.startsWith(PARTIALS))) { this.add(block); return; }
    const ids = this.idsOf(block);
    if (ids) this.accumulators.forEach((accumulator, a) => accumulator.merge(block, `${PARTIALS}${a}_`, ids, this.size));
  }

  /** One row per group, sorted by key: the key columns (original types), then one column per aggregation. */
  result(): Block {
    if (this.keys.length === 0 && this.size === 0) this.index = new KeyTable([]).withGroup();
    const size = this.size;
    const columns = this.keyColumns();
    this.aggs.forEach((agg, a) => { columns[agg.name] = this.accumulators[a].result(size); });
    // Float64 is only the type of an aggregation column whose values are all null.
    const hint = new Schema(this.aggs.map((agg) => new Field(agg.name, new Float64(), true)));
    const block = blockFromColumns(columns, hint, undefined, size);
    return this.keys.length > 0 && size > 1 ? sortBlocks([block], this.keys)[0] : block;
  }

  private newAccumulators(): Accumulator[] {
    return this.aggs.map((agg) => accumulatorFor(agg, (id) => this.keyOf(id)));
  }

  /** The group ids of the block's rows (undefined without rows), the index made on the first block. */
  private idsOf(block: Block): Uint32Array | undefined {
    const vectors = this.keys.map((key) => requireColumn(block, key, "groupBy"));
    this.keyTypes ??= vectors.map((v) => v.type);
    if (!this.index) this.index = KeyTable.supports(this.keyTypes) ? new KeyTable(this.keyTypes) : new MapIndex(this.keyTypes);
    if (block.numRows === 0) return undefined;
    return this.index.ids(vectors, block.numRows);
  }

  private keyColumns(): Columns {
    const columns: Columns = {};
    this.keys.forEach((key, k) => { columns[key] = this.index && this.keyTypes ? this.index.keyVector(k) : []; });
    return columns;
  }

  /** What an aggregation's init gets: the key value, the tuple of several, null without keys. */
  private keyOf(id: number): unknown {
    const index = this.index!;
    if (this.keys.length === 0) return null;
    return this.keys.length === 1 ? index.keyValue(0, id) : this.keys.map((_, k) => index.keyValue(k, id));
  }
}

/** Key tuples as nested Maps of their values (one level per key column): the key types a KeyTable does not take. */
class MapIndex implements KeyIndex {
  private readonly root = new Map<unknown, unknown>();
  private readonly keyValues: unknown[][] = [];

  constructor(private readonly types: DataType[]) {}

  get size(): number { return this.keyValues.length; }

  ids(vectors: Vector[], numRows: number): Uint32Array {
    const columns = vectors.map(columnValues);
    const ids = new Uint32Array(numRows);
    const last = columns.length - 1;
    for (let row = 0; row < numRows; row++) {
      let level = this.root;
      for (let k = 0; k < last; k++) {
        const part = mapKey(columns[k][row]);
        let next = level.get(part) as Map<unknown, unknown> | undefined;
        if (next === undefined) level.set(part, (next = new Map()));
        level = next;
      }
      const leaf = mapKey(columns[last][row]);
      let id = level.get(leaf) as number | undefined;
      if (id === undefined) {
        level.set(leaf, (id = this.keyValues.length));
        this.keyValues.push(columns.map((c) => c[row]));
      }
      ids[row] = id;
    }
    return ids;
  }

  keyVector(k: number): Vector {
    return vectorOfType(this.keyValues.map((values) => values[k]), this.types[k]);
  }

  keyValue(k: number, id: number): unknown {
    return this.keyValues[id][k];
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
