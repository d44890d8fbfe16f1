// The panel's host for browser tests: a small HTTP server that serves the panel page (the same HTML
// template and CSP the extension uses) with a stand-in for VS Code's `acquireVsCodeApi`, and a host that
// connects a Playwright page to a real execution server through the extension's own PanelController.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Page } from "playwright-core";
import { panelHtml } from "../webview/src/html";
import { PanelController } from "../extension/src/panel-controller";
import type { HostToWebview, RemoteClient, WebviewToHost } from "../server/src/contract";
import { REPO } from "./helpers";

/** The binding through which the page's `vscode.postMessage` reaches PanelHost. */
const HOST_BINDING = "rdpipePanelHost";

/** VS Code's webview API as the test page has it: messages go to the host binding, state lives in sessionStorage (it survives a reload). */
const VSCODE_API_SHIM = `window.acquireVsCodeApi = () => ({
  postMessage: (message) => window.${HOST_BINDING}(message),
  getState: () => JSON.parse(sessionStorage.getItem("rdpipe-panel-state") ?? "null") ?? undefined,
  setState: (state) => sessionStorage.setItem("rdpipe-panel-state", JSON.stringify(state)),
});
`;

export interface PanelPageServer { url: string; close(): Promise<void> }

/** Serves the panel page at `/` and its bundle from extension/dist/webview/. */
export async function startPanelPageServer(): Promise<PanelPageServer> {
  const bundleDir = path.join(REPO, "extension", "dist", "webview");
  const files: Record<string, { type: string; body: () => string }> = {
    "/panel.js": { type: "text/javascript", body: () => fs.readFileSync(path.join(bundleDir, "panel.js"), "utf8") },
    "/panel.css": { type: "text/css", body: () => fs.readFileSync(path.join(bundleDir, "panel.css"), "utf8") },
    "/vscode-api-shim.js": { type: "text/javascript", body: () => VSCODE_API_SHIM },
  };
  const server = http.createServer((req, res) => {
    const origin = `http://${req.headers.host}`;
    const file = req.url === "/"
      ? { type: "text/html", body: () => panelHtml({ cspSource: origin, scriptUri: `${origin}/panel.js`, styleUri: `${origin}/panel.css`, preludeScriptUris: [`${origin}/vscode-api-shim.js`] }) }
      : files[req.url ?? ""];
    if (req.url === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": `${file.type}; charset=utf-8` }).end(file.body());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Plays the extension's part for one panel: the extension's PanelController, delivering to a Playwright page. */
export class PanelHost {
  /** Every message the panel posted, in order. */
  readonly received: WebviewToHost[] = [];
  private readonly controller: PanelController;

  constructor(private readonly page: Page, client: RemoteClient, jobId: string, workspaceFolders: string[] = []) {
    this.controller = new PanelController({
      client: async () => client,
      workspaceFolders: () => workspaceFolders,
      // As VS Code's webview.postMessage: the panel gets it as a window "message" event; a reloading page misses it.
      // (Typed as unknown: Playwright's argument type is too deep for the JobEvent union.)
      send: (message: HostToWebview) => this.page.evaluate((m: unknown) => window.postMessage(m, "*"), message as unknown).catch(() => undefined),
      // The extension starts a debug session or opens the editor here; the tests read `received`.
      debugRow: async () => undefined,
      openSource: async () => undefined,
    }, jobId);
  }

  /** Installs the binding; call before the page loads. */
  async connect(): Promise<void> {
    await this.page.exposeBinding(HOST_BINDING, (_source, message: WebviewToHost) => {
      this.received.push(message);
      return this.controller.handle(message);
    });
  }

  stop(): void {
    this.controller.dispose();
  }
}
