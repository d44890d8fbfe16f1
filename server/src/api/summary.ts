// ds.summary(): per column, over the whole output: count of values, nulls, min, max, and for numbers the
// mean and standard deviation; an approximate distinct count (HyperLogLog, about 1.6% error). Computed in
// one pass over the blocks with typed-array loops.
import { Schema, type RecordBatch } from "apache-arrow";
import { describeSchema, type Block } from "../block";
import { loadColumn, stringAt, type Col } from "../cluster";

export interface ColumnSummary {
  column: string;
  type: string;
  /** Non-null values. */
  count: number;
  nulls: number;
  min: number | string | boolean | null;
  max: number | string | boolean | null;
  /** Numbers only. */
  mean: number | null;
  /** Sample standard deviation (ddof 1); numbers only. */
  std: number | null;
  /** Approximate number of distinct non-null values (numbers, strings, booleans). */
  distinct: number | null;
}

const P = 12, M = 1 << P;

/** FNV-1a over bytes, then a final mix so that the leading bits spread. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return mix(h);
}

function mix(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

class Distinct {
  readonly registers = new Uint8Array(M);
  add(hash: number): void {
    const index = hash >>> (32 - P);
    const rest = (hash << P) >>> 0;
    const rank = rest === 0 ? 32 - P + 1 : Math.clz32(rest) + 1;
    if (rank > this.registers[index]) this.registers[index] = rank;
  }
  estimate(): number {
    let sum = 0, zeros = 0;
    for (const r of this.registers) { sum += 2 ** -r; if (r === 0) zeros++; }
    const raw = (0.7213 / (1 + 1.079 / M)) * M * M / sum;
    return Math.round(raw <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : raw);
  }
}

class ColumnStats {
  count = 0; nulls = 0; sum = 0; sumSquares = 0; shift: number | undefined;
  min: number | string | boolean | null = null; max: number | string | boolean | null = null;
  numeric = false;
  readonly distinct = new Distinct();
  private readonly floatBits = new Float64Array(1);
  private readonly floatWords = new Uint32Array(this.floatBits.buffer);
  hashable = true;

  constructor(readonly column: string, readonly type: string) {}

  /** nullCount: Arrow's, for columns the loop does not look into. */
  add(c: Col, n: number, nullCount: number): void {
    if (c.kind === "null" || c.kind === "scalar") { this.nulls += n; return; }
    if (c.kind === "other" || (c.kind === "num" && c.time)) { this.count += n - nullCount; this.nulls += nullCount; this.hashable = false; return; }
    const valid = c.valid;
    const countBefore = this.count;
    for (let i = 0; i < n; i++) {
      if (valid && !valid[i]) continue;
      this.count++;
      if (c.kind === "num") {
        const v = c.values[i];
        this.numeric = true;
        // Shifted sums keep the variance exact enough for large values.
        this.shift ??= v;
        this.sum += v - this.shift; this.sumSquares += (v - this.shift) ** 2;
        if (this.min === null || v < (this.min as number)) this.min = v;
        if (this.max === null || v > (this.max as number)) this.max = v;
        this.floatBits[0] = v;
        this.distinct.add(mix(this.floatWords[0] ^ mix(this.floatWords[1])));
      } else if (c.kind === "bool") {
        const v = c.values[i] === 1;
        if (this.min === null || (!v && this.min)) this.min = v;
        if (this.max === null || (v && !this.max)) this.max = v;
        this.distinct.add(mix(v ? 1 : 2));
      } else {
        this.distinct.add(hashBytes(c.bytes, c.offsets[i], c.offsets[i + 1]));
        const s = stringAt(c, i);
        if (this.min === null || s < (this.min as string)) this.min = s;
        if (this.max === null || s > (this.max as string)) this.max = s;
      }
    }
    this.nulls += n - (this.count - countBefore);
  }

  result(): ColumnSummary {
    const mean = this.numeric && this.count > 0 ? this.shift! + this.sum / this.count : null;
    const variance = this.numeric && this.count > 1 ? (this.sumSquares - this.sum ** 2 / this.count) / (this.count - 1) : null;
    return {
      column: this.column, type: this.type, count: this.count, nulls: this.nulls, min: this.min, max: this.max,
      mean, std: variance === null ? null : Math.sqrt(Math.max(0, variance)), distinct: this.hashable ? this.distinct.estimate() : null,
    };
  }
}

export async function summarize(blocks: AsyncIterable<Block>): Promise<ColumnSummary[]> {
  const stats = new Map<string, ColumnStats>();
  for await (const block of blocks) {
    for (const batch of block.batches as RecordBatch[]) {
      batch.schema.fields.forEach((field, i) => {
        let s = stats.get(field.name);
        if (!s) { s = new ColumnStats(field.name, describeSchema(new Schema([field])).replace(/^[^:]*:\s*/, "")); stats.set(field.name, s); }
        const vector = batch.getChildAt(i)!;
        s.add(loadColumn(vector), batch.numRows, vector.nullCount);
      });
    }
  }
  return [...stats.values()].map((s) => s.result());
}
