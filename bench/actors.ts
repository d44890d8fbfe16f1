// Actor pools and nodes: async actor throughput against its theoretical rate, actor-pool scale-up
// latency under a growing backlog, time to first output when 1 of 4 requested nodes is available, and
// throughput before and after one of two nodes is SIGKILLed.
import path from "node:path";
import type { Table } from "apache-arrow";
import * as rd from "../server/src/api";
import { Cluster, LocalNodeProvider, type HeadAddress, type LaunchedNode, type NodeProvider } from "../server/src/cluster";
import { loadPipeline } from "../server/src/loader";
import type { S3BenchReport as BenchReport } from "./s3";

const PIPELINE = path.join(__dirname, "actors.rdpipe.ts");
const SCALING_PIPELINE = path.join(__dirname, "scaling.rdpipe.ts");

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function actorsPipeline(scenario: "async" | "scaleUp" | "blocking", calls: number): Promise<rd.Dataset> {
  process.env.RDPIPE_BENCH_ACTORS = scenario;
  process.env.RDPIPE_BENCH_ACTOR_CALLS = String(calls);
  return loadPipeline(PIPELINE);
}

/** 2 actors × 32 calls in flight, 50 ms each: theoretically 1,280 calls/s. */
export async function benchAsyncActors({ log, summary, check }: BenchReport): Promise<void> {
  log("== async actors: a UDF waiting 50 ms per call, 2 actors, maxConcurrency 32 ==");
  const calls = 8000;
  const theoretical = (2 * 32 * 1000) / 50;
  rd.DataContext.getCurrent().resourceLimits = { cpu: 2 };
  const ds = await actorsPipeline("async", calls);
  await (await actorsPipeline("async", 500)).toArrow(); // warm-up: worker bundle and module compiled once
  const started = performance.now();
  const table = await ds.toArrow();
  const totalS = (performance.now() - started) / 1000;
  check(table.numRows === calls, `got ${table.numRows} rows, expected ${calls}`);
  const ids = new Set(Array.from(table.getChild("id")!.toArray() as BigInt64Array, Number));
  check(ids.size === calls, `${ids.size} distinct ids, expected ${calls}`);
  const startedAt = table.getChild("startedAt")!.toArray() as Float64Array;
  let first = Infinity;
  let last = -Infinity;
  for (const t of startedAt) { first = Math.min(first, t); last = Math.max(last, t); }
  const steadyRate = calls / ((last - first + 50) / 1000);
  const ratio = steadyRate / theoretical;
  log(`  ${fmt(calls)} calls; first call to last call's end ${fmt((last - first + 50) / 1000, 2)} s; job ${fmt(totalS, 2)} s including actor start`);
  summary(`async actors: ${fmt(steadyRate)} calls/s of a theoretical ${fmt(theoretical)} = ${ratio.toFixed(2)} (target >= 0.8) ${ratio >= 0.8 ? "PASS" : "MISS"}; ` +
    `end to end with actor start ${fmt(calls / totalS)} calls/s`);
}

/** How soon a [1, 4] pool reaches 2, 3, 4 running actors once its backlog starts growing. */
export async function benchActorScaleUp({ log, summary, check }: BenchReport): Promise<void> {
  log("== actor-pool scale-up: a 20 ms synchronous UDF fed faster than one actor keeps up, concurrency [1, 4] ==");
  const context = rd.DataContext.getCurrent();
  context.resourceLimits = { cpu: 6 };
  context.progress.intervalMs = 5;
  const ds = await actorsPipeline("scaleUp", 60_000);
  await (await actorsPipeline("scaleUp", 1000)).toArrow();
  let backlogAt: number | undefined;
  const reachedAt = new Map<number, number>();
  const started = performance.now();
  const table = await ds.toArrow({
    onProgress: (s) => {
      const pool = s.operators.find((o) => o.actors);
      if (!pool?.actors) return;
      if (backlogAt === undefined && pool.queuedBlocks > 0) backlogAt = s.elapsedMs;
      for (let k = 1; k <= pool.actors.running; k++) if (!reachedAt.has(k)) reachedAt.set(k, s.elapsedMs);
    },
  });
  const totalS = (performance.now() - started) / 1000;
  check(table.numRows === 60_000, `got ${table.numRows} rows`);
  check(backlogAt !== undefined && reachedAt.has(4), `the pool did not reach 4 actors (reached ${[...reachedAt.keys()].join(", ")})`);
  const since = (k: number) => `${k} actors at +${fmt(reachedAt.get(k)! - backlogAt!)} ms`;
  log(`  backlog seen at ${fmt(backlogAt!)} ms after job start; first actor ready at ${fmt(reachedAt.get(1)!)} ms; job ${fmt(totalS, 2)} s`);
  summary(`actor scale-up: from backlog to ${[2, 3, 4].map(since).join(", ")} (an actor = a worker thread that loads the pipeline and constructs the class)`);
  context.progress.intervalMs = 500;
}

/** The first `available` launches start real nodes; later ones never come (a cloud with no capacity left). */
class LimitedLocalNodes implements NodeProvider {
  private readonly local = new LocalNodeProvider();
  launches = 0;

  constructor(private readonly available: number) {}

  launch(head: HeadAddress, cpus: number): LaunchedNode {
    if (this.launches++ < this.available) return this.local.launch(head, cpus);
    return { pid: undefined, kill: () => undefined, exited: new Promise(() => undefined) };
  }

