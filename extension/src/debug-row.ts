// "Debug this row": a Node debug session that runs `rdpipe debug-row` on an errored row — the row goes
// through the plan up to the operator that failed on it, in one process — with a breakpoint on the
// line of the pipeline file where the UDF threw, so the session stops there with the row in scope.
import fs from "node:fs";
import path from "node:path";
import * as vscode from "vscode";
import type { CheckpointErroredRow } from "../../server/src/contract";
import { nodeEnvironment } from "./bundled-cli";

/** The first stack frame inside the pipeline file: where the UDF threw. */
function failingLine(stack: string | undefined, pipeline: string): number | undefined {
  for (const line of stack?.split("\n") ?? []) {
    const at = line.lastIndexOf(`${pipeline}:`);
    if (at < 0) continue;
    const lineNumber = Number(/^:(\d+):\d+/.exec(line.slice(at + pipeline.length))?.[1]);
    if (lineNumber > 0) return lineNumber;
  }
  return undefined;
}

/** Debugs `row` of `pipeline` with the rdpipe CLI `script`. */
export async function debugErroredRow(script: string, pipeline: string, row: CheckpointErroredRow): Promise<void> {
  if (!fs.existsSync(pipeline)) {
    throw new Error(`cannot debug the row: the pipeline file ${pipeline} is not on this machine (the job ran on a remote server)`);
  }
  const uri = vscode.Uri.file(pipeline);
  const line = failingLine(row.stack, pipeline);
  if (line !== undefined) {
    const location = new vscode.Location(uri, new vscode.Position(line - 1, 0));
    const existing = vscode.debug.breakpoints.some((breakpoint) => breakpoint instanceof vscode.SourceBreakpoint
      && breakpoint.location.uri.fsPath === pipeline && breakpoint.location.range.start.line === line - 1);
    if (!existing) vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(location)]);
  }
  // Where the file is shown already, else the first group: not over the job panel, which has the focus.
  const viewColumn = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.fsPath === pipeline)?.viewColumn ?? vscode.ViewColumn.One;
  await vscode.window.showTextDocument(uri, { viewColumn, preview: false, selection: line === undefined ? undefined : new vscode.Range(line - 1, 0, line - 1, 0) });
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  const started = await vscode.debug.startDebugging(folder, {
    type: "node", request: "launch", name: `rdpipe: debug row ${JSON.stringify(row.id)} of ${row.operator}`,
    runtimeExecutable: process.execPath, env: nodeEnvironment(),
    program: script, args: ["debug-row", pipeline, "--operator", row.operator, "--row", row.input],
    cwd: path.dirname(pipeline), console: "internalConsole", sourceMaps: true,
    skipFiles: ["<node_internals>/**"],
  });
  if (!started) throw new Error("VS Code did not start the debug session (is the JavaScript debugger enabled?)");
}
