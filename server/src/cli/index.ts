// `rdpipe run FILE`: runs a pipeline file on the embedded executor with live progress.
import { parseArgs } from "node:util";
import { DataContext } from "../api/context";
import { type Dataset, type RunOptions, formatRow } from "../api/dataset";
import { ExecutionError, formatBytes, type ProgressSnapshot } from "../exec";
import { loadPipeline, PipelineLoadError } from "../loader";
import { PlanError } from "../plan";
import { IoError } from "../io";
import { BlockError } from "../block";
import { renderProgress } from "./progress";

const USAGE = `Usage:
  rdpipe run FILE [options]     Run a *.rdpipe.ts pipeline. A plan ending in a write writes;
                                any other plan prints its first rows.
    --preview N                 rows to print for a plan without a write (default 20)
    --workers N                 worker threads (CPU slots; default: all cores)
    --memory SIZE               memory budget for queued blocks, e.g. 256MB, 2GB
    --quiet                     no progress output
  rdpipe --version
`;

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`cannot read the size '${text}' (try 256MB or 2GB)`);
  const unit = (match[2] ?? "b").toLowerCase().replace("i", "");
  const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[unit]!;
  return Math.round(Number(match[1]) * factor);
}

class UsageError extends Error {}

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} expects a positive integer, got '${text}'`);
  return n;
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      preview: { type: "string" }, workers: { type: "string" }, memory: { type: "string" },
      quiet: { type: "boolean" }, help: { type: "boolean", short: "h" }, version: { type: "boolean" },
    },
  });
  if (values.version) { console.log(require("../../../package.json").version); return 0; }
  const [command, file, ...rest] = positionals;
  if (values.help || !command) { process.stdout.write(USAGE); return command || values.help ? 0 : 2; }
  if (command !== "run") throw new UsageError(`unknown command '${command}'`);
  if (!file || rest.length > 0) throw new UsageError("rdpipe run takes exactly one pipeline file");

  const preview = positiveInt("--preview", values.preview) ?? 20;
  const workers = positiveInt("--workers", values.workers);
  const memory = values.memory === undefined ? undefined : parseSize(values.memory);
  const context = DataContext.getCurrent();
  const dataset = await loadPipeline(file);
  // Command-line limits win over what the pipeline file set.
  if (workers) context.resourceLimits.cpu = workers;
  if (memory) context.resourceLimits.memoryBytes = memory;

  const progress = values.quiet ? undefined : progressPrinter(process.stderr);
  // Ctrl-C cancels the job cleanly: running tasks stop and partial output files are removed.
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once("SIGINT", onInterrupt);
  const runOptions = { onProgress: progress, signal: abort.signal };
  try {
    await runAndReport(dataset, preview, runOptions);
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  if (!values.quiet) console.error(`\n${dataset.stats()}`);
  return 0;
}

async function runAndReport(dataset: Dataset, preview: number, runOptions: RunOptions): Promise<void> {
  if (dataset.op.kind === "write") {
    const result = await dataset.run(runOptions);
    const bytes = result.written.reduce((s, f) => s + f.bytes, 0);
    console.log(`Wrote ${result.rowsOut.toLocaleString("en-US")} rows in ${result.written.length} files (${formatBytes(bytes)}) to ${dataset.op.path}`);
  } else {
    const rows = await dataset.take(preview, runOptions);
    for (const row of rows) console.log(formatRow(row));
    console.log(`(${rows.length} row${rows.length === 1 ? "" : "s"} shown)`);
  }
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

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`rdpipe: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    const known = [ExecutionError, PipelineLoadError, PlanError, IoError, BlockError].some((kind) => e instanceof kind);
    console.error(`\nrdpipe: ${known ? "" : "internal error: "}${(e as Error).message ?? e}`);
    if (e instanceof ExecutionError && e.info?.stack) console.error(udfFrames(e.info.stack));
    if (!known) console.error((e as Error).stack);
    return 1;
  }
}

/** The stack lines of a UDF error that point into user code rather than the engine. */
function udfFrames(stack: string): string {
  return stack.split("\n").filter((l) => /^\s+at /.test(l) && !/(dist[\\/](worker|cli)\.js|node:internal|node_modules)/.test(l)).join("\n");
}

if (require.main === module || process.argv[1]?.endsWith("rdpipe") || process.argv[1]?.endsWith("rdpipe.js")) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
