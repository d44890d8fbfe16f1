// Server bench: 20 concurrent small jobs on a real `rdpipe serve` process with 50 SSE subscribers;
// measures the latency of GET /jobs under that load (against idle) and the event lag (server clock at
// event creation to arrival at the subscriber).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { RemoteClient, parseListening, type JobEvent } from "../server/src/contract";

const ROOT = path.dirname(__dirname);
const JOBS = 20;
const SUBSCRIBERS = 50;

export interface ServerBenchResult {
  jobs: number; maxRunningJobs: number; subscribers: number; seconds: number; succeeded: number;
  /** CPU time of the server process and its runners. */
  cpuSeconds: number;
  idle: { p50: number; p99: number; n: number };
  loaded: { p50: number; p99: number; n: number };
  lag: { p50: number; p99: number; max: number; n: number };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

const stats = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), n: xs.length });

/** User+system CPU seconds of a process and the children it has reaped (its finished job runners). */
function processTreeCpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return fields.slice(11, 15).map(Number).reduce((a, b) => a + b, 0) / 100;
}

async function startServer(stateDir: string, maxRunningJobs: number): Promise<{ url: string; cpuSeconds(): number; stop(): void }> {
  const child = spawn(process.execPath, [path.join(ROOT, "dist", "cli.js"), "serve", "--port", "0", "--root", ROOT, "--state-dir", stateDir, "--max-jobs", String(maxRunningJobs)],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RDPIPE_TOKEN: "" } });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const listening = parseListening(out);
      if (listening) resolve({ url: listening.url, cpuSeconds: () => processTreeCpuSeconds(child.pid!), stop: () => child.kill("SIGTERM") });
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function timeListJobs(client: RemoteClient): Promise<number> {
  const started = performance.now();
  await client.request("GET", "/jobs", "jobs");
  return performance.now() - started;
}

export async function runServerBench(stateDir: string, maxRunningJobs: number): Promise<ServerBenchResult> {
  const server = await startServer(stateDir, maxRunningJobs);
  try {
    const client = new RemoteClient(server.url);
    const idle: number[] = [];
    for (let i = 0; i < 200; i++) idle.push(await timeListJobs(client));

    const started = performance.now();
    const jobs = await Promise.all(Array.from({ length: JOBS }, () => client.request("POST", "/jobs", "job", {
      type: "submitJob", source: { kind: "path", path: "bench/server-job.rdpipe.ts" }, options: { workers: 1, preview: 5 },
    })));
    const lags: number[] = [];
    const finals: JobEvent[] = [];
    const subscribers = Array.from({ length: SUBSCRIBERS }, async (_, i) => {
      for await (const event of client.events(jobs[i % JOBS].job.id)) {
        if (event.type !== "state") lags.push(Date.now() - event.at);
        if (event.type === "finished" || (event.type === "state" && ["succeeded", "failed", "cancelled"].includes(event.job.state))) {
          if (i < JOBS) finals.push(event);
          return;
        }
      }
    });
    let done = false;
    const loaded: number[] = [];
    const poller = (async () => { while (!done) loaded.push(await timeListJobs(client)); })();
    await Promise.all(subscribers);
    done = true;
    await poller;
    const seconds = (performance.now() - started) / 1000;
    const succeeded = finals.filter((e) => (e.type === "finished" || e.type === "state") && e.job.state === "succeeded").length;
    return { jobs: JOBS, maxRunningJobs, cpuSeconds: server.cpuSeconds(), subscribers: SUBSCRIBERS, seconds, succeeded, idle: stats(idle), loaded: stats(loaded), lag: { ...stats(lags), max: Math.max(...lags) } };
  } finally {
    server.stop();
  }
}
