// Hash aggregation: rows grouped by key columns, each group folded by the aggregations (plan/aggregate's AggregateFn).
import { deserialize, serialize } from "node:v8";
import { Binary, DataType, Field, Float64, Schema, type Vector, vectorFromArray } from "apache-arrow";
import { type Block, BlockError, type Columns, blockFromColumns, columnValues, utf8Vector } from "../../block";
import type { AggregateFn } from "../../plan";
import { countingSort, identityIndices, requireColumn } from "./rows";
import { sortBlocks } from "./sort";

/** The column of serialized accumulators in a block of partial aggregates. */
const PARTIALS = "__rdpipe_partials";

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
    let rowsByGroup: { sorted: Uint32Array; starts: Uint32Array } | undefined;
    for (let row = 0; row < block.numRows; row++) {
      const group = this.groupOf(keyColumns, row);
      if (group.epoch !== epoch) {
        group.epoch = epoch;
        group.slot = present.length;
        present.push(group);
      }
      slotOfRow[row] = group.slot;
    }

    this.aggs.forEach((agg, a) => {
      if (agg.accumulateSlots) {
        // Row by row into each group's accumulator: no call per group (most groups of a block may have one row).
        const accs = present.map((g) => g.accs[a]);
        agg.accumulateSlots(accs, block, slotOfRow);
        for (let slot = 0; slot < present.length; slot++) present[slot].accs[a] = accs[slot];
        return;
      }
      rowsByGroup ??= countingSort(identityIndices(block.numRows), slotOfRow, present.length);
      const { sorted, starts } = rowsByGroup;
      for (let slot = 0; slot < present.length; slot++) {
        const group = present[slot];
        group.accs[a] = agg.accumulateBlock(group.accs[a], block, sorted.subarray(starts[slot], starts[slot + 1]));
      }
    });
  }

  /** Groups so far. */
  get size(): number { return this.groups.length; }

  /** The groups so far as partial aggregates (key columns, then the accumulators serialized), for another aggregator's mergePartials; then none. */
  takePartials(): Block {
    const columns = this.keyColumnsOf(this.groups);
    columns[PARTIALS] = vectorFromArray(this.groups.map((g) => serialize(g.accs)), new Binary());
    const block = blockFromColumns(columns, undefined, undefined, this.groups.length);
    this.groups.length = 0;
    this.index.clear();
    return block;
  }

  /** Folds in a block of rows, or of partial aggregates another aggregator took (its takePartials). */
  addRowsOrPartials(block: Block): void {
    if (block.getChild(PARTIALS)) this.mergePartials(block);
    else this.add(block);
  }

  private mergePartials(block: Block): void {
    if (block.numRows === 0) return;
    const keyVectors = this.keys.map((key) => requireColumn(block, key, "groupBy"));
    this.keyTypes ??= keyVectors.map((v) => v.type);
    const keyColumns = keyVectors.map(columnValues);
    const partials = block.getChild(PARTIALS)!;
    for (let row = 0; row < block.numRows; row++) {
      const group = this.groupOf(keyColumns, row);
      const accs = deserialize(partials.get(row) as Uint8Array) as unknown[];
      for (let a = 0; a < this.aggs.length; a++) group.accs[a] = this.aggs[a].merge(group.accs[a], accs[a]);
    }
  }

  /** One row per group, sorted by key: the key columns (original types), then one column per aggregation. */
  result(): Block {
    const groups = this.keys.length === 0 && this.groups.length === 0 ? [this.newGroup([])] : this.groups;
    const columns = this.keyColumnsOf(groups);
    this.aggs.forEach((agg, a) => {
      const values = groups.map((g) => agg.finalize(g.accs[a]));
      const type = agg.resultType?.(groups.map((g) => g.accs[a]));
      columns[agg.name] = type ? vectorFromArray(values, type) : values;
    });
    // Float64 is only the type of an aggregation column whose values are all null.
    const hint = new Schema(this.aggs.map((agg) => new Field(agg.name, new Float64(), true)));
    const block = blockFromColumns(columns, hint, undefined, groups.length);
    return this.keys.length > 0 && groups.length > 1 ? sortBlocks([block], this.keys)[0] : block;
  }

  private keyColumnsOf(groups: Group[]): Columns {
    const columns: Columns = {};
    this.keys.forEach((key, k) => {
      const values = groups.map((g) => g.keyValues[k]);
      columns[key] = this.keyTypes ? vectorOfType(values, this.keyTypes[k]) : values;
    });
    return columns;
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
