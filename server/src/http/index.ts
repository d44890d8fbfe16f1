// The execution server (`rdpipe serve`): public entry of server/src/http.
import fs from "node:fs";
import https from "node:https";
import { RdpipeError } from "../errors";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Membership, packageRoot, readPemFile, type TlsFiles } from "../cluster";
import { createApp } from "./app";
import { JobManager } from "./jobs";
import { PathRoots } from "./paths";


export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Required unless host is a loopback address. */
  token?: string;
  /** Folders whose files the server may read and list (default: the cwd). */
  roots: string[];
  /** Where job records and uploaded bundles live. */
  stateDir: string;
  maxRunningJobs?: number;
  bodyLimit?: string;
  cancelGraceMs?: number;
  /** Serve HTTPS with this certificate and key; caFile is the cluster CA (see serverClusterTls). */
  tls?: ServerTlsFiles;
  /**
   * Nodes join here (`rdpipe node --head tcp://host:port --token T`) and every job runs its tasks on them; needs
   * the token, or `tls` (mutual TLS on this port, every job's head and the nodes' chunk servers; by default
   * `serverClusterTls` of the server's own `tls`). heartbeatTimeoutMs: a node silent this long is lost.
   */
  cluster?: { host: string; port: number; tls?: TlsFiles; heartbeatTimeoutMs?: number };
}

/** `rdpipe serve --tls-cert --tls-key [--tls-ca]`. */
export interface ServerTlsFiles { certFile: string; keyFile: string; caFile?: string }

/**
 * The mutual TLS a server's cluster port requires of nodes: its HTTPS certificate and key, and the CA
 * nodes' certificates must chain to (`Cluster`'s `tls` option). None without TLS; an error with
 * HTTPS but no CA, since a cluster port beyond loopback must not fall back to plain TCP silently.
 */
export function serverClusterTls(tls: ServerTlsFiles | undefined): TlsFiles | undefined {
  if (!tls) return undefined;
  if (tls.caFile === undefined) throw new ServerConfigError("a cluster port on a server with --tls-cert needs --tls-ca (the CA nodes' certificates must chain to)");
  return { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile };
}

export interface RunningServer {
  url: string;
  port: number;
  /** Where nodes join, with a cluster port. */
  clusterUrl?: string;
  /** How long the server has had no job queued or running and no request open (SSE streams included); 0 while busy. */
  idleMs(): number;
  close(): Promise<void>;
}

export class ServerConfigError extends RdpipeError {
  readonly code = "config";
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function defaultStateDir(): string {
  return path.join(os.homedir(), ".rdpipe", "server");
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  if (!isLoopback(options.host) && !options.token) {
    throw new ServerConfigError(`listening on ${options.host} (not loopback) requires a token: --token T or RDPIPE_TOKEN`);
  }
  const runnerPath = path.join(packageRoot(), "dist", "job-runner.js");
  if (!fs.existsSync(runnerPath)) throw new ServerConfigError(`job runner bundle missing at ${runnerPath}: run \`npm run build\``);
  let roots: PathRoots;
  try {
    roots = await PathRoots.create(options.roots);
  } catch (e) {
    throw new ServerConfigError(`a root folder does not exist: ${(e as Error).message}`);
  }
  let cluster: { membership: Membership; url: string } | undefined;
  if (options.cluster) {
    // With HTTPS the cluster port is mutual TLS too: nodes' certificates authenticate them, not the API token.
    const files = options.cluster.tls ?? serverClusterTls(options.tls);
    // Absolute: each job's runner (its own cwd) reads them too, for its head.
    const tls = files && { certFile: path.resolve(files.certFile), keyFile: path.resolve(files.keyFile), caFile: path.resolve(files.caFile) };
    if (!options.token && !tls) throw new ServerConfigError("--cluster-port needs a token (--token T or RDPIPE_TOKEN): nodes present it when they join");
    const membership = new Membership({ ...options.cluster, tls, token: tls ? undefined : options.token });
    try {
      cluster = { membership, url: await membership.start() };
    } catch (e) {
      throw new ServerConfigError(`cannot listen for nodes on ${options.cluster.host}:${options.cluster.port}: ${(e as Error).message}`);
    }
  }
  const jobs = new JobManager({
    stateDir: options.stateDir, runnerPath, maxRunningJobs: options.maxRunningJobs ?? Math.max(2, os.availableParallelism()),
    cancelGraceMs: options.cancelGraceMs ?? 5000, roots: roots.list(), cluster: cluster?.membership,
  });
  const version = JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version as string;
  const app = createApp({ jobs, roots, token: options.token, bodyLimit: options.bodyLimit ?? "10mb", version, cluster });
  const { tls } = options;
  const server = tls
    ? https.createServer({ cert: readPemFile("certificate", tls.certFile), key: readPemFile("key", tls.keyFile) }, app).listen(options.port, options.host)
    : app.listen(options.port, options.host);
  await new Promise<void>((resolve, reject) => { server.once("listening", resolve); server.once("error", reject); });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  let openRequests = 0;
  let lastActivity = Date.now();
  server.on("request", (_req, res) => {
    openRequests++;
    res.once("close", () => {
      openRequests--;
      lastActivity = Date.now();
    });
  });
  return {
    url: `${tls ? "https" : "http"}://${host}:${port}`, port, clusterUrl: cluster?.url,
    idleMs: () => {
      if (openRequests > 0 || jobs.hasActive()) lastActivity = Date.now();
      return Date.now() - lastActivity;
    },
    close: () => new Promise((resolve) => {
      jobs.close();
      cluster?.membership.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
