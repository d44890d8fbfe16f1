// `rdpipe run FILE`: runs a pipeline file on the embedded executor (or a remote server) with live
// progress; `rdpipe serve` starts the execution server; `rdpipe checkpoint show PATH` inspects a checkpoint;
// `rdpipe node` joins a head as a node.
import os from "node:os";
import { parseArgs } from "node:util";
import { runNode, readTlsFiles, tuneEngineProcess, type TlsFiles } from "../cluster";
import { RemoteError, type JobError, type JobResult, type ProgressSnapshot } from "../contract";
import { cutChunk, formatBytes, formatCount } from "../exec";
import { compilePipeline } from "../loader";
import { RdpipeError } from "../errors";
import { previewLines, runLocal, udfStackOf, type LocalRunOptions } from "../runner";
import { debugRow } from "../debug";
import { showCheckpoint } from "./checkpoint";
import { checkpointLine, renderProgress } from "./progress";
import { runRemote, serve } from "./server";

const USAGE = `Usage:
  rdpipe run FILE [options]     Run a *.rdpipe.ts pipeline. A plan ending in a write writes;
                                any other plan prints its first rows.
    --preview N                 rows to print for a plan without a write (default 20)
    --workers N                 worker threads (CPU slots; default: all cores)
    --memory SIZE               memory budget for queued blocks, e.g. 256MB, 2GB
    --quiet                     no progress output
    --nodes N                   run on up to N nodes (child processes started as work queues up)
    --cpus-per-node N           worker threads per node (default 1)
    --head-host H               interface nodes join on (default 127.0.0.1; anything else needs --token or --tls-*)
    --head-port P               port nodes join on (default: a free one; printed when --nodes is given)
    --tls-cert F --tls-key F --tls-ca F
                                with --nodes: nodes join over mutual TLS (PEM files: the head's
                                certificate and key, the CA nodes' certificates must chain to)
    --heartbeat-timeout S       a node silent this long is lost, its work rerun elsewhere (default 10)
    --server URL                run on an execution server (the file is compiled here and uploaded)
    --token T                   the server's token (default: $RDPIPE_TOKEN)
  rdpipe serve [options]        Start the execution server (HTTP API, see README)
    --host H                    interface to listen on (default 127.0.0.1; anything else needs a token)
    --port P                    port (default 7717; 0 picks a free one)
    --token T                   require Authorization: Bearer T (default: $RDPIPE_TOKEN)
    --root DIR                  a folder the server may read (repeatable; default: the cwd)
    --state-dir DIR             job records and uploaded bundles (default ~/.rdpipe/server)
    --max-jobs N                jobs running at once; later ones queue (default: cores, at least 2)
    --idle-exit SECONDS         exit after this long with no job and no client (default: never)
    --tls-cert F --tls-key F    serve HTTPS with this certificate and key (PEM files)
    --tls-ca F                  the cluster CA (PEM): nodes' certificates must chain to it
    --cluster-port P            head a cluster: nodes join on this port (0: a free one, printed)
                                and every job runs its tasks on them, sharing each node's CPUs
                                evenly; needs --token, which nodes present (with --tls-cert:
                                mutual TLS with the --tls-ca CA instead)
    --heartbeat-timeout S       with --cluster-port: a node silent this long is lost, its work
                                rerun elsewhere (default 10)
    --cluster-host H            interface nodes (and each job's sessions) connect to
                                (default 127.0.0.1; job runners listen there on free ports)
  rdpipe checkpoint show PATH   What a job's checkpoint (a folder or s3://bucket/prefix) holds:
                                committed files and IDs, done input files, attempts, errored rows
    --json                      everything as JSON, with each errored row's input and stack
  rdpipe node --head tcp://HOST:PORT | tls://HOST:PORT [options]
                                Join a head as a node, over TCP or mutual TLS: an \`rdpipe run --nodes\`
                                job, or an \`rdpipe serve --cluster-port\` server (then it runs every job's tasks)
    --token T                   the head's token (default: $RDPIPE_TOKEN; over TLS only if the head has one)
    --tls-cert F --tls-key F --tls-ca F
                                for tls://: this node's certificate and key, and the cluster CA
                                the head's certificate must chain to (PEM files)
    --cpus N                    worker threads on this node (default: all cores)
    --heartbeat-timeout S       drop the work and exit when the head is silent this long
                                (default: the head's timeout)
  rdpipe bundle FILE            Compile a pipeline file as rdpipe run --server uploads it: prints
                                JSON { filename, code } (the extension submits it to remote servers)
  rdpipe debug-row FILE --operator NAME --row JSON
                                Run one row (an errored row's input) through the operator that
                                failed on it, in this process, to debug its UDF (prints the
                                operator's output rows, or the UDF's error and stack)
  rdpipe --version
`;

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`cannot read the size '${text}' (try 256MB or 2GB)`);
  const unit = (match[2] ?? "b").toLowerCase().replace("i", "");
  const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[unit]!;
  return Math.round(Number(match[1]) * factor);
}

