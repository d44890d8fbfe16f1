// Mergeable sketches for ApproximateQuantile and ApproximateTopK (no sketch library is installed).
// Both states are plain data (arrays, a Map), so partials cross to reduce tasks by structured clone.

/**
 * A KLL-style quantile sketch with compactors of equal capacity k (the MRL layout, compacted with a
 * coin as KLL does). Level h holds items of weight 2^h; a level past k items is sorted and every
 * other item (odd or even positions, by the coin) moves up with twice the weight, one left over
 * when the count is odd. Weights always sum to n.
 *
 * Error bound (worst case, whatever the coin): one compaction of level h moves any value's estimated
 * rank by at most 2^h; level h receives at most n / 2^h items and each compaction consumes at least
 * k of them, so level h adds at most n / k; only levels h ≤ log2(n / (k + 1)) ever compact. Hence
 * |estimated rank − true rank| ≤ n · L / k with L = ⌊log2(n / (k + 1))⌋ + 1 (0 while n ≤ k: exact).
 * The coin makes the errors cancel, so typical errors are far below it.
 */
export interface QuantileSketch { k: number; n: number; min: number; max: number; levels: number[][]; coin: number }

export function quantileSketch(k: number): QuantileSketch {
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`ApproximateQuantile: quantilePrecision must be an integer ≥ 2, got ${k}`);
  return { k, n: 0, min: Infinity, max: -Infinity, levels: [[]], coin: 0x9e3779b9 };
}

/** The worst-case rank error of a sketch of precision k over n values (see above). */
export function quantileRankErrorBound(n: number, k: number): number {
  return n <= k ? 0 : (n * (Math.floor(Math.log2(n / (k + 1))) + 1)) / k;
}

export function quantileSketchAdd(s: QuantileSketch, x: number): void {
  s.n++;
  if (x < s.min) s.min = x;
  if (x > s.max) s.max = x;
  s.levels[0].push(x);
  if (s.levels[0].length > s.k) compress(s);
}

export function quantileSketchMerge(a: QuantileSketch, b: QuantileSketch): QuantileSketch {
  const levels = Array.from({ length: Math.max(a.levels.length, b.levels.length) }, (_, h) => [...(a.levels[h] ?? []), ...(b.levels[h] ?? [])]);
  const merged = { k: a.k, n: a.n + b.n, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), levels, coin: (a.coin ^ b.coin) || 0x9e3779b9 };
  compress(merged);
  return merged;
}

/** The values at the given quantiles (each in [0, 1]): the smallest item whose cumulative weight reaches q·n. */
export function quantileSketchQuery(s: QuantileSketch, qs: number[]): number[] {
  const items = s.levels.flatMap((level, h) => level.map((value) => ({ value, weight: 2 ** h }))).sort((x, y) => x.value - y.value);
  return qs.map((q) => {
    if (q <= 0) return s.min;
    if (q >= 1) return s.max;
    const target = q * s.n;
    let cumulative = 0;
    for (const item of items) {
      cumulative += item.weight;
      if (cumulative >= target) return item.value;
    }
    return s.max;
  });
}

function compress(s: QuantileSketch): void {
  for (let h = 0; h < s.levels.length; h++) {
    const level = s.levels[h];
    if (level.length <= s.k) continue;
    level.sort((x, y) => x - y);
    const leftover = level.length % 2 === 1 ? [level.pop()!] : [];
    // xorshift32: the coin is part of the state, so a rerun of the same input compacts the same way.
    s.coin ^= s.coin << 13; s.coin ^= s.coin >>> 17; s.coin ^= s.coin << 5; s.coin >>>= 0;
    const offset = s.coin & 1;
    const promoted: number[] = [];
    for (let i = offset; i < level.length; i += 2) promoted.push(level[i]);
    s.levels[h] = leftover;
    if (h + 1 === s.levels.length) s.levels.push([]);
    s.levels[h + 1].push(...promoted);
  }
}

/**
 * Misra-Gries frequent items with mergeable summaries (Agarwal et al., 2012): at most `capacity`
 * counters. An estimate never exceeds the true count and falls short of it by at most
 * n / (capacity + 1); merging keeps that bound over the merged n.
 */
export interface TopKSketch { capacity: number; n: number; counters: Map<unknown, { value: unknown; count: number }> }

export function topKSketch(capacity: number): TopKSketch {
  return { capacity, n: 0, counters: new Map() };
}

export function topKErrorBound(n: number, capacity: number): number {
  return n / (capacity + 1);
}

export function topKSketchAdd(s: TopKSketch, key: unknown, value: unknown): void {
  s.n++;
  const counter = s.counters.get(key);
  if (counter) counter.count++;
  else if (s.counters.size < s.capacity) s.counters.set(key, { value, count: 1 });
  else {
    // The new value and one occurrence of every counted value cancel out.
    for (const [k, c] of s.counters) if (--c.count === 0) s.counters.delete(k);
  }
}

export function topKSketchMerge(a: TopKSketch, b: TopKSketch): TopKSketch {
  const counters = new Map<unknown, { value: unknown; count: number }>();
  for (const [key, c] of [...a.counters, ...b.counters]) {
    const counter = counters.get(key);
    if (counter) counter.count += c.count;
    else counters.set(key, { ...c });
  }
  if (counters.size > a.capacity) {
    const cut = [...counters.values()].map((c) => c.count).sort((x, y) => y - x)[a.capacity];
    for (const [key, c] of counters) if ((c.count -= cut) <= 0) counters.delete(key);
  }
  return { capacity: a.capacity, n: a.n + b.n, counters };
}

/** The k values of the highest estimated counts, highest first (ties in no particular order). */
export function topKSketchQuery(s: TopKSketch, k: number): { value: unknown; count: number }[] {
  return [...s.counters.values()].sort((x, y) => y.count - x.count).slice(0, k);
}
