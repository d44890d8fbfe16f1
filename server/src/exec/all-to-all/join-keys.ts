// Join keys as dense ids: the build side's distinct keys numbered 0, 1, 2…; a probe row gets the id of
// its key when the build side has it, else -1; a row with a null in any key column is -1 on either side.
import { DataType, type Vector } from "apache-arrow";
import { type Block, columnValues, mix32, validity } from "../../block";
import type { KeyKind } from "../../plan";

/** Open addressing from 64-bit keys (two 32-bit words) to dense ids in insertion order. */
class WordTable {
  private slots: Int32Array; // id + 1, 0 when empty
  private lo: Uint32Array;
  private hi: Uint32Array;
  size = 0;

  constructor(expected: number) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.lo = new Uint32Array(Math.max(8, expected));
    this.hi = new Uint32Array(Math.max(8, expected));
  }

  find(lo: number, hi: number): number {
    const mask = this.slots.length - 1;
    for (let slot = hash(lo, hi) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot];
      if (entry === 0) return -1;
      if (this.lo[entry - 1] === lo && this.hi[entry - 1] === hi) return entry - 1;
    }
  }

  insert(lo: number, hi: number): number {
    const mask = this.slots.length - 1;
    let slot = hash(lo, hi) & mask;
    for (; this.slots[slot] !== 0; slot = (slot + 1) & mask) {
      const id = this.slots[slot] - 1;
      if (this.lo[id] === lo && this.hi[id] === hi) return id;
    }
    const id = this.size++;
    if (id === this.lo.length) {
      this.lo = grown(this.lo);
      this.hi = grown(this.hi);
    }
    this.lo[id] = lo;
    this.hi[id] = hi;
    this.slots[slot] = id + 1;
    if (this.size * 2 > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.size; id++) {
      let slot = hash(this.lo[id], this.hi[id]) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }
}

function grown(words: Uint32Array): Uint32Array {
  const out = new Uint32Array(words.length * 2);
  out.set(words);
  return out;
}

/** murmur3's finalizer over both words. */
function hash(lo: number, hi: number): number {
  return mix32(lo ^ Math.imul(hi, 0x9e3779b1));
}

/** A column's keys as 64-bit words: int64 as its own bits; other numbers, booleans and times as float64 (so 1 = 1.0). */
function keyWords(vector: Vector, kind: KeyKind): Uint32Array {
  const n = vector.length;
  if (kind === "int64") {
    const values = vector.toArray() as BigInt64Array;
    return new Uint32Array(values.buffer, values.byteOffset, n * 2);
  }
  const numbers = new Float64Array(n);
  const type = vector.type;
  if ((DataType.isInt(type) || DataType.isFloat(type))) {
    const values = vector.toArray() as ArrayLike<number | bigint>;
    for (let i = 0; i < n; i++) numbers[i] = Number(values[i]);
  } else {
    const values = columnValues(vector);
    for (let i = 0; i < n; i++) numbers[i] = Number(values[i] as number);
  }
  for (let i = 0; i < n; i++) {
    if (numbers[i] === 0) numbers[i] = 0; // -0 is 0
    else if (numbers[i] !== numbers[i]) numbers[i] = NaN; // one NaN bit pattern
  }
  return new Uint32Array(numbers.buffer);
}

/** The dictionaries that number one side's keys; the other side looks its keys up in them. */
export class KeyIds {
  private readonly columns: (WordTable | Map<string, number>)[];
  private readonly tuples?: WordTable;

  /** Numbers the keys of `block` (the build side): `ids` per row, `count` distinct keys. */
  readonly ids: Int32Array;

  constructor(block: Block, keys: string[], private readonly kinds: KeyKind[]) {
    this.columns = kinds.map((kind) => (kind === "string" ? new Map<string, number>() : new WordTable(block.numRows)));
    if (keys.length > 1) this.tuples = new WordTable(block.numRows);
    this.ids = this.idsOf(block, keys, true);
  }

  get count(): number {
    return this.tuples?.size ?? sizeOf(this.columns[0]);
  }

  /** The ids of another block's keys (the probe side): -1 where the build side has no such key. */
  lookup(block: Block, keys: string[]): Int32Array {
    return this.idsOf(block, keys, false);
  }

  private idsOf(block: Block, keys: string[], insert: boolean): Int32Array {
    let ids: Int32Array | undefined;
    keys.forEach((key, k) => {
      const column = this.columnIds(block.getChild(key)!, k, insert);
      if (ids === undefined) { ids = column; return; }
      for (let row = 0; row < ids.length; row++) {
        if (ids[row] < 0 || column[row] < 0) ids[row] = -1;
        else ids[row] = insert ? this.tuples!.insert(ids[row], column[row]) : this.tuples!.find(ids[row], column[row]);
      }
    });
    return ids!;
  }

  private columnIds(vector: Vector, k: number, insert: boolean): Int32Array {
    const n = vector.length;
    const ids = new Int32Array(n);
    if (DataType.isNull(vector.type)) return ids.fill(-1);
    const valid = vector.nullCount > 0 ? validity(vector) : undefined;
    const table = this.columns[k];
    if (table instanceof Map) {
      const values = columnValues(vector) as (string | null)[];
      for (let row = 0; row < n; row++) {
        const value = values[row];
        if (value === null) { ids[row] = -1; continue; }
        let id = table.get(value);
        if (id === undefined && insert) table.set(value, (id = table.size));
        ids[row] = id ?? -1;
      }
      return ids;
    }
    const words = keyWords(vector, this.kinds[k]);
    for (let row = 0; row < n; row++) {
      if (valid !== undefined && valid[row] === 0) ids[row] = -1;
      else ids[row] = insert ? table.insert(words[2 * row], words[2 * row + 1]) : table.find(words[2 * row], words[2 * row + 1]);
    }
    return ids;
  }
}

const sizeOf = (table: WordTable | Map<string, number>) => table.size;
