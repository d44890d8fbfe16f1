// Dataset.streamingSplit (Ray Data's streaming_split): n iterators over one execution, drained
// concurrently. Each block goes to one consumer (the one given the fewest rows so far), or with `equal`
// is cut into n equal pieces, one each, the rows left over at the end dropped. Every consumer holds at
// most a few blocks it has not taken yet: a consumer that falls behind stops the others (and, through
// the executor's bounded queues, the pipeline), as in Ray Data. Iterating again starts a new epoch, a
// new execution, once every consumer has finished the last one.
import { type Block, concatBlocks, sliceBlock } from "../block";
import { DataIterator } from "./batches";

/** Blocks a consumer may have waiting before the stream waits for it. */
const MAX_WAITING_BLOCKS = 2;

/** Wakes whoever waits for a change in the split's state. */
class Signal {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> { return new Promise((resolve) => this.waiters.push(resolve)); }
  notify(): void { for (const wake of this.waiters.splice(0)) wake(); }
}

/** One epoch: one execution of the dataset, dealt out to the consumers. */
class Epoch {
  private readonly waiting: Block[][];
  private readonly given: number[];
  readonly finished: boolean[];
  private source?: AsyncIterator<Block>;
  private pulling = false;
  private done = false;
  private error: unknown;
  /** With `equal`: rows too few to give every consumer one, kept for the next block. */
  private carry: Block | undefined;

  constructor(private readonly open: () => AsyncIterable<Block>, private readonly n: number, private readonly equal: boolean, private readonly signal: Signal) {
    this.waiting = Array.from({ length: n }, () => []);
    this.given = new Array<number>(n).fill(0);
    this.finished = new Array<boolean>(n).fill(false);
  }

  /** Consumer i's next block, undefined at the end. */
  async next(i: number): Promise<Block | undefined> {
    for (;;) {
      const block = this.waiting[i].shift();
      if (block) { this.signal.notify(); return block; }
      if (this.error !== undefined) throw this.error;
      if (this.done) return undefined;
      if (this.pulling || !this.canTake()) await this.signal.wait();
      else await this.pull();
    }
  }

  /** Consumer i has stopped: what it has not taken goes, and it no longer holds the others up. */
  finish(i: number): void {
    this.finished[i] = true;
    this.waiting[i] = [];
    this.signal.notify();
  }

  /** Whether the next block has somewhere to go: the consumer(s) it goes to have room. */
  private canTake(): boolean {
    if (this.equal) return this.waiting.every((w, i) => this.finished[i] || w.length < MAX_WAITING_BLOCKS);
    const target = this.target();
    return target === undefined || this.waiting[target].length < MAX_WAITING_BLOCKS;
  }

  /** The consumer given the fewest rows so far. */
  private target(): number | undefined {
    let best: number | undefined;
    for (let i = 0; i < this.n; i++) if (!this.finished[i] && (best === undefined || this.given[i] < this.given[best])) best = i;
    return best;
  }

  private async pull(): Promise<void> {
    this.pulling = true;
    try {
      this.source ??= this.open()[Symbol.asyncIterator]();
      const next = await this.source.next();
      if (next.done) this.done = true;
      else this.deal(next.value);
    } catch (e) {
      this.error = e ?? new Error("streamingSplit: the dataset's execution failed");
    } finally {
      this.pulling = false;
      this.signal.notify();
    }
  }

  private deal(block: Block): void {
    if (!this.equal) {
      const target = this.target();
      if (target === undefined) return;
      this.waiting[target].push(block);
      this.given[target] += block.numRows;
      return;
    }
    const all = this.carry ? concatBlocks([this.carry, block]) : block;
    const each = Math.floor(all.numRows / this.n);
    this.carry = sliceBlock(all, each * this.n, all.numRows);
    if (each === 0) return;
    for (let i = 0; i < this.n; i++) {
      if (!this.finished[i]) this.waiting[i].push(sliceBlock(all, i * each, (i + 1) * each));
      this.given[i] += each;
    }
  }

  /** Ends the execution early (every consumer stopped before its end). */
  async close(): Promise<void> {
    await this.source?.return?.();
  }
}

export function streamingSplit(open: () => AsyncIterable<Block>, n: number, options: { equal?: boolean } = {}): DataIterator[] {
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`streamingSplit: expected a positive number of consumers, got ${n}`);
  const signal = new Signal();
  const started = new Array<number>(n).fill(0);
  let epoch: Epoch | undefined;
  let epochs = 0;

  async function* consume(i: number): AsyncGenerator<Block> {
    const mine = started[i]++;
    // Epoch k starts once every consumer has finished epoch k-1 and one of them asks for more.
    while (epochs <= mine) {
      if (epochs === mine && (!epoch || epoch.finished.every(Boolean))) {
        epoch = new Epoch(open, n, options.equal ?? false, signal);
        epochs++;
      } else {
        await signal.wait();
      }
    }
    const current = epoch!;
    try {
      for (let block = await current.next(i); block; block = await current.next(i)) yield block;
    } finally {
      current.finish(i);
      if (current.finished.every(Boolean)) await current.close();
    }
  }

  return Array.from({ length: n }, (_, i) => new DataIterator(() => consume(i)));
}
