// The panel's HTML page, for the extension's WebviewPanel and for the browser test harness. Scripts run
// only with the page's nonce; styles come from the host's resource origin (`cspSource`).
import { randomBytes } from "node:crypto";

export interface PanelPageOptions {
  /** The webview's resource origin (VS Code: `webview.cspSource`). */
  cspSource: string;
  /** URIs of the bundle (extension/dist/webview/panel.js) and its stylesheet (panel.css). */
  scriptUri: string;
  styleUri: string;
  /** Scripts to run before the bundle (the test harness's stand-in for `acquireVsCodeApi`). */
  preludeScriptUris?: string[];
  nonce?: string;
}

export function newNonce(): string {
  return randomBytes(18).toString("base64url");
}

const escapeAttribute = (value: string) => value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

export function panelHtml(options: PanelPageOptions): string {
  const nonce = options.nonce ?? newNonce();
  const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${options.cspSource} 'nonce-${nonce}'`;
  const scripts = [...(options.preludeScriptUris ?? []), options.scriptUri]
    .map((uri) => `<script nonce="${nonce}" src="${escapeAttribute(uri)}"></script>`).join("\n    ");
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeAttribute(csp)}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    <link rel="stylesheet" nonce="${nonce}" href="${escapeAttribute(options.styleUri)}">
    <title>rdpipe job</title>
  </head>
  <body>
    <main id="panel"></main>
    ${scripts}
  </body>
</html>
`;
}
