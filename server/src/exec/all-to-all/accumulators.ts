// What the group aggregator keeps per group for each aggregation, indexed by group id: typed arrays
// for the built-in count, sum, min, max, mean and std over numeric columns; any other AggregateFn's own
// accumulators. Partial aggregates travel as columns named by a prefix per aggregation.
import { deserialize, serialize } from "node:v8";
import { Binary, type Data, DataType, Float64, Int64, type Vector, makeData, makeVector, vectorFromArray } from "apache-arrow";
import { type Block, BlockError } from "../../block";
import type { AggregateFn } from "../../plan";
import { bitmapOf } from "./key-table";
import { groupRows, requireColumn } from "./rows";

export interface Accumulator {
  /** Folds each row of `block` into group `ids[row]`; `groups` is how many groups there are now. */
  add(block: Block, ids: Uint32Array, groups: number): void;
  /** The states of groups [0, groups) as columns whose names start with `prefix`. */
  partials(prefix: string, groups: number): Record<string, Vector>;
  /** Folds in the states of a block of partials: its row r into group ids[r]. */
  merge(block: Block, prefix: string, ids: Uint32Array, groups: number): void;
  /** The column of results of groups [0, groups): a vector, or values whose type Arrow infers (all null: float64). */
  result(groups: number): Vector | unknown[];
}

type Fast = "count" | "sum" | "min" | "max" | "mean" | "std";
const FAST = new Set<string>(["count", "sum", "min", "max", "mean", "std"]);
/** How a typed accumulator reads its column: i small integers and f floats as numbers, w int64 as (low, high) words. */
type Mode = "c" | "i" | "f" | "w";
/** The state fields of each built-in: n values counted, z a null seen, s sum, v min/max, hi/lo int64 words, m mean, q the squares' sum (Welford's M2). */
const FIELDS: Record<Fast, (mode: Mode) => string[]> = {
  count: () => ["n"],
  sum: (mode) => (mode === "w" ? ["n", "z", "hi", "lo"] : ["n", "z", "s"]),
  min: (mode) => (mode === "w" ? ["n", "z", "hi", "lo"] : ["n", "z", "v"]),
  max: (mode) => (mode === "w" ? ["n", "z", "hi", "lo"] : ["n", "z", "v"]),
  mean: () => ["n", "z", "s"],
  std: () => ["n", "z", "m", "q"],
};
const TWO32 = 4294967296;
const CARRY_AT = 2 ** 52;

/** The accumulator of one aggregation: typed for the built-ins that have it, else the AggregateFn's own. */
export function accumulatorFor(agg: AggregateFn, keyOf: (id: number) => unknown): Accumulator {
  const spec = agg.spec;
  if (spec?.kind === "builtin" && FAST.has(spec.fn)) return new Lazy(agg, spec.fn as Fast, spec.on, spec.options, keyOf);
  return new Generic(agg, keyOf);
}

/** A built-in: typed once its column's type is known (from a block of rows, or a partials block's columns), else generic. */
class Lazy implements Accumulator {
  private impl?: Accumulator;

  constructor(private readonly agg: AggregateFn, private readonly fn: Fast, private readonly on: string | undefined, private readonly options: Record<string, unknown>, private readonly keyOf: (id: number) => unknown) {}

  add(block: Block, ids: Uint32Array, groups: number): void {
    if (!this.impl) {
      const mode = this.on === undefined ? "c" : modeOf(requireColumn(block, this.on, this.agg.name).type, this.fn);
      this.impl = mode ? new Typed(this.agg.name, this.fn, mode, this.on, this.options) : new Generic(this.agg, this.keyOf);
    }
    this.impl.add(block, ids, groups);
  }

  partials(prefix: string, groups: number): Record<string, Vector> {
    return this.impl ? this.impl.partials(prefix, groups) : {};
  }

  merge(block: Block, prefix: string, ids: Uint32Array, groups: number): void {
    if (!this.impl) {
      const field = block.schema.fields.find((f) => f.name.startsWith(prefix))?.name.slice(prefix.length);
      if (field === undefined) return; // the sender had seen no block
      const mode = field.split(".")[0] as Mode | "g";
      this.impl = mode === "g" ? new Generic(this.agg, this.keyOf) : new Typed(this.agg.name, this.fn, mode, this.on, this.options);
    }
    this.impl.merge(block, prefix, ids, groups);
  }

