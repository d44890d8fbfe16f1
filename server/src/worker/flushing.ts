// A write task that has made all its blocks leaves its worker to the next task while its last file is
// written and synced ("flushing"). Each step of that write (the write itself, the sync, the rename, the
// folder's sync) goes on only when the thread is back in its event loop: a task computing blocks without
// I/O between them (a slow UDF over generated rows) would hold it back until its own end, and with it the
// file's commit and the job's progress. So while another task flushes, the loop gets a turn before each block.

/** Two check phases apart: the event loop polls for finished I/O in between. */
const eventLoopTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/** The blocks, with a turn of the event loop before each one while `othersFlushing()` says so. */
export async function* lettingFlushesOn<T>(blocks: AsyncIterable<T>, othersFlushing: () => boolean): AsyncGenerator<T> {
  const iterator = blocks[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (othersFlushing()) await eventLoopTurn();
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}
