// A job's title, without the DOM: the panel's header and the extension's editor tab both use it.

/** The pipeline's path relative to the workspace folder holding it (the deepest), else its base name. */
export function pipelineTitle(pipeline: string, workspaceFolders: string[]): string {
  const file = pipeline.replace(/\\/g, "/");
  const folder = workspaceFolders.map((f) => f.replace(/\\/g, "/").replace(/\/+$/, ""))
    .filter((f) => file.startsWith(`${f}/`)).sort((a, b) => b.length - a.length)[0];
  return folder === undefined ? file.split("/").at(-1) ?? file : file.slice(folder.length + 1);
}
