// Pipelines of the actor-pool and node benchmarks (bench/actors.ts), chosen by RDPIPE_BENCH_ACTORS:
// "async": a UDF that waits 50 ms per call on 2 actors with maxConcurrency 32, recording when each call started;
// "scaleUp": a 20 ms synchronous UDF fed faster than one actor can keep up, on a [1, 4] pool;
// "blocking": a function UDF that blocks its worker 25 ms per 100 rows, so throughput is set by the
// number of workers, not by how much CPU a busy 2-core machine has left.
import * as rd from "rdpipe";

const scenario = process.env.RDPIPE_BENCH_ACTORS ?? "async";
const calls = Number(process.env.RDPIPE_BENCH_ACTOR_CALLS ?? "6000");
export const ASYNC_WAIT_MS = 50;

class RemoteModel {
  async call(batch: rd.Columns) {
    const startedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, ASYNC_WAIT_MS));
    return { id: batch.id, startedAt: new Float64Array((batch.id as BigInt64Array).length).fill(startedAt) };
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

class SlowModel {
  call(batch: rd.Columns) {
    sleep(20);
    return batch;
  }
}

export default scenario === "async"
  ? rd.range(calls, { overrideNumBlocks: 4 }).mapBatches(RemoteModel, { concurrency: 2, maxConcurrency: 32, batchSize: 1 })
  : scenario === "scaleUp"
    ? rd.range(calls, { overrideNumBlocks: 60 }).mapBatches(SlowModel, { concurrency: [1, 4], batchSize: 100 })
    : rd.range(calls, { overrideNumBlocks: 120 }).mapBatches((batch: rd.Columns) => { sleep(25); return batch; }, { batchSize: 100 });
