// Which execution server the extension talks to: the bundled one, started on a free loopback port with
// a random token (the default), or a remote one from `rdpipe.serverUrl` with its token in SecretStorage
// (and, for https with a private CA, `rdpipe.server.caFile`).
// Shows it in a status-bar item and logs to the rdpipe OutputChannel.
import path from "node:path";
import * as vscode from "vscode";
import { RemoteClient } from "../../server/src/contract";
import { rdpipeScript } from "./bundled-cli";
import type { ServerEndpoint } from "./endpoint";
import { LocalServer } from "./local-server";
import { serverFetch } from "./server-fetch";

const TOKEN_SECRET = "rdpipe.token";

/** How often the extension checks that its local server still lives (it exits by itself once idle). */
const WATCH_INTERVAL_MS = 10_000;

/** The SecretStorage key of a remote server's token: one per server, so a token only ever goes to the server it was given for. */
export function tokenKey(url: string): string {
  return `${TOKEN_SECRET}:${new URL(url).origin}`;
}

function remoteUrlSetting(): string {
  return vscode.workspace.getConfiguration("rdpipe").get<string>("serverUrl", "").trim();
}

/** The CA file a remote https server's certificate may chain to (besides NODE_EXTRA_CA_CERTS and the public CAs). */
function caFileSetting(): string | undefined {
  return vscode.workspace.getConfiguration("rdpipe").get<string>("server.caFile", "").trim() || undefined;
}

function isLoopbackUrl(url: string): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(new URL(url).hostname);
}

/** Checks that a remote server answers and accepts the token (/health needs none; /jobs does); says what it is. */
async function checkRemote(url: string, token: string | undefined, caFile: string | undefined): Promise<string> {
  const client = new RemoteClient(url, token, serverFetch(caFile));
  const health = await client.request("GET", "/health", "health");
  const { jobs } = await client.request("GET", "/jobs", "jobs");
  return `rdpipe ${health.version}, ${jobs.length} jobs`;
}

export class ServerConnection implements vscode.Disposable {
  private endpoint?: ServerEndpoint;
  /** What the user chose: the local server, or a remote one (the setting, or Connect to Remote Server before it is saved). */
  private wantsRemote = false;
  /** The connection being made (a local server starting), which commands wait for. */
  private pending: Promise<void> = Promise.resolve();
  private readonly localServer: LocalServer;
  private readonly statusItem = vscode.window.createStatusBarItem("rdpipe.server", vscode.StatusBarAlignment.Left, 10);
  private readonly changed = new vscode.EventEmitter<ServerEndpoint | undefined>();
  /** Fires when the server changes (started, stopped, switched); the language client restarts with it. */
  readonly onDidChange = this.changed.event;

  /** The bundled rdpipe CLI: the local server, bundles for a remote one, debug sessions. */
  readonly script: string;

  constructor(private readonly context: vscode.ExtensionContext, private readonly log: vscode.OutputChannel) {
    this.script = rdpipeScript(context.extensionPath);
    this.localServer = new LocalServer(this.script, context.globalStorageUri.fsPath, log);
    this.statusItem.name = "rdpipe server";
    this.show(undefined, "not started");
    this.statusItem.show();
    this.watch = setInterval(() => {
      if (this.endpoint?.kind === "local" && !this.localServer.running) {
        this.localServer.detach();
        this.lose("local server exited (idle)");
      }
    }, WATCH_INTERVAL_MS);
  }

  private readonly watch: NodeJS.Timeout;

  /** The server in use; throws (naming the fix) when there is none. */
  private client(): RemoteClient {
    if (!this.endpoint) throw new Error("no rdpipe server: start the local one (rdpipe: Start Local Server) or connect to a remote one");
    return new RemoteClient(this.endpoint.url, this.endpoint.token, serverFetch(this.endpoint.caFile));
  }

  /**
   * The server to use, once any connection being made is done (a command issued while the local server
   * starts waits for it). Unless a remote server was chosen, a local server that is gone (idled out,
   * stopped) is started again.
   */
  async connectedClient(): Promise<RemoteClient> {
    await this.pending.catch(() => undefined);
    if (!this.wantsRemote && (this.endpoint?.kind !== "local" || !this.localServer.running)) await this.startLocal();
    return this.client();
  }

  get current(): ServerEndpoint | undefined {
    return this.endpoint;
  }

  /** For a remote server, which may not read this disk: the CLI that compiles pipelines into bundles to send it. */
  get bundleWith(): string | undefined {
    return this.endpoint?.kind === "remote" ? this.script : undefined;
  }