/** `rdpipe serve`'s cluster port, if it was given. */
function clusterOption(host: string | undefined, port: string | undefined, heartbeatTimeoutMs: number | undefined): { host: string; port: number; heartbeatTimeoutMs?: number } | undefined {
  if (port === undefined) {
    if (host !== undefined) throw new UsageError("--cluster-host needs --cluster-port");
    return undefined;
  }
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--cluster-port expects a port number, got '${port}'`);
  return { host: host ?? "127.0.0.1", port: n, heartbeatTimeoutMs };
}

export class UsageError extends RdpipeError {
  readonly code = "usage";
}

export function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} expects a positive integer, got '${text}'`);
  return n;
}

/** The cluster's TLS files: all three flags, or none. */
function clusterTls(flags: Partial<TlsFiles>, command: string): TlsFiles | undefined {
  const { certFile, keyFile, caFile } = flags;
  if (certFile === undefined && keyFile === undefined && caFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined || caFile === undefined) throw new UsageError(`${command} takes --tls-cert, --tls-key and --tls-ca together`);
  return { certFile, keyFile, caFile };
}

/** Seconds (fractions allowed) as milliseconds. */
function positiveSeconds(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`${name} expects a positive number of seconds, got '${text}'`);
  return Math.round(seconds * 1000);
}

/** What the CLI saw of the job it ran: its latest progress (for the checkpoint note after a failure). */
interface Session { last?: ProgressSnapshot }