  terminate(node: LaunchedNode): void {
    this.local.terminate(node);
  }
}

async function timeToFirstOutput(cluster: Cluster): Promise<{ firstS: number; totalS: number; rows: number; pendingAtFirst: number }> {
  const context = rd.DataContext.getCurrent();
  context.cluster = cluster;
  process.env.RDPIPE_BENCH_SCALING_ROWS = "4000";
  const ds = await loadPipeline(SCALING_PIPELINE);
  const started = performance.now();
  let firstS = 0;
  let rows = 0;
  let pendingAtFirst = 0;
  for await (const batch of ds.iterBatches({ batchFormat: "arrow" })) {
    if (rows === 0) { firstS = (performance.now() - started) / 1000; pendingAtFirst = cluster.counts().pending; }
    rows += (batch as Table).numRows;
  }
  return { firstS, totalS: (performance.now() - started) / 1000, rows, pendingAtFirst };
}

export async function benchFirstOutputOnNodes({ log, summary, check }: BenchReport): Promise<void> {
  log("== nodes: time to first output, 4 nodes requested, 1 available (vs. a 1-node cluster) ==");
  const partial = new LimitedLocalNodes(1);
  const clusters = [new Cluster({ maxNodes: 4, cpusPerNode: 1, provider: partial }), new Cluster({ maxNodes: 1, cpusPerNode: 1 })];
  try {
    const oneOfFour = await timeToFirstOutput(clusters[0]);
    const oneOfOne = await timeToFirstOutput(clusters[1]);
    check(oneOfFour.rows === 4000 && oneOfOne.rows === 4000, "wrong row count");
    check(partial.launches === 4, `the cluster autoscaler asked for ${partial.launches} nodes, expected 4`);
    log(`  1 of 4: first output ${fmt(oneOfFour.firstS, 2)} s (3 nodes still pending then: ${oneOfFour.pendingAtFirst}), job ${fmt(oneOfFour.totalS, 2)} s`);
    log(`  1 of 1: first output ${fmt(oneOfOne.firstS, 2)} s, job ${fmt(oneOfOne.totalS, 2)} s`);
    summary(`first output on nodes: ${fmt(oneOfFour.firstS, 2)} s with 1 of 4 requested nodes available vs ${fmt(oneOfOne.firstS, 2)} s on a full 1-node cluster ` +
      `(both include starting the node process); ${oneOfFour.pendingAtFirst} nodes still pending at first output`);
  } finally {
    rd.DataContext.getCurrent().cluster = undefined;
    await Promise.all(clusters.map((c) => c.shutdown()));
  }
}

/** Two nodes of one worker each, never replaced: how fast before, and after, one of them is SIGKILLed mid-job. */
export async function benchNodeLoss({ log, summary, check }: BenchReport): Promise<void> {
  log("== nodes: throughput before and after losing one of two nodes (SIGKILL mid-job) ==");
  const cluster = new Cluster({ maxNodes: 2, cpusPerNode: 1, provider: new LimitedLocalNodes(2) });
  const context = rd.DataContext.getCurrent();
  context.cluster = cluster;
  const rows = 48_000;
  try {
    const ds = await actorsPipeline("blocking", rows);
    // Warm-up: the job's queued work makes the cluster start both nodes.
    await (await actorsPipeline("blocking", 2000)).count();
    check(cluster.counts().alive === 2, `${cluster.counts().alive} nodes joined for the warm-up, expected 2`);
    const arrivals: { t: number; rows: number }[] = [];
    const started = performance.now();
    let killedAt = 0;
    let idSum = 0;
    for await (const batch of ds.iterBatches({ batchFormat: "arrow" })) {
      const t = (performance.now() - started) / 1000;
      const table = batch as Table;
      arrivals.push({ t, rows: table.numRows });
      for (const id of table.getChild("id")!.toArray() as BigInt64Array) idSum += Number(id);
      const done = arrivals.reduce((s, a) => s + a.rows, 0);
      if (!killedAt && done >= rows / 3) {
        killedAt = t;
        process.kill(cluster.nodes()[0].pid, "SIGKILL");
      }
    }
    const total = arrivals.reduce((s, a) => s + a.rows, 0);
    check(total === rows && idSum === (rows * (rows - 1)) / 2, `got ${total} rows (id sum ${idSum}): rows were lost or duplicated`);
    const rate = (from: number, to: number) => arrivals.filter((a) => a.t > from && a.t <= to).reduce((s, a) => s + a.rows, 0) / (to - from);
    const end = arrivals[arrivals.length - 1].t;
    const firstT = arrivals[0].t;
    const before = rate(firstT, killedAt);
    const after = rate(killedAt, end);
    log(`  ${fmt(rows)} rows, a UDF blocking its worker 25 ms per 100 rows, on 2 nodes × 1 worker; node killed at ${fmt(killedAt, 2)} s, job ended at ${fmt(end, 2)} s; nodes left: ${cluster.counts().alive}`);
    summary(`node loss: ${fmt(before)} rows/s before, ${fmt(after)} rows/s after losing one of two nodes (${(after / before).toFixed(2)}x; one node's share is 0.5); no row lost or duplicated`);
  } finally {
    context.cluster = undefined;
    await cluster.shutdown();
  }
}
