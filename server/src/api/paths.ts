import { AsyncLocalStorage } from "node:async_hooks";
import path from "node:path";

const pipelineDir = new AsyncLocalStorage<string>();

/** Runs fn with relative paths resolving against dir (the pipeline file's folder) instead of the cwd. */
export function withPipelineDir<T>(dir: string, fn: () => T): T {
  return pipelineDir.run(dir, fn);
}

/** Resolves a user-given local path: against the pipeline file's folder while it loads, else the cwd. */
export function resolveUserPath(p: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) return p; // a URL (s3://...) is not relative to anything
  return path.resolve(pipelineDir.getStore() ?? process.cwd(), p);
}
