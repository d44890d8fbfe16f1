// A write task that has made all its blocks leaves its worker to the next task while its last file is
// written, synced and committed ("flushing"). Each step of that write goes on only when the thread is
// back in its event loop, which a block being made holds. So the next task gives the loop a turn before
// each block, and waits for a flush pending longer than FLUSH_PATIENCE_MS; and only a task whose blocks
// were all quick flushes (the next task's blocks, of the same pipeline, would hold its files back about
// as long): a file's commit, and the job's progress, trail by a fraction of a second at most.

/** A task whose blocks each took longer than this to make waits for its last writes before its worker takes the next task. */
const QUICK_BLOCK_MS = 250;
/** A flush pending longer than this is waited for before the next block. */
const FLUSH_PATIENCE_MS = 250;

/** Another task's last writes in flight: since when, and its end. */
export interface Flush { since: number; ended: Promise<void> }

/** Two check phases apart: the event loop polls for finished I/O in between. */
const eventLoopTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/** A task's blocks, paced for the flushes of other tasks of its worker; `quick` says whether every block was. */
export class PacedBlocks<T> implements AsyncIterable<T> {
  private slowestMs = 0;

  constructor(private readonly blocks: AsyncIterable<T>, private readonly othersFlushing: () => Flush[]) {}

  get quick(): boolean {
    return this.slowestMs <= QUICK_BLOCK_MS;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    const iterator = this.blocks[Symbol.asyncIterator]();
    try {
      for (;;) {
        await this.letFlushesOn();
        const started = performance.now();
        const next = await iterator.next();
        this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  }

  private async letFlushesOn(): Promise<void> {
    const flushes = this.othersFlushing();
    if (flushes.length === 0) return;
    const overdue = flushes.filter((flush) => performance.now() - flush.since > FLUSH_PATIENCE_MS);
    await (overdue.length > 0 ? Promise.all(overdue.map((flush) => flush.ended)) : eventLoopTurn());
  }
}
