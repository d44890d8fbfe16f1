// The extension's activation: the execution server connection (bundled local server or a remote one),
// the rdpipe language client for *.rdpipe.ts (beside the built-in TypeScript support), the job panel,
// and the commands (from CodeLens, which pass the operator, or the palette, which use the active editor).
import path from "node:path";
import * as vscode from "vscode";
import { LanguageClient, TransportKind } from "vscode-languageclient/node";
import { type BundleSource, FINISHED_STATES, type JobEvent, type JobSummary } from "../../server/src/contract";
import { ServerConnection, tokenKey } from "./connection";
import type { ServerEndpoint } from "./endpoint";
import { debugErroredRow, removeLeftBreakpoints } from "./debug-row";
import { compileBundle, jobSource } from "./bundled-cli";
import { latestJobOf } from "./jobs";
import { JobsTree } from "./jobs-view";
import { JobPanels } from "./panels";
import { scaffoldPipeline } from "./scaffold";
import { PIPELINE_SUFFIX, type LanguageServerOptions, type OperatorCommandArgument } from "./server/language-server";

let languageClient: LanguageClient | undefined;
/** Language client restarts, one after another (server changes can come in quick succession). */
let languageClientRestart: Promise<void> = Promise.resolve();

/** A command's argument: a CodeLens's operator, or nothing (the palette: the active pipeline file). */
type CommandArgument = OperatorCommandArgument | vscode.Uri | undefined;

function pipelineOf(argument: CommandArgument): string {
  if (argument instanceof vscode.Uri) return argument.fsPath;
  if (argument) return vscode.Uri.parse(argument.uri).fsPath;
  const document = vscode.window.activeTextEditor?.document;
  if (!document || !document.fileName.endsWith(PIPELINE_SUFFIX)) throw new Error(`open a ${PIPELINE_SUFFIX} pipeline file first`);
  return document.fileName;
}

/** Runs a command body, showing its failure (an unreachable server, a refused request) as an error message. */
function command<A>(name: string, log: vscode.OutputChannel, body: (argument: A) => Promise<void>): (argument: A) => Promise<void> {
  return async (argument) => {
    try {
      await body(argument);
    } catch (e) {
      log.appendLine(`[${name}] ${(e as Error).message}`);
      void vscode.window.showErrorMessage(`rdpipe ${name}: ${(e as Error).message}`);
    }
  };
}

/** (Re)starts the language client for the server in use, once the restarts queued before it are done. */
function restartLanguageClient(context: vscode.ExtensionContext, connection: ServerConnection, log: vscode.OutputChannel): void {
  languageClientRestart = languageClientRestart.then(async () => {
    const endpoint = connection.current;
    const options = languageClient?.clientOptions.initializationOptions as LanguageServerOptions | undefined;
    if (endpoint && options?.serverUrl === endpoint.url && options.token === endpoint.token && options.bundleWith === connection.bundleWith && options.caFile === endpoint.caFile) return;
    await startLanguageClient(context, endpoint && { serverUrl: endpoint.url, token: endpoint.token, bundleWith: connection.bundleWith, caFile: endpoint.caFile });
  }).catch((e: Error) => log.appendLine(`[language server] ${e.message}`));
}

async function startLanguageClient(context: vscode.ExtensionContext, options: LanguageServerOptions | undefined): Promise<void> {
  await languageClient?.stop();
  languageClient = undefined;
  if (!options) return;
  const module = context.asAbsolutePath("dist/server.js");
  languageClient = new LanguageClient("rdpipe", "rdpipe language server", {
    run: { module, transport: TransportKind.ipc }, debug: { module, transport: TransportKind.ipc },
  }, {
    documentSelector: [{ scheme: "file", language: "typescript", pattern: `**/*${PIPELINE_SUFFIX}` }],
    initializationOptions: options,
  });
  await languageClient.start();
}

/** One line on a finished job, for the notification and the log. */
function finishedMessage(job: JobSummary): string {
  const name = path.basename(job.pipeline);
  if (job.state === "succeeded") {
    const written = job.result?.written;
    const rows = job.result?.rowsOut ?? 0;
    const counted = `${rows.toLocaleString("en-US")} row${rows === 1 ? "" : "s"}`;
    return written ? `${name}: wrote ${counted} to ${written.path}` : `${name}: ${counted} (preview)`;
  }
  return `${name}: job ${job.id} ${job.state}${job.error ? `: ${job.error.message.split("\n")[0]}` : ""}`;
}

/** What activate returns: for other extensions and the @vscode/test-electron suite. */
export interface RdpipeExtensionApi {
  /** The execution server once connected (the local server may still be starting). */
  server(): Promise<ServerEndpoint | undefined>;
  /** The job the panel shows, if it is open. */
  shownJobId(): string | undefined;
}

