// Which execution server the extension talks to: the bundled one, started on a free loopback port with
// a random token (the default), or a remote one from `rdpipe.serverUrl` with its token in SecretStorage.
// Shows it in a status-bar item and logs to the rdpipe OutputChannel.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as vscode from "vscode";
import { RemoteClient } from "../../server/src/http/client";

export const TOKEN_SECRET = "rdpipe.token";

export interface ServerEndpoint { url: string; token?: string; kind: "local" | "remote" }

/** How long the bundled server may take to print its address. */
const START_TIMEOUT_MS = 30_000;

/** The rdpipe CLI the extension runs: the bundled package (extension/stage/rdpipe), or the repository's in development. */
export function rdpipeScript(extensionPath: string): string {
  const candidates = [path.join(extensionPath, "rdpipe", "bin", "rdpipe.js"), path.join(extensionPath, "..", "bin", "rdpipe.js")];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new Error(`the bundled rdpipe server is missing (looked for ${candidates.join(", ")})`);
  return found;
}

/** Runs Node scripts with the editor's own runtime (Electron as Node in VS Code, Node in code-server). */
export function nodeEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, ELECTRON_RUN_AS_NODE: "1" };
}

class LocalServer {
  private child?: ChildProcess;

  constructor(private readonly script: string, private readonly log: vscode.OutputChannel) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts `rdpipe serve` and resolves with its address once it listens. `onExit` reports an exit not asked for. */
  start(options: { roots: string[]; stateDir: string; maxJobs: number }, onExit: (reason: string) => void): Promise<ServerEndpoint> {
    const token = randomBytes(24).toString("base64url");
    const args = [this.script, "serve", "--port", "0", "--state-dir", options.stateDir, "--max-jobs", String(options.maxJobs),
      ...options.roots.flatMap((root) => ["--root", root])];
    this.log.appendLine(`[local server] starting: ${process.execPath} ${args.join(" ")}`);
    const child = spawn(process.execPath, args, { env: { ...nodeEnvironment(), RDPIPE_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    return new Promise((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      const fail = (reason: string) => {
        clearTimeout(timer);
        child.kill();
        reject(new Error(`the local rdpipe server ${reason}${output ? `:\n${output.slice(-2000)}` : ""}`));
      };
      const onData = (chunk: Buffer) => {
        const text = chunk.toString("utf8");
        this.log.append(text);
        output += text;
        const listening = /listening on (http:\/\/\S+?)(;|\s)/.exec(output);
        if (listening) {
          clearTimeout(timer);
          resolve({ url: listening[1], token, kind: "local" });
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.on("error", (e) => fail(`could not start: ${e.message}`));
      child.on("exit", (code, signal) => {
        const reason = `exited (${signal ?? `code ${code}`})`;
        this.log.appendLine(`[local server] ${reason}`);
        if (this.child === child) {
          this.child = undefined;
          onExit(reason);
        }
        fail(reason);
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export class ServerConnection implements vscode.Disposable {
  private endpoint?: ServerEndpoint;
  /** The connection being made (a local server starting), which commands wait for. */
  private pending: Promise<void> = Promise.resolve();
  private readonly localServer: LocalServer;
  private readonly statusItem = vscode.window.createStatusBarItem("rdpipe.server", vscode.StatusBarAlignment.Left, 10);
  private readonly changed = new vscode.EventEmitter<ServerEndpoint | undefined>();
  /** Fires when the server changes (started, stopped, switched); the language client restarts with it. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly context: vscode.ExtensionContext, readonly log: vscode.OutputChannel) {
    this.localServer = new LocalServer(rdpipeScript(context.extensionPath), log);
    this.statusItem.name = "rdpipe server";
    this.show(undefined, "not started");
    this.statusItem.show();
  }

  /** The server in use; throws (naming the fix) when there is none. */
  client(): RemoteClient {
    if (!this.endpoint) throw new Error("no rdpipe server: start the local one (rdpipe: Start Local Server) or connect to a remote one");
    return new RemoteClient(this.endpoint.url, this.endpoint.token);
  }

  /** The server in use once any connection being made is done (a command issued while the local server starts waits for it). */
  async connectedClient(): Promise<RemoteClient> {
    await this.pending.catch(() => undefined);
    return this.client();
  }

  get current(): ServerEndpoint | undefined {
    return this.endpoint;
  }

  /** Connects as the settings say: the remote `rdpipe.serverUrl` when set, else the bundled local server. */
  connectFromSettings(): Promise<void> {
    const url = vscode.workspace.getConfiguration("rdpipe").get<string>("serverUrl", "").trim();
    return this.connecting(async () => {
      if (url) await this.remote(url, await this.context.secrets.get(TOKEN_SECRET));
      else await this.launchLocal();
    });
  }

  startLocal(): Promise<void> {
    return this.connecting(() => this.launchLocal());
  }

  /** Switches to a remote server after checking that it answers and accepts the token. */
  useRemote(url: string, token: string | undefined): Promise<void> {
    return this.connecting(() => this.remote(url, token));
  }

  private connecting(connect: () => Promise<void>): Promise<void> {
    const next = this.pending.catch(() => undefined).then(connect);
    this.pending = next;
    return next;
  }

  private async launchLocal(): Promise<void> {
    await this.localServer.stop();
    this.show(undefined, "starting…");
    const settings = vscode.workspace.getConfiguration("rdpipe");
    const folders = vscode.workspace.workspaceFolders?.map((folder) => folder.uri.fsPath) ?? [];
    const activeFile = vscode.window.activeTextEditor?.document.uri;
    const roots = folders.length > 0 ? folders : activeFile?.scheme === "file" ? [path.dirname(activeFile.fsPath)] : [];
    if (roots.length === 0) throw new Error("open a folder (or a pipeline file) first: the local server may read only the workspace");
    const stateDir = path.join(this.context.globalStorageUri.fsPath, "server");
    fs.mkdirSync(stateDir, { recursive: true });
    try {
      const endpoint = await this.localServer.start({ roots, stateDir, maxJobs: settings.get<number>("localServer.maxJobs", 2) }, (reason) => {
        this.endpoint = undefined;
        this.show(undefined, `local server ${reason}`);
        this.changed.fire(undefined);
      });
      this.use(endpoint);
    } catch (e) {
      this.show(undefined, "local server failed");
      throw e;
    }
  }

  async stopLocal(): Promise<void> {
    const wasLocal = this.endpoint?.kind === "local";
    await this.localServer.stop();
    if (wasLocal) {
      this.endpoint = undefined;
      this.changed.fire(undefined);
    }
    this.show(undefined, "stopped");
  }

  private async remote(url: string, token: string | undefined): Promise<void> {
    const health = await new RemoteClient(url, token).request("GET", "/health", "health");
    const { jobs } = await new RemoteClient(url, token).request("GET", "/jobs", "jobs"); // /health needs no token; /jobs does
    this.log.appendLine(`[remote server] connected to ${url} (rdpipe ${health.version}, ${jobs.length} jobs)`);
    await this.localServer.stop();
    this.use({ url, token, kind: "remote" });
  }

  private use(endpoint: ServerEndpoint): void {
    this.endpoint = endpoint;
    this.show(endpoint);
    this.changed.fire(endpoint);
  }

  private show(endpoint: ServerEndpoint | undefined, note?: string): void {
    if (endpoint) {
      const where = new URL(endpoint.url).host;
      this.statusItem.text = endpoint.kind === "local" ? `$(server-process) rdpipe: local ${where}` : `$(cloud) rdpipe: ${where}`;
      this.statusItem.tooltip = `rdpipe execution server at ${endpoint.url}${endpoint.token ? " (token set)" : ""}. Click for the log.`;
      this.statusItem.command = "rdpipe.showLog";
    } else {
      this.statusItem.text = `$(circle-slash) rdpipe: ${note ?? "no server"}`;
      this.statusItem.tooltip = "No rdpipe execution server. Click to start the local one.";
      this.statusItem.command = "rdpipe.startLocalServer";
    }
  }

  dispose(): void {
    void this.localServer.stop();
    this.statusItem.dispose();
    this.changed.dispose();
  }
}
