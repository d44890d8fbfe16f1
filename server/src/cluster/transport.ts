// How cluster sockets are made: the head's port that nodes join, each node's chunk server (./chunks) and
// its peers' connections to it. Plain TCP with the cluster's token (loopback, a private network), or
// mutual TLS with Node's own `tls`: both ends present a certificate that must chain to the cluster's CA,
// and a connection that does not is refused at the handshake. The protocols on top do not change.
import fs from "node:fs";
import type net from "node:net";
import type tls from "node:tls";
import { RdpipeError } from "../errors";
import { sameToken } from "./link";

/** node:net and node:tls, loaded where a cluster socket is first made (worker threads import this file and make none). */
const sockets = () => ({ net: require("node:net") as typeof net, tls: require("node:tls") as typeof tls });

/** PEM contents: this end's certificate and key, and the cluster CA the other end's certificate must chain to. */
export interface TlsMaterial { cert: string; key: string; ca: string }

/** Where the PEM files are (what the CLI and `Cluster`'s `tls` option take). */
export interface TlsFiles { certFile: string; keyFile: string; caFile: string }

/** Plain TCP needs a token; over TLS the certificates authenticate, and a token, if given, is required as well. */
export interface TransportOptions { token?: string; tls?: TlsMaterial }

export class ClusterConfigError extends RdpipeError {
  readonly code = "config";
}

/** A PEM file's contents (`what` names it in the error when it cannot be read). */
export function readPemFile(what: string, file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ClusterConfigError(`cannot read the TLS ${what} ${file}: ${(e as Error).message}`);
  }
}

/** The PEM files' contents. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  return { cert: readPemFile("certificate", files.certFile), key: readPemFile("key", files.keyFile), ca: readPemFile("CA", files.caFile) };
}

/** A handshake that has not finished by then is dropped (a plaintext client that sends nothing). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export class Transport {
  readonly scheme: "tcp" | "tls";

  constructor(readonly options: TransportOptions) {
    this.scheme = options.tls ? "tls" : "tcp";
    if (!options.tls && options.token === undefined) throw new ClusterConfigError("a cluster over plain TCP needs a token");
  }

  /** What a client presents in its hello. */
  get token(): string {
    return this.options.token ?? "";
  }

  /** Whether a hello's token lets the connection in (over TLS without a token, the certificate already did). */
  accepts(token: string): boolean {
    return this.options.token === undefined ? this.scheme === "tls" : sameToken(token, this.options.token);
  }

  /**
   * Listens (port 0: a free one) and resolves to the server and the URL clients connect to. Over TLS, a
   * client whose certificate does not chain to the CA, or that does not speak TLS, is refused and logged
   * on stderr with its address as a refused `purpose` connection; `onSocket` never sees it.
   */
  listen(host: string, port: number, purpose: string, onSocket: (socket: net.Socket) => void): Promise<{ server: net.Server; url: string }> {
    const { tls: material } = this.options;
    const refuse = (from: string, why: string) => console.error(`rdpipe: refused a ${purpose} connection from ${from}: TLS handshake failed: ${why}`);
    // rejectUnauthorized: true would end an unverified client the same way (Node checks the chain once
    // the handshake is through, before any data is read), but would not say which client or why.
    const server = material
      ? sockets().tls.createServer({ ...material, requestCert: true, rejectUnauthorized: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => {
        if (socket.authorized) return onSocket(socket);
        const presented = Object.keys(socket.getPeerCertificate()).length > 0;
        refuse(`${socket.remoteAddress}:${socket.remotePort}`, presented ? `its certificate does not chain to the cluster CA (${socket.authorizationError})` : "it presented no certificate");
        socket.destroy();
      }).on("tlsClientError", (error, socket) => {
        // A client that gave up (it does not trust this certificate) is gone before its address is read.
        refuse(socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : "a client that already left", reasonOf(error));
      })
      : sockets().net.createServer(onSocket);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const { address, port: bound } = server.address() as net.AddressInfo;
        resolve({ server, url: `${this.scheme}://${address.includes(":") ? `[${address}]` : address}:${bound}` });
      });
    });
  }

  /**
   * A socket to `url` (tcp://host:port or tls://host:port, as this transport speaks); writes before the
   * handshake wait for it. Over TLS the server's certificate must chain to the CA; with `peer` its name is
   * not checked (see below), otherwise it must name the URL's host (an IP address in its IP SANs).
   */
  connect(url: string, options: { peer?: boolean } = {}): net.Socket {
    const { hostname, port } = this.parse(url);
    const { tls: material } = this.options;
    if (!material) return sockets().net.connect(port, hostname);
    // A peer's chunk server: the head told this node (over the verified link) which node serves at that
    // address, and every certificate chaining to the cluster CA is a cluster member. Nodes take their
    // addresses as they come (DHCP, pods), so their certificates need not name them.
    const checkServerIdentity = options.peer ? () => undefined : sockets().tls.checkServerIdentity;
    return sockets().tls.connect({ host: hostname, port, ...material, checkServerIdentity });
  }

  /** Resolves once `socket` (from connect) is connected and, over TLS, has verified the server; rejects with why not. */
  connected(socket: net.Socket, url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      socket.once(this.scheme === "tls" ? "secureConnect" : "connect", () => resolve());
      socket.once("error", (e) => reject(this.describe(e, url)));
    });
  }

  /**
   * Why a server closed a connection before answering. Over TLS 1.3 the client's handshake is done before
   * the server has checked its certificate, and a server refusing it just closes: that is the likely cause.
   */
  closedEarly(url: string): Error {
    return new Error(this.scheme === "tls"
      ? `TLS handshake with ${url}: the server closed the connection without accepting this client's certificate (it must chain to the server's CA)`
      : `${url} closed the connection`);
  }

  /** An error of a socket to `url` as a sentence naming a TLS failure as one. */
  describe(error: Error, url: string): Error {
    const { code } = error as NodeJS.ErrnoException;
    const tlsFailure = this.scheme === "tls" && !["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE"].includes(code ?? "");
    return new Error(tlsFailure ? `TLS handshake with ${url}: ${reasonOf(error)}` : `cannot connect to ${url}: ${error.message}`);
  }

  private parse(url: string): { hostname: string; port: number } {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      // named below
    }
    if (!parsed || parsed.protocol !== `${this.scheme}:` || !parsed.port) {
      throw new ClusterConfigError(`expected ${this.scheme}://host:port${this.scheme === "tls" ? " (this cluster uses TLS)" : " (TLS needs --tls-cert, --tls-key and --tls-ca)"}, got '${url}'`);
    }
    return { hostname: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port) };
  }
}

/** OpenSSL's reason ("tlsv1 alert unknown ca") and Node's code, without OpenSSL's source location. */
function reasonOf(error: Error): string {
  const { reason, code } = error as Error & { reason?: string; code?: string };
  return `${reason ?? error.message}${code ? ` (${code})` : ""}`;
}