  result(groups: number): Vector | unknown[] {
    this.impl ??= this.on === undefined ? new Typed(this.agg.name, this.fn, "c", undefined, this.options) : new Generic(this.agg, this.keyOf);
    return this.impl.result(groups);
  }
}

/** The typed mode for a column of `type`, or undefined for the generic path (min/max of strings, dates…). */
function modeOf(type: DataType, fn: Fast): Mode | undefined {
  if (fn === "count") return "c";
  if (DataType.isInt(type)) return type.bitWidth < 64 ? "i" : type.isSigned ? "w" : undefined;
  if (DataType.isFloat(type) && type.precision !== 0) return "f";
  return undefined;
}

class Typed implements Accumulator {
  private readonly state: Record<string, Float64Array> = {};
  private capacity = 0;
  private readonly ignoreNulls: boolean;

  constructor(private readonly name: string, private readonly fn: Fast, private readonly mode: Mode, private readonly on: string | undefined, private readonly options: Record<string, unknown>) {
    // Count of a column counts its nulls unless told not to (Ray's Count); the others skip nulls by default.
    this.ignoreNulls = (options.ignoreNulls as boolean | undefined) ?? fn !== "count";
    for (const field of FIELDS[fn](mode)) this.state[field] = new Float64Array(0);
  }

  private ensure(groups: number): void {
    if (groups <= this.capacity) return;
    const capacity = Math.max(groups, this.capacity * 2, 64);
    for (const field of Object.keys(this.state)) {
      const grown = new Float64Array(capacity);
      grown.set(this.state[field]);
      this.state[field] = grown;
    }
    this.capacity = capacity;
  }

  add(block: Block, ids: Uint32Array, groups: number): void {
    this.ensure(groups);
    const { n } = this.state;
    if (this.on === undefined) {
      for (let row = 0; row < ids.length; row++) n[ids[row]]++;
      return;
    }
    const vector = requireColumn(block, this.on, this.name);
    const mode = this.fn === "count" ? "c" : modeOf(vector.type, this.fn);
    if (mode !== this.mode) {
      throw new BlockError(`${this.name} needs one numeric type in column '${this.on}'; it is ${vector.type} in this block, ${this.mode === "w" ? "int64" : this.mode === "f" ? "a float" : "an integer"} in others`);
    }
    let start = 0;
    for (const data of vector.data) {
      this.addChunk(data, ids.subarray(start, start + data.length));
      start += data.length;
    }
  }

  private addChunk(data: Data, ids: Uint32Array): void {
    const { n, z } = this.state;
    const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined;
    const valid = (row: number) => bitmap === undefined || (bitmap[(data.offset + row) >> 3] & (1 << ((data.offset + row) & 7))) !== 0;
    if (this.fn === "count") {
      for (let row = 0; row < ids.length; row++) if (!this.ignoreNulls || valid(row)) n[ids[row]]++;
      return;
    }
    if (bitmap) for (let row = 0; row < ids.length; row++) if (!valid(row)) z[ids[row]] = 1;
    if (this.mode === "w") {
      const values = data.values as BigInt64Array;
      const words = new Int32Array(values.buffer, values.byteOffset, 2 * data.length);
      for (let row = 0; row < ids.length; row++) if (valid(row)) this.addWords(ids[row], words[2 * row + 1], words[2 * row] >>> 0);
      return;
    }
    const values = data.values as Float64Array;
    const { s, v, m, q } = this.state;
    switch (this.fn) {
      case "sum": case "mean":
        for (let row = 0; row < ids.length; row++) if (valid(row)) { const g = ids[row]; s[g] += values[row]; n[g]++; }
        return;
      case "min": case "max": {
        const max = this.fn === "max";
        for (let row = 0; row < ids.length; row++) {
          if (!valid(row)) continue;
          const g = ids[row], x = values[row];
          if (n[g]++ === 0 || (max ? greater(x, v[g]) : greater(v[g], x))) v[g] = x;
        }
        return;
      }
      case "std":
        for (let row = 0; row < ids.length; row++) {
          if (!valid(row)) continue;
          const g = ids[row], x = values[row];
          const count = ++n[g], delta = x - m[g];
          m[g] += delta / count;
          q[g] += delta * (x - m[g]);
        }
    }
  }

