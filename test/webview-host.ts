// The panel's host for browser tests: a small HTTP server that serves the panel page (the same HTML
// template and CSP the extension uses) with a stand-in for VS Code's `acquireVsCodeApi`, and a host that
// connects a Playwright page to a real execution server — it forwards the job's SSE events to the panel
// and carries out its resume, cancel and checkpoint-page requests over the HTTP API.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Page } from "playwright-core";
import type { RemoteClient } from "../server/src/http";
import { panelHtml } from "../webview/src/html";
import { CHECKPOINT_VIEW_RESPONSE, type HostToWebview, type WebviewToHost, checkpointPageRoute } from "../webview/src/messages";
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

/** Serves the panel page at `/` and its bundle from dist/webview/. */
export async function startPanelPageServer(): Promise<PanelPageServer> {
  const bundleDir = path.join(REPO, "dist", "webview");
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

/** Plays the extension's part for one panel: follows a job on a real server and answers the panel's messages. */
export class PanelHost {
  /** Every message the panel posted, in order. */
  readonly received: WebviewToHost[] = [];
  private following?: AbortController;

  constructor(private readonly page: Page, private readonly client: RemoteClient, private jobId: string) {}

  /** Installs the binding; call before the page loads. */
  async connect(): Promise<void> {
    await this.page.exposeBinding(HOST_BINDING, (_source, message: WebviewToHost) => this.handle(message));
  }

  stop(): void {
    this.following?.abort();
  }

  private async handle(message: WebviewToHost): Promise<void> {
    this.received.push(message);
    try {
      switch (message.type) {
        case "ready":
          this.follow(this.jobId);
          break;
        case "cancel":
          await this.client.request("POST", `/jobs/${encodeURIComponent(message.jobId)}/cancel`, "job");
          break;
        case "resume": {
          const { job } = await this.client.request("POST", `/jobs/${encodeURIComponent(message.jobId)}/resume`, "job", { type: "resumeJob" });
          this.follow(job.id);
          break;
        }
        case "requestCheckpointPage": {
          const page = await this.client.request("GET", checkpointPageRoute(message), CHECKPOINT_VIEW_RESPONSE[message.view]);
          await this.send({ type: "checkpointPage", view: message.view, page });
          break;
        }
        case "debugRow":
          break; // the extension starts a debug session here; the tests read `received`
      }
    } catch (e) {
      await this.send({ type: "hostError", message: (e as Error).message });
    }
  }

  /** Forwards the job's events (its current state first) to the panel, replacing any job followed before. */
  private follow(jobId: string): void {
    this.following?.abort();
    const following = new AbortController();
    this.following = following;
    this.jobId = jobId;
    void (async () => {
      for await (const event of this.client.events(jobId, { signal: following.signal })) await this.send({ type: "jobEvent", event });
    })().catch((e: Error) => {
      if (!following.signal.aborted) void this.send({ type: "hostError", message: `lost the job's events: ${e.message}` });
    });
  }

  private async send(message: HostToWebview): Promise<void> {
    // As VS Code's webview.postMessage: the panel gets it as a window "message" event. A page that is
    // reloading misses it, and asks again with "ready".
    // (Typed as unknown: Playwright's argument type is too deep for the JobEvent union.)
    await this.page.evaluate((m: unknown) => window.postMessage(m, "*"), message as unknown).catch(() => undefined);
  }
}
