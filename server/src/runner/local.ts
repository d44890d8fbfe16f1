// `rdpipe run FILE` on the embedded executor: the pipeline runs in this process, on this machine's
// workers or on a cluster of nodes it starts.
import { DataContext } from "../api/context";
import { Cluster, type ClusterOptions, type HeadAddress, sharedWorkerPool } from "../cluster";
import type { JobOptions, JobResult } from "../contract";
import { loadPipeline } from "../loader";
import { runDataset, type RunDatasetOptions } from "./outcome";
import { applyResourceOptions } from "./pipeline";

export interface LocalRunOptions extends Omit<RunDatasetOptions, "signal">, Pick<JobOptions, "workers" | "memoryBytes"> {
  /** Run on a cluster of up to maxNodes nodes; `onHead` learns where they join. */
  cluster?: ClusterOptions & { onHead?: (head: HeadAddress) => void };
}

export async function runLocal(file: string, options: LocalRunOptions): Promise<JobResult> {
  const context = DataContext.getCurrent();
  // Worker threads take longer to start than the pipeline to load and plan: they start first, alongside.
  // (A pipeline that sets fewer CPUs leaves the extra ones idle.)
  if (!options.cluster) sharedWorkerPool(options.workers ?? context.cpuSlots());
  const dataset = await loadPipeline(file);
  applyResourceOptions(options);
  if (options.cluster) {
    context.cluster = new Cluster(options.cluster);
    options.cluster.onHead?.(await context.cluster.start());
  }
  // Ctrl-C cancels the job cleanly: running tasks stop and partial output files are removed.
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once("SIGINT", onInterrupt);
  try {
    return await runDataset(dataset, { preview: options.preview, onProgress: options.onProgress, signal: abort.signal });
  } finally {
    process.off("SIGINT", onInterrupt);
    await context.cluster?.shutdown();
  }
}
