// The execution server the extension talks to: the bundled local one or a remote one. Its own file so
// that the connection and the local server, which both use it, do not import each other.
export interface ServerEndpoint {
  url: string;
  token?: string;
  kind: "local" | "remote";
  /** A remote server's CA file (`rdpipe.server.caFile`). */
  caFile?: string;
}