  /** An int64 value as its high (signed) and low (unsigned) words. */
  private addWords(g: number, high: number, low: number): void {
    const { n, hi, lo, s, m, q } = this.state;
    const count = ++n[g];
    switch (this.fn) {
      case "sum":
        hi[g] += high;
        lo[g] += low;
        if (lo[g] >= CARRY_AT) { const carry = Math.floor(lo[g] / TWO32); hi[g] += carry; lo[g] -= carry * TWO32; }
        return;
      case "min": case "max": {
        const sign = this.fn === "max" ? 1 : -1;
        if (count === 1 || sign * (high - hi[g] || low - lo[g]) > 0) { hi[g] = high; lo[g] = low; }
        return;
      }
      case "mean": s[g] += high * TWO32 + low; return;
      case "std": {
        const x = high * TWO32 + low, delta = x - m[g];
        m[g] += delta / count;
        q[g] += delta * (x - m[g]);
      }
    }
  }

  partials(prefix: string, groups: number): Record<string, Vector> {
    this.ensure(groups);
    const out: Record<string, Vector> = {};
    for (const [field, values] of Object.entries(this.state)) out[`${prefix}${this.mode}.${field}`] = makeVector(values.slice(0, groups));
    this.capacity = 0;
    for (const field of Object.keys(this.state)) this.state[field] = new Float64Array(0);
    return out;
  }

  merge(block: Block, prefix: string, ids: Uint32Array, groups: number): void {
    this.ensure(groups);
    const column = (field: string) => {
      const vector = block.getChild(`${prefix}${this.mode}.${field}`);
      if (!vector) throw new BlockError(`${this.name}: partial aggregates of another kind than this task's (no ${prefix}${this.mode}.${field}); the column '${this.on}' changes type between blocks`);
      return vector.toArray() as Float64Array;
    };
    const { n, z, s, v, hi, lo, m, q } = this.state;
    const bn = column("n");
    const bz = this.fn === "count" ? undefined : column("z");
    const [bs, bv, bhi, blo, bm, bq] = ["s", "v", "hi", "lo", "m", "q"].map((f) => (this.state[f] ? column(f) : undefined));
    for (let row = 0; row < ids.length; row++) {
      const g = ids[row], count = bn[row];
      if (bz && bz[row] === 1) z[g] = 1;
      if (count === 0) continue;
      const before = n[g];
      n[g] += count;
      if (this.fn === "count") continue;
      if (this.mode === "w" && this.fn !== "mean" && this.fn !== "std") {
        if (this.fn === "sum") {
          hi[g] += bhi![row];
          lo[g] += blo![row];
          if (lo[g] >= CARRY_AT) { const carry = Math.floor(lo[g] / TWO32); hi[g] += carry; lo[g] -= carry * TWO32; }
        } else {
          const sign = this.fn === "max" ? 1 : -1;
          if (before === 0 || sign * (bhi![row] - hi[g] || blo![row] - lo[g]) > 0) { hi[g] = bhi![row]; lo[g] = blo![row]; }
        }
      } else if (bs) {
        s[g] += bs[row];
      } else if (bv) {
        const x = bv[row];
        if (before === 0 || (this.fn === "max" ? greater(x, v[g]) : greater(v[g], x))) v[g] = x;
      } else {
        // Chan et al.: two Welford states combined.
        const delta = bm![row] - m[g], total = before + count;
        m[g] += (delta * count) / total;
        q[g] += bq![row] + (delta * delta * before * count) / total;
      }
    }
  }

