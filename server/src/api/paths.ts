import { AsyncLocalStorage } from "node:async_hooks";
import path from "node:path";

const pipelineDir = new AsyncLocalStorage<string>();

let loading = 0;

/**
 * Runs fn with relative paths resolving against dir (the pipeline file's folder) instead of the cwd.
 * The storage is disabled again once no load is running: while enabled, Node runs async hooks on every
 * promise of the thread, which cost a worker's block path CPU and JIT time for the rest of its life.
 */
export async function withPipelineDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  loading++;
  try {
    return await pipelineDir.run(dir, fn);
  } finally {
    if (--loading === 0) pipelineDir.disable();
  }
}

/** Resolves a user-given local path: against the pipeline file's folder while it loads, else the cwd. */
export function resolveUserPath(p: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) return p; // a URL (s3://...) is not relative to anything
  return path.resolve(pipelineDir.getStore() ?? process.cwd(), p);
}
