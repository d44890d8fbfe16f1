// Child of test/allocator.test.ts: does what leaves glibc's dynamic mmap threshold holding freed buffers,
// and prints `RESULT {json}` with how much RSS the freed buffers left behind.
// Usage: node --expose-gc -r tsx/cjs test/allocator-run.ts engine|unbudgeted|bare
//   engine:     runs a small job under a memory budget first (the engine sets malloc up as it starts it)
//   unbudgeted: the same job without a budget set (malloc is left as it is)
//   bare:       no job: malloc as Node leaves it
import * as rd from "../server/src/api";

const MiB = 2 ** 20;
const gc = (globalThis as { gc?: () => void }).gc!;
const rss = () => process.memoryUsage().rss;

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}

async function main(): Promise<void> {
  let rows = 0;
  const mode = process.argv[2];
  if (mode === "engine") rd.DataContext.getCurrent().resourceLimits.memoryBytes = 256 * MiB;
  if (mode === "engine" || mode === "unbudgeted") {
    for await (const batch of rd.range(1000).mapBatches((b: rd.Columns) => b).iterBatches({ batchFormat: "columns" })) {
      rows += ((batch as rd.Columns).id as BigInt64Array).length;
    }
  }
  await settle();
  const base = rss();
  // A 16 MiB buffer freed: left dynamic, malloc's mmap threshold rises to its size.
  Buffer.allocUnsafeSlow(16 * MiB).fill(1);
  await settle();
  // 128 buffers of 1 MiB, each followed by one of 64 KiB that stays (long-lived allocations between the
  // freed ones keep malloc from giving them back as the top of its heap; it serves 64 KiB from its arena
  // under either threshold, smaller sizes often from free chunks elsewhere, which pins nothing).
  let buffers: Buffer[] = [];
  const kept: Buffer[] = [];
  for (let i = 0; i < 128; i++) {
    buffers.push(Buffer.allocUnsafeSlow(MiB).fill(i));
    kept.push(Buffer.allocUnsafeSlow(64 * 1024).fill(i));
  }
  const full = rss();
  buffers = [];
  await settle();
  const after = rss();
  process.stdout.write(`RESULT ${JSON.stringify({ rows, kept: kept.length, grewMiB: (full - base) / MiB, retainedMiB: (after - base) / MiB })}\n`);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`allocator-run failed: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(2);
});
