// The 64-bit keys of the IDs committed in one run (see ./duplicates), each with the output file it was
// first met in. Most inputs hold IDs in ranges, file by file: a file whose keys (sorted, unless they
// ascend already) meet no other file's range is kept as a sorted segment, with no work per key. Keys of
// any other file go through a hash table of typed arrays and are looked up in the segments they reach.

/** Keys are (low uint32, high uint32) pairs, ordered as signed 64-bit integers. */
type Keys = Uint32Array;

interface Segment { keys: Keys; file: number }

/** Sign of a - b for keys a at i and b at j. */
function compare(a: Keys, i: number, b: Keys, j: number): number {
  const ha = a[i + 1] | 0, hb = b[j + 1] | 0;
  if (ha !== hb) return ha < hb ? -1 : 1;
  return a[i] === b[j] ? 0 : a[i] < b[j] ? -1 : 1;
}

/** Whether the keys ascend (neighbours may be equal when runs collapse: one input row's rows). */
function ascending(keys: Keys, collapseRuns: boolean): boolean {
  for (let i = 2; i < keys.length; i += 2) {
    const order = compare(keys, i - 2, keys, i);
    if (order > 0 || (order === 0 && !collapseRuns)) return false;
  }
  return true;
}

/** The keys in order, as a copy: one key for each run of equal neighbours when runs collapse. */
function sortedRun(keys: Keys, collapseRuns: boolean): Keys {
  const copy = new Uint32Array(keys.length);
  let n = 0;
  for (let i = 0; i < keys.length; i += 2) {
    if (collapseRuns && i > 0 && keys[i - 2] === keys[i] && keys[i - 1] === keys[i + 1]) continue;
    copy[n++] = keys[i];
    copy[n++] = keys[i + 1];
  }
  // (low, high) pairs are little-endian int64s: the native sort orders them as compare() does.
  new BigInt64Array(copy.buffer, 0, n / 2).sort();
  return copy.subarray(0, n);
}

function equalNeighbour(run: Keys): number {
  for (let i = 2; i < run.length; i += 2) if (run[i - 2] === run[i] && run[i - 1] === run[i + 1]) return i;
  return -1;
}

export interface KeyHit { low: number; high: number; firstFile: number; next: number }

export class IdKeyTable {
  /** Disjoint, by their first key. */
  private readonly segments: Segment[] = [];
  private slots = new Uint32Array(2 << 16);
  private owner = new Int32Array(1 << 16); // file + 1; 0: empty slot
  private count = 0;
  /** The smallest and largest key in the hash table. */
  private readonly bounds = new Uint32Array(4);

  /**
   * Adds one output file's keys; returns the first key already met (in another file, or earlier in this
   * one) with the file it was met in, and where to go on from. With `collapseRuns`, a key equal to the
   * one before it is the same row's (the rows a flatMap made of one input row share its ID).
   */
  add(keys: Keys, file: number, collapseRuns: boolean, from = 0): KeyHit | undefined {
    if (keys.length === 0) return undefined;
    if (from === 0) {
      const run = ascending(keys, collapseRuns) ? keys : sortedRun(keys, collapseRuns);
      if (!this.reaches(run, 0, run.length - 2)) {
        this.segments.splice(this.segmentAfter(run, 0), 0, { keys: run, file });
        // Neighbours left equal after sorting are two input rows' (a hash collision, at worst, hides a later one).
        const twice = run === keys ? -1 : equalNeighbour(run);
        return twice < 0 ? undefined : { low: run[twice], high: run[twice + 1], firstFile: file, next: keys.length };
      }
    }
    for (let i = from; i < keys.length; i += 2) {
      if (collapseRuns && i > 0 && keys[i - 2] === keys[i] && keys[i - 1] === keys[i + 1]) continue;
      const hit = this.inSegments(keys, i) ?? this.insert(keys, i, file);
      if (hit !== undefined) return { low: keys[i], high: keys[i + 1], firstFile: hit, next: i + 2 };
    }
    return undefined;
  }

  /** Whether [keys[lo], keys[hi]] meets a segment or the hash table's bounds. */
  private reaches(keys: Keys, lo: number, hi: number): boolean {
    if (this.count > 0 && compare(keys, lo, this.bounds, 2) <= 0 && compare(this.bounds, 0, keys, hi) <= 0) return true;
    const at = this.segmentAfter(keys, lo);
    const before = this.segments[at - 1];
    if (before && compare(before.keys, before.keys.length - 2, keys, lo) >= 0) return true;
    const after = this.segments[at];
    return after !== undefined && compare(after.keys, 0, keys, hi) <= 0;
  }

  /** The index of the first segment whose first key is above keys[i]. */
  private segmentAfter(keys: Keys, i: number): number {
    let low = 0, high = this.segments.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compare(this.segments[mid].keys, 0, keys, i) <= 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The file of the segment holding keys[i], if one does. */
  private inSegments(keys: Keys, i: number): number | undefined {
    const segment = this.segments[this.segmentAfter(keys, i) - 1];
    if (!segment) return undefined;
    let low = 0, high = segment.keys.length / 2 - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const order = compare(segment.keys, mid * 2, keys, i);
      if (order === 0) return segment.file;
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return undefined;
  }

  /** Puts keys[i] in the hash table; the file it was already there with, if it was. */
  private insert(keys: Keys, i: number, file: number): number | undefined {
    if ((this.count + 1) * 4 > this.owner.length * 3) this.grow(); // linear probing stays short below 3/4 full
    const slot = this.find(keys[i], keys[i + 1]);
    if (this.owner[slot] !== 0) return this.owner[slot] - 1;
    this.slots[slot * 2] = keys[i];
    this.slots[slot * 2 + 1] = keys[i + 1];
    this.owner[slot] = file + 1;
    if (this.count === 0 || compare(keys, i, this.bounds, 0) < 0) this.bounds.set(keys.subarray(i, i + 2), 0);
    if (this.count === 0 || compare(keys, i, this.bounds, 2) > 0) this.bounds.set(keys.subarray(i, i + 2), 2);
    this.count++;
    return undefined;
  }

  private find(low: number, high: number): number {
    const mask = this.owner.length - 1;
    let slot = (Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b) ^ high) >>> 0;
    slot = (slot ^ (slot >>> 16)) & mask;
    for (; this.owner[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.slots[slot * 2] === low && this.slots[slot * 2 + 1] === high) return slot;
    }
    return slot;
  }

  private grow(): void {
    const { slots, owner } = this;
    this.slots = new Uint32Array(slots.length * 2);
    this.owner = new Int32Array(owner.length * 2);
    for (let slot = 0; slot < owner.length; slot++) {
      if (owner[slot] === 0) continue;
      const to = this.find(slots[slot * 2], slots[slot * 2 + 1]);
      this.slots[to * 2] = slots[slot * 2];
      this.slots[to * 2 + 1] = slots[slot * 2 + 1];
      this.owner[to] = owner[slot];
    }
  }
}
