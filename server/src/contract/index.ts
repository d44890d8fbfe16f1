// The wire contract: every type that crosses a process boundary (the execution server's requests,
// responses and SSE events; job records; progress; checkpoint views; the panel's messages) and the
// typed HTTP client. It imports nothing from the engine: the engine maps its state onto these types,
// and the extension and the webview reach the server only through this folder.
export * from "./api";
export * from "./checkpoint";
export * from "./inspection";
export * from "./jobs";
export * from "./listening";
export * from "./panel";
export * from "./progress";
export { RemoteClient, RemoteError, type FetchFunction } from "./client";
