// A job's title, without the DOM: the panel's header and the extension's editor tab both use it.

/** The pipeline's path relative to the workspace folder holding it (the deepest), else its base name. */
export function pipelineTitle(pipeline: string, workspaceFolders: string[]): string {
  const file = pipeline.replace(/\\/g, "/");
  const folder = workspaceFolders.map((f) => f.replace(/\\/g, "/").replace(/\/+$/, ""))
    .filter((f) => file.startsWith(`${f}/`)).sort((a, b) => b.length - a.length)[0];
  return folder === undefined ? file.split("/").at(-1) ?? file : file.slice(folder.length + 1);
}

/** An operator's name as people read it: fused steps joined by an arrow glyph, a function without a name "anonymous". */
export function readableOperatorName(name: string): string {
  return name.split("->").join(" → ").replace(/<lambda>/g, "anonymous");
}
