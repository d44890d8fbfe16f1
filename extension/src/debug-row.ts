// "Debug this row": a Node debug session that runs `rdpipe debug-row` on an errored row — the row goes
// through the plan up to the operator that failed on it, in one process — with a breakpoint on the
// line of the pipeline file where the UDF threw, so the session stops there with the row in scope.
import { randomUUID } from "node:crypto";
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

/**
 * The launch configuration of the session: the engine's frames (the rdpipe package `script` belongs to:
 * its bin/, dist/ and node_modules/) and Node's are skipped, so the call stack starts at the user's UDF.
 */
export function debugRowLaunch(script: string, pipeline: string, row: CheckpointErroredRow): vscode.DebugConfiguration {
  const engine = path.dirname(path.dirname(script));
  return {
    type: "node", request: "launch", name: `rdpipe: debug row ${JSON.stringify(row.id)} of ${row.operator}`,
    runtimeExecutable: process.execPath, env: nodeEnvironment(),
    program: script, args: ["debug-row", pipeline, "--operator", row.operator, "--row", row.input],
    cwd: path.dirname(pipeline), console: "internalConsole", sourceMaps: true,
    skipFiles: ["<node_internals>/**", ...["bin", "dist", "node_modules"].map((folder) => path.join(engine, folder, "**"))],
  };
}

/** Adds a breakpoint at `line` of `pipeline` unless one is there; returns the one it added. */
function addBreakpoint(pipeline: string, line: number): vscode.SourceBreakpoint | undefined {
  const existing = vscode.debug.breakpoints.some((breakpoint) => breakpoint instanceof vscode.SourceBreakpoint
    && breakpoint.location.uri.fsPath === pipeline && breakpoint.location.range.start.line === line - 1);
  if (existing) return undefined;
  const added = new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(pipeline), new vscode.Position(line - 1, 0)));
  vscode.debug.addBreakpoints([added]);
  return added;
}

/** Debugs `row` of `pipeline` with the rdpipe CLI `script`; a breakpoint it adds goes when the session ends. */
export async function debugErroredRow(script: string, pipeline: string, row: CheckpointErroredRow): Promise<void> {
  if (!fs.existsSync(pipeline)) {
    throw new Error(`cannot debug the row: the pipeline file ${pipeline} is not on this machine (the job ran on a remote server)`);
  }
  const uri = vscode.Uri.file(pipeline);
  const line = failingLine(row.stack, pipeline);
  const added = line === undefined ? undefined : addBreakpoint(pipeline, line);
  // Where the file is shown already, else the first group: not over the job panel, which has the focus.
  const viewColumn = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.fsPath === pipeline)?.viewColumn ?? vscode.ViewColumn.One;
  await vscode.window.showTextDocument(uri, { viewColumn, preview: false, selection: line === undefined ? undefined : new vscode.Range(line - 1, 0, line - 1, 0) });
  // Marks this session's configuration, to know it among the sessions that end (the debugger's child sessions have their own).
  const marker = randomUUID();
  const removeAdded = () => { if (added) vscode.debug.removeBreakpoints([added]); };
  const ended = vscode.debug.onDidTerminateDebugSession((session) => {
    if (session.configuration.rdpipeDebugRow !== marker) return;
    ended.dispose();
    removeAdded();
  });
  let started = false;
  try {
    started = await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(uri), { ...debugRowLaunch(script, pipeline, row), rdpipeDebugRow: marker });
  } finally {
    if (!started) {
      ended.dispose();
      removeAdded();
    }
  }
  if (!started) throw new Error("VS Code did not start the debug session (is the JavaScript debugger enabled?)");
}