  result(groups: number): Vector | unknown[] {
    this.ensure(Math.max(groups, 1));
    const { n, z, s, v, hi, lo, q } = this.state;
    const isNull = (g: number) => this.fn !== "count" && ((z[g] === 1 && !this.ignoreNulls) || n[g] === 0);
    const valid = new Uint8Array(groups);
    let nulls = 0;
    for (let g = 0; g < groups; g++) if (isNull(g)) nulls++; else valid[g] = 1;
    if (nulls === groups && groups > 0) return new Array(groups).fill(null); // as the generic path: float64 nulls
    const ddof = (this.options.ddof as number | undefined) ?? 1;
    const integer = this.fn === "count" || ((this.fn === "sum" || this.fn === "min" || this.fn === "max") && this.mode !== "f");
    if (integer) {
      const out = new BigInt64Array(groups);
      for (let g = 0; g < groups; g++) {
        if (valid[g] === 0) continue;
        if (this.fn === "count") out[g] = BigInt(n[g]);
        else if (this.mode === "w") out[g] = BigInt.asIntN(64, (BigInt(hi[g]) << 32n) + BigInt(lo[g]));
        else out[g] = BigInt(this.fn === "sum" ? s[g] : v[g]);
      }
      return vectorOf(new Int64(), out, valid, nulls);
    }
    const out = new Float64Array(groups);
    for (let g = 0; g < groups; g++) {
      if (valid[g] === 0) continue;
      switch (this.fn) {
        case "sum": out[g] = s[g]; break;
        case "min": case "max": out[g] = v[g]; break;
        case "mean": out[g] = s[g] / n[g]; break;
        default: out[g] = n[g] < 2 ? 0 : Math.sqrt(q[g] / (n[g] - ddof)); // Ray gives 0 for a single value
      }
    }
    return vectorOf(new Float64(), out, valid, nulls);
  }
}

/** NaN is greater than every number (DuckDB's order), so max has it and min skips it. */
function greater(a: number, b: number): boolean {
  return a > b || (a !== a && b === b);
}

function vectorOf(type: DataType, values: BigInt64Array | Float64Array, valid: Uint8Array, nullCount: number): Vector {
  const length = values.length;
  return makeVector(makeData({ type, length, nullCount, nullBitmap: nullCount === 0 ? undefined : bitmapOf(valid, length), data: values } as Parameters<typeof makeData>[0]));
}

/** Any AggregateFn through its own init, accumulate, merge and finalize; partials as its accumulators serialized. */
class Generic implements Accumulator {
  private accs: unknown[] = [];
  /** Per group: the block it was last seen in, and its slot among that block's groups. */
  private seenIn = new Int32Array(0);
  private slotOf = new Uint32Array(0);
  private epoch = 0;

  constructor(private readonly agg: AggregateFn, private readonly keyOf: (id: number) => unknown) {}

  private ensure(groups: number): void {
    for (let id = this.accs.length; id < groups; id++) this.accs.push(this.agg.init(this.keyOf(id)));
  }

  add(block: Block, ids: Uint32Array, groups: number): void {
    this.ensure(groups);
    if (this.agg.accumulateSlots) { this.agg.accumulateSlots(this.accs, block, ids); return; }
    // accumulateBlock once per group of the block, with the group's rows.
    if (this.seenIn.length < groups) {
      const seen = new Int32Array(Math.max(groups, 2 * this.seenIn.length));
      seen.set(this.seenIn);
      this.seenIn = seen;
      this.slotOf = new Uint32Array(seen.length);
    }
    const epoch = ++this.epoch;
    const present: number[] = [];
    const slots = new Uint32Array(ids.length);
    for (let row = 0; row < ids.length; row++) {
      const id = ids[row];
      if (this.seenIn[id] !== epoch) { this.seenIn[id] = epoch; this.slotOf[id] = present.length; present.push(id); }
      slots[row] = this.slotOf[id];
    }
    const { sorted, starts } = groupRows(slots, present.length);
    present.forEach((id, slot) => { this.accs[id] = this.agg.accumulateBlock(this.accs[id], block, sorted.subarray(starts[slot], starts[slot + 1])); });
  }

  partials(prefix: string, groups: number): Record<string, Vector> {
    this.ensure(groups);
    const column = vectorFromArray(this.accs.slice(0, groups).map((acc) => serialize(acc)), new Binary());
    this.accs = [];
    return { [`${prefix}g`]: column };
  }

  merge(block: Block, prefix: string, ids: Uint32Array, groups: number): void {
    this.ensure(groups);
    const partials = block.getChild(`${prefix}g`);
    if (!partials) throw new BlockError(`${this.agg.name}: partial aggregates of another kind than this task's (no ${prefix}g)`);
    for (let row = 0; row < ids.length; row++) this.accs[ids[row]] = this.agg.merge(this.accs[ids[row]], deserialize(partials.get(row) as Uint8Array));
  }

  result(groups: number): Vector | unknown[] {
    this.ensure(groups);
    const accs = this.accs.slice(0, groups);
    const values = accs.map((acc) => this.agg.finalize(acc));
    const type = this.agg.resultType?.(accs);
    return type ? vectorFromArray(values, type) : values;
  }
}
