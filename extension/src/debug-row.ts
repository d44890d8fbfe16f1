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

const isAt = (breakpoint: vscode.Breakpoint, file: string, line: number): breakpoint is vscode.SourceBreakpoint =>
  breakpoint instanceof vscode.SourceBreakpoint && breakpoint.location.uri.fsPath === file && breakpoint.location.range.start.line === line - 1;

/** Adds a breakpoint at `line` of `pipeline` unless one is there; returns the one it added. */
function addBreakpoint(pipeline: string, line: number): vscode.SourceBreakpoint | undefined {
  if (vscode.debug.breakpoints.some((breakpoint) => isAt(breakpoint, pipeline, line))) return undefined;
  const added = new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(pipeline), new vscode.Position(line - 1, 0)));
  vscode.debug.addBreakpoints([added]);
  return added;
}

/**
 * The breakpoints Debug this row added, kept in the workspace's state until their session ends: a
 * window reload during the session ends the extension host, and the listener that would remove the
 * breakpoint with it, while VS Code keeps the breakpoint.
 */
const ADDED_KEY = "rdpipe.debugRow.addedBreakpoints";
interface AddedBreakpoint { marker: string; file: string; line: number }

const recorded = (state: vscode.Memento) => state.get<AddedBreakpoint[]>(ADDED_KEY, []);
const forget = (state: vscode.Memento, marker: string) => state.update(ADDED_KEY, recorded(state).filter((entry) => entry.marker !== marker));

/** Removes the breakpoint of `entry` once the session marked `entry.marker` ends (it may have ended already). */
function removeWhenEnded(state: vscode.Memento, entry: AddedBreakpoint, breakpoint?: vscode.Breakpoint): vscode.Disposable {
  const remove = () => {
    const shown = breakpoint ? [breakpoint] : vscode.debug.breakpoints.filter((b) => isAt(b, entry.file, entry.line));
    if (shown.length > 0) vscode.debug.removeBreakpoints(shown);
    void forget(state, entry.marker);
  };
  const ended = vscode.debug.onDidTerminateDebugSession((session) => {
    if (session.configuration.rdpipeDebugRow !== entry.marker) return;
    ended.dispose();
    remove();
  });
  return { dispose: () => { ended.dispose(); remove(); } };
}

/** How long after activation the breakpoints VS Code restored may still arrive in the extension host. */
const RESTORE_WAIT_MS = 30_000;

/**
 * On activation: removes the breakpoints that sessions of an earlier extension host added (their
 * listener went with that host). VS Code hands the extension host its breakpoints after it first asks,
 * so they are looked for in each change until all are found, or for RESTORE_WAIT_MS.
 */
export function removeLeftBreakpoints(state: vscode.Memento): vscode.Disposable {
  const running = (entry: AddedBreakpoint) => vscode.debug.activeDebugSession?.configuration.rdpipeDebugRow === entry.marker;
  // A session that outlived the old host (its debugger ran elsewhere) still ends as usual.
  for (const entry of recorded(state).filter(running)) removeWhenEnded(state, entry);
  const left = recorded(state).filter((entry) => !running(entry));
  if (left.length === 0) return new vscode.Disposable(() => undefined);
  const sweep = () => {
    for (const entry of [...left]) {
      const found = vscode.debug.breakpoints.filter((breakpoint) => isAt(breakpoint, entry.file, entry.line));
      if (found.length === 0) continue;
      vscode.debug.removeBreakpoints(found);
      left.splice(left.indexOf(entry), 1);
      void forget(state, entry.marker);
    }
    if (left.length === 0) stop();
  };
  const changes = vscode.debug.onDidChangeBreakpoints(sweep);
  const timer = setTimeout(() => {
    stop();
    // Not restored by now: the user removed them.
    for (const entry of left) void forget(state, entry.marker);
  }, RESTORE_WAIT_MS);
  function stop() {
    changes.dispose();
    clearTimeout(timer);
  }
  sweep();
  return new vscode.Disposable(stop);
}

/** Debugs `row` of `pipeline` with the rdpipe CLI `script`; a breakpoint it adds goes when the session ends (recorded in `state` until then). */
export async function debugErroredRow(state: vscode.Memento, script: string, pipeline: string, row: CheckpointErroredRow): Promise<void> {
  if (!fs.existsSync(pipeline)) {
    throw new Error(`cannot debug the row: the pipeline file ${pipeline} is not on this machine (the job ran on a remote server)`);
  }
  const uri = vscode.Uri.file(pipeline);
  const line = failingLine(row.stack, pipeline);
  // Marks this session's configuration, to know it among the sessions that end (the debugger's child sessions have their own).
  const marker = randomUUID();
  const added = line === undefined ? undefined : addBreakpoint(pipeline, line);
  let cleanup: vscode.Disposable | undefined;
  if (added && line !== undefined) {
    const entry = { marker, file: pipeline, line };
    await state.update(ADDED_KEY, [...recorded(state), entry]);
    cleanup = removeWhenEnded(state, entry, added);
  }
  // Where the file is shown already, else the first group: not over the job panel, which has the focus.
  const viewColumn = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.fsPath === pipeline)?.viewColumn ?? vscode.ViewColumn.One;
  let started = false;
  try {
    await vscode.window.showTextDocument(uri, { viewColumn, preview: false, selection: line === undefined ? undefined : new vscode.Range(line - 1, 0, line - 1, 0) });
    started = await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(uri), { ...debugRowLaunch(script, pipeline, row), rdpipeDebugRow: marker });
  } finally {
    if (!started) cleanup?.dispose();
  }
  if (!started) throw new Error("VS Code did not start the debug session (is the JavaScript debugger enabled?)");
}