async function run(argv: string[], session: Session): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      preview: { type: "string" }, workers: { type: "string" }, memory: { type: "string" },
      quiet: { type: "boolean" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" }, version: { type: "boolean" },
      server: { type: "string" }, token: { type: "string" }, host: { type: "string" }, port: { type: "string" },
      root: { type: "string", multiple: true }, "idle-exit": { type: "string" }, "state-dir": { type: "string" }, "max-jobs": { type: "string" },
      operator: { type: "string" }, row: { type: "string" },
      nodes: { type: "string" }, "cpus-per-node": { type: "string" }, "cluster-host": { type: "string" }, "cluster-port": { type: "string" }, "head-host": { type: "string" }, "head-port": { type: "string" }, head: { type: "string" }, cpus: { type: "string" },
      "tls-cert": { type: "string" }, "tls-key": { type: "string" }, "tls-ca": { type: "string" },
      "heartbeat-timeout": { type: "string" },
    },
  });
  const tlsFlags = { certFile: values["tls-cert"], keyFile: values["tls-key"], caFile: values["tls-ca"] };
  if (values.version) { console.log(require("../../../package.json").version); return 0; }
  const [command, file, ...rest] = positionals;
  if (values.help || !command) { process.stdout.write(USAGE); return command || values.help ? 0 : 2; }
  const token = values.token ?? process.env.RDPIPE_TOKEN;
  const heartbeatTimeoutMs = positiveSeconds("--heartbeat-timeout", values["heartbeat-timeout"]);
  if (command === "serve") {
    if (file) throw new UsageError("rdpipe serve takes no file");
    const port = values.port === undefined ? 7717 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port expects a port number, got '${values.port}'`);
    const { certFile, keyFile, caFile } = tlsFlags;
    if ((certFile === undefined) !== (keyFile === undefined) || (caFile !== undefined && certFile === undefined)) {
      throw new UsageError("rdpipe serve takes --tls-cert and --tls-key together (and --tls-ca only with them)");
    }
    return serve({
      host: values.host ?? "127.0.0.1", port, token, roots: values.root ?? [process.cwd()], stateDir: values["state-dir"],
      tls: certFile === undefined ? undefined : { certFile, keyFile: keyFile!, caFile },
      maxRunningJobs: positiveInt("--max-jobs", values["max-jobs"]),
      idleExitMs: values["idle-exit"] === undefined ? undefined : positiveInt("--idle-exit", values["idle-exit"])! * 1000,
      cluster: clusterOption(values["cluster-host"], values["cluster-port"], heartbeatTimeoutMs),
    });
  }
  if (command === "checkpoint") {
    if (file !== "show") throw new UsageError(file ? `unknown checkpoint command '${file}'` : "rdpipe checkpoint needs a command: show PATH");
    if (rest.length !== 1) throw new UsageError("rdpipe checkpoint show takes exactly one checkpoint path");
    return showCheckpoint(rest[0], values.json ?? false);
  }
  if (command === "node") {
    if (file) throw new UsageError("rdpipe node takes no file");
    if (!values.head) throw new UsageError("rdpipe node needs --head tcp://HOST:PORT or tls://HOST:PORT");
    const tls = clusterTls(tlsFlags, "rdpipe node");
    if (!token && !tls) throw new UsageError("rdpipe node needs the head's token (--token or RDPIPE_TOKEN), or --tls-cert, --tls-key and --tls-ca for tls://");
    return runNode({ head: values.head, token, tls: tls && readTlsFiles(tls), cpus: positiveInt("--cpus", values.cpus) ?? os.availableParallelism(), launch: process.env.RDPIPE_LAUNCH, heartbeatTimeoutMs, cutChunk });
  }
  if (command === "bundle") {
    if (!file || rest.length > 0) throw new UsageError("rdpipe bundle takes exactly one pipeline file");
    const { filename, code } = compilePipeline(file);
    process.stdout.write(`${JSON.stringify({ filename, code })}\n`);
    return 0;
  }
  if (command === "debug-row") {
    if (!file || rest.length > 0) throw new UsageError("rdpipe debug-row takes exactly one pipeline file");
    if (values.operator === undefined || values.row === undefined) throw new UsageError("rdpipe debug-row needs --operator NAME and --row JSON");
    const output = await debugRow({ file, operator: values.operator, input: values.row });
    for (const row of output) console.log(row);
    console.log(`(${values.operator} gave ${output.length} row${output.length === 1 ? "" : "s"})`);
    return 0;
  }
  if (command !== "run") throw new UsageError(`unknown command '${command}'`);
  if (values.json) throw new UsageError("--json applies to rdpipe checkpoint show");
  if (!file || rest.length > 0) throw new UsageError("rdpipe run takes exactly one pipeline file");

  const preview = positiveInt("--preview", values.preview) ?? 20;
  const workers = positiveInt("--workers", values.workers);
  const memory = values.memory === undefined ? undefined : parseSize(values.memory);
  const printer = values.quiet ? undefined : progressPrinter(process.stderr);
  const progress = (snapshot: ProgressSnapshot) => { session.last = snapshot; printer?.(snapshot); };
  if (values.server) {
    if (tlsFlags.certFile ?? tlsFlags.keyFile ?? tlsFlags.caFile) throw new UsageError("--tls-* apply to --nodes; for an https:// server set NODE_EXTRA_CA_CERTS to its CA file");
    const outcome = await runRemote({ url: values.server, token, file, options: { preview, workers, memoryBytes: memory }, onProgress: progress });
    return printOutcome(outcome, values.quiet ?? false, session.last);
  }
  const maxNodes = positiveInt("--nodes", values.nodes);
  if (!maxNodes && (tlsFlags.certFile ?? tlsFlags.keyFile ?? tlsFlags.caFile)) throw new UsageError("--tls-cert, --tls-key and --tls-ca apply to --nodes");
  let cluster: LocalRunOptions["cluster"];
  if (maxNodes) {
    const headPort = values["head-port"] === undefined ? 0 : positiveInt("--head-port", values["head-port"]);
    const headHost = values["head-host"] ?? "127.0.0.1";
    const tls = clusterTls(tlsFlags, "rdpipe run --nodes");
    if (!token && !tls && !["127.0.0.1", "::1", "localhost"].includes(headHost)) throw new UsageError("--head-host beyond loopback needs --token (or RDPIPE_TOKEN) or --tls-cert, --tls-key and --tls-ca");
    cluster = {
      maxNodes, cpusPerNode: positiveInt("--cpus-per-node", values["cpus-per-node"]) ?? 1, host: headHost, port: headPort, token, tls, heartbeatTimeoutMs,
      onHead: (head) => {
        if (!values.quiet) console.error(`rdpipe: nodes join at ${head.url}${token || tls ? "" : " (pass --token to let nodes started elsewhere join)"}`);
      },
    };
  }
  const result = await runLocal(file, { preview, workers, memoryBytes: memory, onProgress: progress, cluster });
  return printOutcome({ result }, values.quiet ?? false, session.last);
}

/**
 * What a finished job prints, local or remote: the written files (and what it did with its checkpoint) or
 * the preview rows, then stats; or the error. `last` is the job's final progress.
 */
export function printOutcome(outcome: { result?: JobResult; error?: JobError }, quiet: boolean, last?: ProgressSnapshot): number {
  const { result, error } = outcome;
  if (!result) {
    console.error(`\nrdpipe: ${error?.message ?? "the job ended without a result"}`);
    if (error?.stack && error.kind === "udf") console.error(udfFrames(error.stack));
    printCheckpointAfterFailure(last);
    return 1;
  }
  if (result.written) {
    const { written } = result;
    console.log(`Wrote ${formatCount(result.rowsOut)} rows in ${written.files} files (${formatBytes(written.bytes)}) to ${written.path}`);
    const checkpoint = last && checkpointLine(last);
    if (checkpoint) console.log(checkpoint.charAt(0).toUpperCase() + checkpoint.slice(1));
  } else {
    for (const line of result.preview ? previewLines(result.preview) : []) console.log(line);
    console.log(`(${result.rowsOut} row${result.rowsOut === 1 ? "" : "s"} shown)`);
  }
  if (!quiet) console.error(`\n${result.statsText}`);
  return 0;
}

function progressPrinter(stream: NodeJS.WriteStream): (p: ProgressSnapshot) => void {
  let drawnLines = 0;
  let lastPlain = 0;
  return (snapshot) => {
    const lines = renderProgress(snapshot, stream.isTTY ? stream.columns : undefined);
    if (stream.isTTY) {
      if (drawnLines > 0) stream.write(`\x1b[${drawnLines}A`);
      stream.write(lines.map((l) => `\x1b[2K${l}\n`).join(""));
      drawnLines = lines.length;
    } else if (snapshot.finished || snapshot.elapsedMs - lastPlain >= 5000) {
      lastPlain = snapshot.elapsedMs;
      stream.write(lines.map((l) => `[${(snapshot.elapsedMs / 1000).toFixed(1)}s] ${l}\n`).join(""));
    }
  };
}

/** A failed checkpointed job keeps its checkpoint: say what it holds and how to resume. */
function printCheckpointAfterFailure(last: ProgressSnapshot | undefined): void {
  if (last?.checkpoint) console.error(`${checkpointLine(last)}; checkpoint kept at ${last.checkpoint.path}: run the job again to resume`);
}

export async function main(argv: string[]): Promise<number> {
  tuneEngineProcess();
  const session: Session = {};
  try {
    return await run(argv, session);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`rdpipe: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const known = e instanceof RdpipeError || e instanceof RemoteError;
    console.error(`\nrdpipe: ${known ? "" : "internal error: "}${(e as Error).message ?? e}`);
    const udfStack = udfStackOf(e);
    if (udfStack) console.error(udfFrames(udfStack));
    if (!known) console.error((e as Error).stack);
    printCheckpointAfterFailure(session.last);
    return 1;
  }
}

/** The stack lines of a UDF error that point into user code rather than the engine. */
function udfFrames(stack: string): string {
  return stack.split("\n").filter((l) => /^\s+at /.test(l) && !/(dist[\\/](worker|cli)\.js|node:internal|node_modules)/.test(l)).join("\n");
}

if (require.main === module || process.argv[1]?.endsWith("rdpipe") || process.argv[1]?.endsWith("rdpipe.js")) {
  // Once the command's output is out, nothing may hold the process: a task that a satisfied limit cancelled
  // would otherwise finish reading files nobody wants (its worker stays busy), and a preview would wait for it.
  // From a microtask: the code cache of this bundle (bin/rdpipe.js) is made once its top level has run, before
  // the command starts worker threads, which set a V8 flag.
  void Promise.resolve(process.argv.slice(2)).then(main).then((code) => {
    process.exitCode = code;
    process.stdout.write("", () => process.stderr.write("", () => process.exit()));
  });
}
