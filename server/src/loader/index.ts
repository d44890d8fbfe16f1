// Loads *.rdpipe.ts pipeline files: bundle with esbuild, compile in memory with `rdpipe` resolving
// to this engine's API, and take the default export (a Dataset or a function returning one).
import Module from "node:module";
import path from "node:path";
import fs from "node:fs";
import type { Message } from "esbuild";
import * as arrow from "apache-arrow";
import * as api from "../api";
import { Dataset } from "../api/dataset";
import { withPipelineDir } from "../api/paths";
import { opsInOrder, type LogicalOp, type ModuleRef } from "../plan";
import { RdpipeError } from "../errors";
import { cachedBundle, storeBundle } from "./bundle-cache";
import { registerPipelineModule } from "./stack";

export type { ModuleRef } from "../plan";

export class PipelineLoadError extends RdpipeError {
  readonly code = "load";
}

/**
 * Modules a pipeline shares with the engine, so values (Datasets, Arrow tables) keep their identity. The
 * engine's own Arrow, imported as the engine imports it: a require() here put a second copy of Arrow in
 * each bundle (its CommonJS build beside the ES one), loaded at every start, whose classes were not the engine's.
 */
const SHARED_MODULES: Record<string, unknown> = { rdpipe: api, "apache-arrow": arrow };

/**
 * esbuild, loaded only where a pipeline is compiled. Its buildSync then runs one esbuild process that ends
 * with the call: by default it keeps a worker thread and a service process that outlive the command.
 * Where esbuild was loaded already (tsx in tests), it has chosen its worker thread: the variable is left
 * alone, or the thread (whose environment is a copy) would not serve and buildSync would wait forever.
 */
function esbuild(): typeof import("esbuild") {
  const id = require.resolve("esbuild");
  if (!require.cache[id]) process.env.ESBUILD_WORKER_THREADS = "0";
  return require(id) as typeof import("esbuild");
}

/** What a cached bundle was made by: esbuild's version and our options (a change to either makes a new bundle). */
const COMPILER_KEY = `esbuild ${(require("esbuild/package.json") as { version: string }).version}; cjs node20 strict inline-sourcemap; external ${Object.keys(SHARED_MODULES).join(",")}`;

export function compilePipeline(file: string): ModuleRef {
  const filename = path.resolve(file);
  if (!fs.existsSync(filename)) throw new PipelineLoadError(`pipeline file not found: ${filename}`);
  const cached = cachedBundle(filename, COMPILER_KEY);
  if (cached !== undefined) return { filename, code: cached };
  try {
    const dir = path.dirname(filename);
    const builtAt = Date.now();
    const result = esbuild().buildSync({
      entryPoints: [filename], bundle: true, format: "cjs", platform: "node", target: "node20",
      // Source-map paths are relative to the working directory and resolved against the bundle's own
      // folder (the pipeline file's), so the two must be the same for stacks and breakpoints to land in the file.
      absWorkingDir: dir, write: false, sourcemap: "inline", sourcesContent: true, packages: "external",
      external: Object.keys(SHARED_MODULES), logLevel: "silent", metafile: true,
      // A pipeline file is an ES module, strict by definition; esbuild's CommonJS output leaves that out, and a
      // sloppy function's row could then be read as `f.arguments[0]`, past the optimizer's UDF column inference.
      banner: { js: '"use strict";' },
    });
    const code = result.outputFiles[0].text;
    storeBundle(filename, COMPILER_KEY, Object.keys(result.metafile.inputs).map((input) => path.resolve(dir, input)), code, builtAt);
    return { filename, code };
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    if (!errors?.length) throw e;
    throw new PipelineLoadError(errors.map((m) => {
      const loc = m.location;
      // esbuild names files relative to absWorkingDir (the pipeline's folder), not to this process's.
      return loc ? `${path.resolve(path.dirname(filename), loc.file)}:${loc.line}:${loc.column + 1}: ${m.text}\n    ${loc.lineText}` : m.text;
    }).join("\n"));
  }
}

process.setSourceMapsEnabled(true);

/** Runs the bundled module and returns its plan, tied to the module so workers can find its UDFs. */
export async function evaluatePipeline(ref: ModuleRef): Promise<Dataset> {
  const mod = new Module(ref.filename);
  mod.filename = ref.filename;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(ref.filename));
  const baseRequire = mod.require.bind(mod);
  mod.require = ((id: string) => (id in SHARED_MODULES ? SHARED_MODULES[id] : baseRequire(id))) as NodeJS.Require;
  registerPipelineModule(ref.filename, ref.code, mod);
  let exported: unknown;
  try {
    exported = await withPipelineDir(path.dirname(ref.filename), async () => {
      (mod as unknown as { _compile(code: string, filename: string): void })._compile(ref.code, ref.filename);
      const value = (mod.exports as { default?: unknown }).default;
      if (value === undefined) {
        throw new PipelineLoadError(`${ref.filename} has no default export: export default a Dataset, or a function returning one`);
      }
      return typeof value === "function" && !(value instanceof Dataset) ? await (value as () => unknown)() : value;
    });
  } catch (e) {
    if (e instanceof PipelineLoadError) throw e;
    throw new PipelineLoadError(`loading ${ref.filename} failed: ${describeError(e, ref.filename)}`);
  }
  if (!(exported instanceof Dataset)) {
    throw new PipelineLoadError(
      `the default export of ${ref.filename} must be a Dataset or a function returning one, got ${exported === null ? "null" : typeof exported}`);
  }
  return Dataset.fromPipelineModule(exported, ref);
}

let evaluated: { ref: ModuleRef; ops: Promise<LogicalOp[]> } | undefined;

/**
 * The pipeline's operators by plan position (opsInOrder), from evaluating the file in this process once
 * per file version: a worker takes from them what the plan cannot carry (UDFs, user-defined datasources).
 */
export function pipelineObjects(ref: ModuleRef): Promise<LogicalOp[]> {
  if (evaluated?.ref.code !== ref.code || evaluated.ref.filename !== ref.filename) {
    evaluated = { ref, ops: evaluatePipeline(ref).then((dataset) => opsInOrder(dataset.op)) };
  }
  return evaluated.ops;
}

export async function loadPipeline(file: string): Promise<Dataset> {
  return evaluatePipeline(compilePipeline(file));
}

/** "message (at file:line:column)", pointing at the first stack frame inside the pipeline file. */
export function describeError(e: unknown, filename: string): string {
  if (!(e instanceof Error)) return String(e);
  const frame = e.stack?.split("\n").find((line) => line.includes(filename));
  const location = frame?.match(/\(?([^()\s]+:\d+:\d+)\)?\s*$/)?.[1];
  return location ? `${e.message} (at ${location})` : e.message;
}