  /** Connects as the settings say: the remote `rdpipe.serverUrl` when set, else the bundled local server. */
  connectFromSettings(): Promise<void> {
    return this.connecting(async () => {
      const url = remoteUrlSetting();
      this.wantsRemote = url !== "";
      if (!url) await this.launchLocal();
      else if (this.endpoint?.kind !== "remote" || this.endpoint.url !== url || this.endpoint.caFile !== caFileSetting()) {
        try {
          const token = await this.context.secrets.get(tokenKey(url));
          this.useRemote(url, token, await checkRemote(url, token, caFileSetting()));
        } catch (e) {
          // The settings name a remote server: no quiet fallback to another one.
          this.localServer.detach();
          this.lose(`${new URL(url).host} unreachable`);
          throw e;
        }
      }
    });
  }

  /** Connect to Remote Server: checks the server and token, `save`s the choice (token, setting), then switches to it. */
  connectRemote(url: string, token: string | undefined, save: () => Promise<void>): Promise<void> {
    return this.connecting(async () => {
      const about = await checkRemote(url, token, caFileSetting());
      await save();
      this.useRemote(url, token, about);
    });
  }

  /** Brings back the local server when it is gone (it exits when idle) and no remote one was chosen. */
  revive(): Promise<void> {
    return this.connecting(async () => {
      if (!this.wantsRemote && !this.endpoint) await this.launchLocal();
    });
  }

  startLocal(): Promise<void> {
    return this.connecting(() => this.launchLocal());
  }

  private connecting(connect: () => Promise<void>): Promise<void> {
    const next = this.pending.catch(() => undefined).then(connect);
    this.pending = next;
    return next;
  }

  /** The workspace folders (or, with none, the active file's folder): what the local server may read. */
  private roots(): string[] {
    const folders = vscode.workspace.workspaceFolders?.map((folder) => folder.uri.fsPath) ?? [];
    const activeFile = vscode.window.activeTextEditor?.document.uri;
    return folders.length > 0 ? folders : activeFile?.scheme === "file" ? [path.dirname(activeFile.fsPath)] : [];
  }

  private async launchLocal(): Promise<void> {
    this.wantsRemote = false;
    const roots = this.roots();
    if (roots.length === 0) throw new Error("open a folder (or a pipeline file) first: the local server may read only the workspace");
    if (this.endpoint?.kind === "local" && this.localServer.running && this.localServer.serves(roots)) return;
    this.lose("starting…");
    const settings = vscode.workspace.getConfiguration("rdpipe");
    try {
      this.use(await this.localServer.connect({
        roots, maxJobs: settings.get<number>("localServer.maxJobs", 2), idleExitSeconds: settings.get<number>("localServer.idleExitMinutes", 15) * 60,
      }));
    } catch (e) {
      this.show(undefined, "local server failed");
      throw e;
    }
  }

  async stopLocal(): Promise<void> {
    await this.pending.catch(() => undefined);
    await this.localServer.stop();
    if (this.endpoint?.kind === "local") this.lose("stopped");
  }

  /** Switches to a remote server that has answered (`about`) and accepted the token. */
  private useRemote(url: string, token: string | undefined, about: string): void {
    this.log.appendLine(`[remote server] connected to ${url} (${about})`);
    this.wantsRemote = true;
    if (!isLoopbackUrl(url) && new URL(url).protocol === "http:") {
      void vscode.window.showWarningMessage(`rdpipe: ${url} is reached over plain http: its token and your data cross the network unencrypted. Prefer https (rdpipe serve --tls-cert F --tls-key F, or a TLS proxy in front of it).`);
    }
    this.localServer.detach();
    this.use({ url, token, kind: "remote", caFile: caFileSetting() });
  }

  /** No server in use any more (it exited, is being replaced, or was stopped). */
  private lose(note: string): void {
    const had = this.endpoint !== undefined;
    this.endpoint = undefined;
    this.show(undefined, note);
    if (had) this.changed.fire(undefined);
  }

  private use(endpoint: ServerEndpoint): void {
    this.endpoint = endpoint;
    this.show(endpoint);
    this.changed.fire(endpoint);
  }

  private show(endpoint: ServerEndpoint | undefined, note?: string): void {
    if (endpoint) {
      const where = new URL(endpoint.url).host;
      this.statusItem.text = endpoint.kind === "local" ? `$(server-process) rdpipe: local ${where}` : `$(cloud) rdpipe: remote ${where}`;
      this.statusItem.tooltip = `rdpipe execution server at ${endpoint.url}${endpoint.token ? " (token set)" : ""}. Click for the log.`;
      this.statusItem.command = "rdpipe.showLog";
    } else {
      this.statusItem.text = `$(circle-slash) rdpipe: ${note ?? "no server"}`;
      this.statusItem.tooltip = "No rdpipe execution server. Click to start the local one.";
      this.statusItem.command = "rdpipe.startLocalServer";
    }
  }

  /** The local server keeps running (a reloaded window reattaches to it); it exits by itself once idle. */
  dispose(): void {
    clearInterval(this.watch);
    this.localServer.detach();
    this.statusItem.dispose();
    this.changed.dispose();
  }
}