export async function activate(context: vscode.ExtensionContext): Promise<RdpipeExtensionApi> {
  const log = vscode.window.createOutputChannel("rdpipe");
  const connection = new ServerConnection(context, log);
  const reported = new Set<string>();
  const onEvent = (event: JobEvent) => {
    if (event.type === "log") log.append(`[job ${event.jobId}] ${event.text}`);
    if (event.type === "finished" && !reported.has(event.job.id)) {
      reported.add(event.job.id);
      log.appendLine(`[job ${event.job.id}] ${event.job.state}: ${finishedMessage(event.job)}`);
      const show = event.job.state === "succeeded" ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
      void show(`rdpipe: ${finishedMessage(event.job)}`);
    }
  };
  /** A bundle job resumes with the file as it is now (fixed), compiled again; a path job re-reads its file on the server. */
  const resumeSource = async (job: JobSummary): Promise<BundleSource | undefined> =>
    (job.sourceKind === "bundle" ? compileBundle(connection.script, job.pipeline) : undefined);
  const jobOf = async (jobId: string) => (await (await connection.connectedClient()).request("GET", `/jobs/${encodeURIComponent(jobId)}`, "job")).job;
  const panels = new JobPanels(context, connection, {
    onEvent,
    resumeSource: async (jobId) => resumeSource(await jobOf(jobId)),
    debugRow: async (jobId, row) => debugErroredRow(context.workspaceState, connection.script, (await jobOf(jobId)).pipeline, row),
  });
  const jobsTree = new JobsTree(() => connection.connectedClient());
  context.subscriptions.push(log, connection, panels, jobsTree, removeLeftBreakpoints(context.workspaceState), connection.onDidChange(() => {
    restartLanguageClient(context, connection, log);
    jobsTree.refresh();
  }));

  const latestJob = async (pipeline: string) => {
    const job = await latestJobOf(await connection.connectedClient(), pipeline);
    if (!job) throw new Error(`no job of ${pipeline} on the rdpipe server; run it first`);
    return job;
  };
  const submit = async (pipeline: string, untilOperator?: number) => {
    const client = await connection.connectedClient();
    const source = await jobSource(pipeline, connection.bundleWith);
    const { job } = await client.request("POST", "/jobs", "job", {
      type: "submitJob", source, ...(untilOperator === undefined ? {} : { options: { untilOperator } }),
    });
    log.appendLine(`[job ${job.id}] submitted ${pipeline}${untilOperator === undefined ? "" : ` (run to operator ${untilOperator})`}`);
    panels.show(job.id);
    jobsTree.refresh();
  };
  const resume = async (previous: JobSummary) => {
    const source = await resumeSource(previous);
    const { job } = await (await connection.connectedClient()).request("POST", `/jobs/${previous.id}/resume`, "job", {
      type: "resumeJob", ...(source ? { source } : {}),
    });
    log.appendLine(`[job ${job.id}] resumes job ${previous.id}`);
    panels.show(job.id);
    jobsTree.refresh();
  };
  const cancel = async (target: JobSummary) => {
    await (await connection.connectedClient()).request("POST", `/jobs/${target.id}/cancel`, "job");
    log.appendLine(`[job ${target.id}] cancel requested`);
    jobsTree.refresh();
  };
  const register = <A>(id: string, name: string, body: (argument: A) => Promise<void>) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, command(name, log, body)));

  register<CommandArgument>("rdpipe.run", "Run", async (argument) => {
    const pipeline = pipelineOf(argument);
    await vscode.workspace.textDocuments.find((document) => document.fileName === pipeline)?.save();
    await submit(pipeline);
  });
  register<OperatorCommandArgument | undefined>("rdpipe.runToHere", "Run to here", async (argument) => {
    if (!argument) throw new Error("Run to Here runs up to an operator: use the CodeLens above the operator's call");
    await submit(pipelineOf(argument), argument.operatorIndex);
  });
  register<CommandArgument>("rdpipe.resume", "Resume", async (argument) => resume(await latestJob(pipelineOf(argument))));
  register<CommandArgument>("rdpipe.cancel", "Cancel", async (argument) => {
    const client = await connection.connectedClient();
    const { jobs } = await client.request("GET", "/jobs", "jobs");
    const running = jobs.filter((job) => !FINISHED_STATES.includes(job.state));
    const pipeline = argument || vscode.window.activeTextEditor?.document.fileName.endsWith(PIPELINE_SUFFIX) ? pipelineOf(argument) : undefined;
    // The file's running job when there is one, else the panel's; several: ask.
    const ofPipeline = running.filter((job) => job.pipeline === pipeline);
    const candidates = ofPipeline.length > 0 ? ofPipeline : running.filter((job) => job.id === panels.shownJobId);
    let target = candidates.length === 1 ? candidates[0] : undefined;
    if (!target) {
      if (running.length === 0) throw new Error("no job is running");
      const picked = await vscode.window.showQuickPick(running.map((job) => ({ label: path.basename(job.pipeline), description: `job ${job.id} · ${job.state}`, job })), { placeHolder: "Cancel which job?" });
      target = picked?.job;
    }
    if (target) await cancel(target);
  });
  register<CommandArgument>("rdpipe.inspectCheckpoint", "Inspect checkpoint", async (argument) => {
    const job = await latestJob(pipelineOf(argument));
    panels.show(job.id);
  });
  register<void>("rdpipe.startLocalServer", "Start local server", () => connection.startLocal());
  register<void>("rdpipe.stopLocalServer", "Stop local server", () => connection.stopLocal());
  register<void>("rdpipe.connectRemoteServer", "Connect to remote server", async () => {
    const settings = vscode.workspace.getConfiguration("rdpipe");
    const url = await vscode.window.showInputBox({
      title: "rdpipe: remote execution server", prompt: "The server's URL (rdpipe serve --host … --token …)",
      value: settings.get<string>("serverUrl") || "http://", ignoreFocusOut: true,
      validateInput: (value) => (/^https?:\/\/[^\s/]+/.test(value.trim()) ? undefined : "an http:// or https:// URL"),
    });
    if (!url) return;
    const token = await vscode.window.showInputBox({ title: "rdpipe: server token", prompt: "Its token (stored in VS Code's SecretStorage; empty for none)", password: true, ignoreFocusOut: true });
    if (token === undefined) return;
    // Checked first, saved next, used last: once the status bar shows the server, a reload finds it again.
    await connection.connectRemote(url.trim(), token || undefined, async () => {
      if (token) await context.secrets.store(tokenKey(url.trim()), token);
      else await context.secrets.delete(tokenKey(url.trim()));
      await settings.update("serverUrl", url.trim(), vscode.ConfigurationTarget.Global);
    });
    void vscode.window.showInformationMessage(`rdpipe: connected to ${url.trim()}`);
  });
  register<vscode.Uri | undefined>("rdpipe.newPipeline", "New pipeline", async (folderUri) => {
    const folder = folderUri?.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    if (!folder) throw new Error("open a folder first");
    const name = await vscode.window.showInputBox({ title: "rdpipe: new pipeline", prompt: `File name (in ${folder})`, value: "pipeline", ignoreFocusOut: true });
    if (!name) return;
    const result = scaffoldPipeline(folder, name);
    log.appendLine(`[new pipeline] wrote ${result.wrote.join(", ")}`);
    await vscode.window.showTextDocument(vscode.Uri.file(result.pipeline), { viewColumn: vscode.ViewColumn.One });
  });
  register<void>("rdpipe.showLog", "Show log", async () => log.show(true));
  // The Jobs view's items pass their job.
  register<JobSummary>("rdpipe.jobs.open", "Open job", async (job) => panels.show(job.id));
  register<JobSummary>("rdpipe.jobs.inspectCheckpoint", "Inspect checkpoint", async (job) => panels.show(job.id));
  register<JobSummary>("rdpipe.jobs.cancel", "Cancel", cancel);
  register<JobSummary>("rdpipe.jobs.resume", "Resume", resume);
  register<JobSummary>("rdpipe.jobs.rerun", "Rerun", async (job) => submit(job.pipeline, job.options.untilOperator));
  register<void>("rdpipe.jobs.refresh", "Refresh jobs", async () => jobsTree.refresh());

  const connectionFailed = (e: Error) => {
    log.appendLine(`[server] ${e.message}`);
    void vscode.window.showErrorMessage(`rdpipe: ${e.message}`, "Show Log").then((choice) => choice && log.show());
  };
  const reconnect = () => connection.connectFromSettings().catch(connectionFailed);
  // A pipeline opened or saved while the local server is gone (it exits when idle) brings it back, and the language server with it.
  const revive = (document: vscode.TextDocument) => document.fileName.endsWith(PIPELINE_SUFFIX) && connection.revive().catch(connectionFailed);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((change) => (change.affectsConfiguration("rdpipe.serverUrl") || change.affectsConfiguration("rdpipe.server.caFile")) && reconnect()),
    // The local server may read only the workspace folders: new folders need a server that may read them.
    vscode.workspace.onDidChangeWorkspaceFolders(reconnect),
    vscode.workspace.onDidOpenTextDocument(revive),
    vscode.workspace.onDidSaveTextDocument(revive),
  );
  // The connection starts in the background: activation (and the editor) must not wait for the server.
  reconnect();
  return {
    server: () => connection.connectedClient().then(() => connection.current, () => undefined),
    shownJobId: () => panels.shownJobId,
  };
}

export async function deactivate(): Promise<void> {
  await languageClient?.stop();
}
