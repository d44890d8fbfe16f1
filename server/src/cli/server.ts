// `rdpipe serve` and `rdpipe run FILE --server URL`.
import { compilePipeline } from "../loader";
import {
  FINISHED_STATES, LISTENING_PREFIX, RemoteClient, RemoteError, type JobError, type JobOptions, type JobResult, type ProgressSnapshot,
} from "../contract";
import type { ServerTlsFiles } from "../http";

export interface ServeOptions {
  host: string; port: number; token?: string; roots: string[]; stateDir?: string; maxRunningJobs?: number;
  /** Exit after this long with no job queued or running and no request open (the editor's local server). */
  idleExitMs?: number;
  tls?: ServerTlsFiles;
  /** Accept nodes here; jobs then run on them. */
  cluster?: { host: string; port: number; heartbeatTimeoutMs?: number };
}

/** Runs the server until SIGINT or SIGTERM, or until it has been idle for `idleExitMs`. */
export async function serve(options: ServeOptions): Promise<number> {
  // Loaded here: `rdpipe run` never needs express.
  const { defaultStateDir, startServer } = await import("../http");
  const server = await startServer({ ...options, stateDir: options.stateDir ?? defaultStateDir() });
  process.stdout.write(`${LISTENING_PREFIX}${JSON.stringify({ url: server.url, port: server.port, cluster: server.clusterUrl })}\n`);
  console.error(`rdpipe server listening on ${server.url}${options.token ? " (token required)" : ""}; roots: ${options.roots.join(", ")}`);
  if (server.clusterUrl) console.error(`rdpipe server: nodes join at ${server.clusterUrl} (rdpipe node --head ${server.clusterUrl} ${server.clusterUrl.startsWith("tls:") ? "--tls-cert F --tls-key F --tls-ca F" : "--token T"}); jobs run on them`);
  let idleCheck: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    const { idleExitMs } = options;
    if (idleExitMs !== undefined) {
      idleCheck = setInterval(() => {
        if (server.idleMs() < idleExitMs) return;
        console.error(`rdpipe server: idle for ${Math.round(idleExitMs / 1000)} s, exiting`);
        resolve();
      }, Math.min(1000, idleExitMs));
    }
  });
  clearInterval(idleCheck);
  await server.close();
  return 0;
}

export interface RemoteRunOptions {
  url: string;
  token?: string;
  file: string;
  options: JobOptions;
  onProgress?: (snapshot: ProgressSnapshot) => void;
}

const RECONNECT_ATTEMPTS = 5;

/**
 * Compiles the pipeline here, uploads the bundle (so the server needs no access to this disk), then
 * follows the job's events until it finishes, reattaching if the stream drops. Ctrl-C cancels the job.
 */
export async function runRemote(run: RemoteRunOptions): Promise<{ result?: JobResult; error?: JobError }> {
  const client = new RemoteClient(run.url, run.token);
  const { filename, code } = compilePipeline(run.file);
  const { job } = await client.request("POST", "/jobs", "job", {
    type: "submitJob", source: { kind: "bundle", filename, code }, options: run.options,
  });
  const onInterrupt = () => {
    console.error(`\nrdpipe: cancelling job ${job.id} on ${run.url}`);
    client.request("POST", `/jobs/${job.id}/cancel`, "job").catch((e: Error) => console.error(`rdpipe: cancel failed: ${e.message}`));
  };
  process.on("SIGINT", onInterrupt);
  try {
    let lastEventId: number | undefined;
    for (let attempt = 0; attempt < RECONNECT_ATTEMPTS; attempt++) {
      for await (const event of client.events(job.id, { lastEventId })) {
        lastEventId = event.seq;
        if (event.type === "progress" || (event.type === "state" && event.progress)) run.onProgress?.(event.progress!);
        if (event.type === "log") process.stderr.write(event.text);
        if (event.type === "finished" || (event.type === "state" && FINISHED_STATES.includes(event.job.state))) {
          const { result, error, state } = event.job;
          return result ? { result } : { error: error ?? { message: `the job ended ${state}` } };
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
    }
    throw new RemoteError(0, "events", `lost the event stream of job ${job.id}; it may still be running on ${run.url}`);
  } finally {
    process.off("SIGINT", onInterrupt);
  }
}
