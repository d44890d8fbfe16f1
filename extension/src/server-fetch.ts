// How the extension (and its language server) reach a remote execution server: Node's fetch, which
// trusts NODE_EXTRA_CA_CERTS as well as the public CAs, or — with `rdpipe.server.caFile` — requests over
// node:https trusting that CA too (Node's fetch takes no CA of its own), answered as web Responses.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import tls from "node:tls";
import type { FetchFunction } from "../../server/src/contract";

/** The fetch for a server whose certificate may chain to the CA in `caFile` (a PEM file); the global fetch without one. */
export function serverFetch(caFile: string | undefined): FetchFunction | undefined {
  if (!caFile) return undefined;
  let ca: string;
  try {
    ca = fs.readFileSync(caFile, "utf8");
  } catch (e) {
    throw new Error(`cannot read rdpipe.server.caFile ${caFile}: ${(e as Error).message}`);
  }
  return fetchTrusting([...tls.rootCertificates, ca]);
}

export function fetchTrusting(ca: string[]): FetchFunction {
  return (url, init) => new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = (target.protocol === "https:" ? https : http).request(target, {
      method: init.method ?? "GET", headers: init.headers as Record<string, string> | undefined, signal: init.signal ?? undefined, ca,
    }, (response) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      const status = response.statusCode ?? 0;
      const body = status === 204 || status === 304 ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, statusText: response.statusMessage, headers }));
    });
    // As Node's fetch fails: a TypeError whose cause is the socket's error (RemoteClient reads the cause).
    request.on("error", (e) => reject(new TypeError("fetch failed", { cause: e })));
    request.end(typeof init.body === "string" ? init.body : undefined);
  });
}
