// The job panel in the editor: a WebviewPanel showing webview/src/panel.ts, driven by a PanelController.
// One panel shows one job at a time (a new run replaces it); after a window reload VS Code restores it
// through the serializer and it reattaches to the job it showed.
import path from "node:path";
import * as vscode from "vscode";
import { panelHtml } from "../../webview/src/html";
import { pipelineTitle } from "../../webview/src/title";
import type { WebviewToHost } from "../../server/src/contract";
import type { ServerConnection } from "./connection";
import { PanelController, type PanelHostSide } from "./panel-controller";

const PANEL_VIEW_TYPE = "rdpipe.job";

/** What the extension does for the panel beyond talking to the server. */
export type JobPanelHooks = Required<Pick<PanelHostSide, "debugRow" | "resumeSource" | "onEvent">>;

export class JobPanels implements vscode.Disposable {
  private panel?: { webview: vscode.WebviewPanel; controller: PanelController };
  private readonly registration: vscode.Disposable;
  private readonly serverChange: vscode.Disposable;

  constructor(private readonly context: vscode.ExtensionContext, private readonly connection: ServerConnection, private readonly hooks: JobPanelHooks) {
    // A new server (the local one restarted, or a switch): follow the panel's job there (its events say if it is unknown).
    this.serverChange = connection.onDidChange((endpoint) => {
      if (endpoint && this.panel) this.panel.controller.follow(this.panel.controller.jobId);
    });
    this.registration = vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      deserializeWebviewPanel: async (webview, state: unknown) => {
        const jobId = (state as { job?: { id?: unknown } } | undefined)?.job?.id;
        if (typeof jobId === "string") this.attach(webview, jobId);
        else webview.dispose();
      },
    });
  }

  /** The job the panel shows, if it is open. */
  get shownJobId(): string | undefined {
    return this.panel?.controller.jobId;
  }

  /** Shows `jobId` in the panel (opening it, or switching it to this job). */
  show(jobId: string): void {
    if (this.panel) {
      this.panel.controller.follow(jobId);
      this.panel.webview.reveal(undefined, true);
      return;
    }
    const webview = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, "rdpipe job", { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
    this.attach(webview, jobId);
  }

  private attach(webview: vscode.WebviewPanel, jobId: string): void {
    this.panel?.webview.dispose();
    const bundle = vscode.Uri.file(path.join(this.context.extensionPath, "dist", "webview"));
    webview.webview.options = { enableScripts: true, localResourceRoots: [bundle] };
    const workspaceFolders = () => (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath);
    const controller = new PanelController({
      client: () => this.connection.connectedClient(),
      send: (message) => Promise.resolve(webview.webview.postMessage(message)),
      ...this.hooks,
      workspaceFolders,
      openSource: async (file, line, column) => {
        const at = new vscode.Position(line - 1, column - 1);
        await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(at, at), viewColumn: vscode.ViewColumn.One });
      },
      onEvent: (event) => {
        if (event.type === "state" || event.type === "finished") webview.title = `rdpipe: ${pipelineTitle(event.job.pipeline, workspaceFolders())} (${event.job.state})`;
        this.hooks.onEvent(event);
      },
    }, jobId);
    const current = { webview, controller };
    this.panel = current;
    const subscriptions = [
      webview.webview.onDidReceiveMessage((message: WebviewToHost) => controller.handle(message)),
      webview.onDidDispose(() => {
        controller.dispose();
        for (const subscription of subscriptions) subscription.dispose();
        if (this.panel === current) this.panel = undefined;
      }),
    ];
    const asUri = (file: string) => webview.webview.asWebviewUri(vscode.Uri.joinPath(bundle, file)).toString();
    webview.webview.html = panelHtml({ cspSource: webview.webview.cspSource, scriptUri: asUri("panel.js"), styleUri: asUri("panel.css") });
  }

  dispose(): void {
    this.registration.dispose();
    this.serverChange.dispose();
    this.panel?.webview.dispose();
  }
}
