// A real `rdpipe serve` process for tests, and small clients of its HTTP API and event stream.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { parseListening, type JobEvent, type JobSummary, type RemoteClient } from "../server/src/contract";
import { REPO } from "./helpers";

/** `cluster`: where nodes join, for a server started with --cluster-port. */
export interface ServerProcess { url: string; cluster?: string; child: ChildProcess; stop(signal?: NodeJS.Signals): Promise<void> }


export function startServer(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.join(REPO, "dist", "cli.js"), "serve", "--port", "0", ...args], {
    env: { ...process.env, RDPIPE_TOKEN: "", ...env }, stdio: ["ignore", "pipe", "pipe"], cwd,
  });
  let stderr = "";
  child.stderr!.on("data", (d) => { stderr += d; });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout!.on("data", (d) => {
      stdout += d;
      const listening = parseListening(stdout);
      if (listening) {
        const { url, cluster } = listening;
        resolve({ url, cluster, child, stop: async (signal = "SIGTERM") => { child.kill(signal); await exited; } });
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)));
  });
}

/** An `rdpipe node` process joining `head` (a server's cluster port) with `auth`: `--token T`, or its TLS files' flags. */
export function startNode(head: string, auth: string[], cpus = 2): ChildProcess {
  return spawn(process.execPath, [path.join(REPO, "bin", "rdpipe.js"), "node", "--head", head, ...auth, "--cpus", String(cpus)], {
    stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, RDPIPE_TOKEN: "" },
  });
}

/** Collects a job's events until `until` says stop (or the job finishes). */
export async function collectEvents(client: RemoteClient, jobId: string, until: (e: JobEvent) => boolean = isFinal, lastEventId?: number): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const event of client.events(jobId, { lastEventId })) {
    events.push(event);
    if (until(event)) break;
  }
  return events;
}

export const isFinal = (e: JobEvent) => e.type === "finished" || (e.type === "state" && ["succeeded", "failed", "cancelled", "interrupted"].includes(e.job.state));

export async function waitForState(client: RemoteClient, id: string, state: JobSummary["state"], timeoutMs = 60_000): Promise<JobSummary> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await client.request("GET", `/jobs/${id}`, "job");
    if (job.state === state) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} is ${job.state}, expected ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `probe` until it gives a value. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function raw(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON: the assertion shows the text */ }
  return { status: response.status, body, headers: response.headers };
}

export const json = (body: unknown): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
