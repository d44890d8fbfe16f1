// Stack frames in a compiled pipeline are mapped to the pipeline file's lines by us, from the bundle's
// inline source map. Node's own mapping holds a compiled module only weakly (its source-map cache keys a
// WeakRef to the Module): a pipeline module nothing else references is collected after evaluation, and
// from the next GC on Node printed bundle lines (how much the process had loaded decided when).
import { SourceMap } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

interface Compiled {
  code: string;
  /** Kept so Node's own cache (error source snippets, findSourceMap) keeps the entry too. */
  module: object;
  map?: SourceMap | null;
}

/** The last compiled version of each pipeline file, by the file name its frames carry. */
const compiled = new Map<string, Compiled>();

const INLINE_MAP = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;

function sourceMapOf(entry: Compiled): SourceMap | null {
  if (entry.map === undefined) {
    const base64 = INLINE_MAP.exec(entry.code)?.[1];
    entry.map = base64 === undefined ? null : new SourceMap(JSON.parse(Buffer.from(base64, "base64").toString("utf8")));
  }
  return entry.map;
}

/** As Node serializes a frame it maps (lib/internal/source_map/prepare_stack_trace.js), from our map. */
function mappedFrame(map: SourceMap, filename: string, site: NodeJS.CallSite, caller: NodeJS.CallSite | undefined): string | undefined {
  const { originalSource, originalLine, originalColumn } = map.findEntry(site.getLineNumber()! - 1, site.getColumnNumber()! - 1) as Partial<{ originalSource: string; originalLine: number; originalColumn: number }>;
  if (originalSource === undefined || originalLine === undefined || originalColumn === undefined) return undefined;
  const source = fileURLToPath(/^file:/.test(originalSource) ? originalSource : new URL(originalSource, pathToFileURL(filename)));
  let name = (map.findEntry(site.getEnclosingLineNumber()! - 1, site.getEnclosingColumnNumber()! - 1) as { name?: string }).name;
  if (!name && caller && caller.getFileName() === filename) {
    name = (map.findEntry(caller.getLineNumber()! - 1, caller.getColumnNumber()! - 1) as { name?: string }).name;
  }
  const prefix = site.isAsync() ? "async " : site.isConstructor() ? "new " : "";
  const typeName = site.getTypeName();
  const ownName = `${typeName !== null && typeName !== "global" ? `${typeName}.` : ""}${site.getFunctionName() ?? site.getMethodName() ?? "<anonymous>"}`;
  return `${prefix}${name && name !== ownName ? name : ownName} (${source}:${originalLine + 1}:${originalColumn + 1})`;
}

type Prepare = (error: Error, sites: NodeJS.CallSite[]) => unknown;

const FRAME = "\n    at ";

/**
 * Node's formatting (Node 20 defines it as Error.prepareStackTrace) with the frames of compiled pipelines
 * replaced by ours. Node's text is "header" + one FRAME per call site; a header of its own is kept as Node made it.
 */
function withPipelineFrames(nodeFormat: Prepare | undefined): Prepare {
  return (error, sites) => {
    const text = nodeFormat ? String(nodeFormat(error, sites)) : `${Error.prototype.toString.call(error)}${sites.map((s) => `${FRAME}${s}`).join("")}`;
    if (!sites.some((site) => compiled.has(site.getFileName() ?? ""))) return text;
    const header = nodeFormat ? String(nodeFormat(error, [])) : Error.prototype.toString.call(error);
    const frames = text.slice(header.length).split(FRAME).slice(1);
    if (!text.startsWith(header) || frames.length !== sites.length) return text;
    return header + sites.map((site, i) => {
      const filename = site.getFileName() ?? "";
      const entry = compiled.get(filename);
      const map = entry && sourceMapOf(entry);
      return FRAME + ((map && mappedFrame(map, filename, site, sites[i + 1])) ?? frames[i]);
    }).join("");
  };
}

let installed = false;

/** Registers a compiled pipeline module: from now on every stack in this process names its file's lines. */
export function registerPipelineModule(filename: string, code: string, module: object): void {
  compiled.set(filename, { code, module });
  if (installed) return;
  installed = true;
  Error.prepareStackTrace = withPipelineFrames(Error.prepareStackTrace) as typeof Error.prepareStackTrace;
}
