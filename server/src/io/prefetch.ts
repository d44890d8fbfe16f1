// Running ahead of a consumer: start several async sequences at once and read them back in order.

/** Consumes a sequence eagerly into a buffer; iterate it to get the items in order as they arrive. */
class Prefetched<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private done = false;
  private error: unknown;
  private notify?: () => void;

  constructor(source: AsyncIterable<T>) {
    void (async () => {
      try {
        for await (const item of source) { this.buffer.push(item); this.notify?.(); }
      } catch (e) {
        this.error = e ?? new Error("prefetch failed");
      }
      this.done = true;
      this.notify?.();
    })();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.buffer.length > 0) { yield this.buffer.shift()!; continue; }
      if (this.error !== undefined) throw this.error;
      if (this.done) return;
      await new Promise<void>((resolve) => { this.notify = resolve; });
      this.notify = undefined;
    }
  }
}

/**
 * The items of several sequences, one sequence after another. While one is read, up to `ahead.count`
 * of the following ones (no more than `ahead.maxWeight` in total, e.g. bytes) are consumed in the background.
 */
export async function* concatPrefetched<S, T>(
  sources: S[], open: (source: S) => AsyncIterable<T>, ahead: { count: number; weight: (s: S) => number; maxWeight: number },
): AsyncGenerator<T> {
  const prefetched = new Map<number, Prefetched<T>>();
  for (let i = 0; i < sources.length; i++) {
    const current = prefetched.get(i) ?? open(sources[i]);
    prefetched.delete(i);
    let weight = 0;
    for (let j = i + 1; j < sources.length && j <= i + ahead.count; j++) {
      weight += ahead.weight(sources[j]);
      if (weight > ahead.maxWeight) break;
      if (!prefetched.has(j)) prefetched.set(j, new Prefetched(open(sources[j])));
    }
    yield* current;
  }
}
