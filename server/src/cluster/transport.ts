// How cluster sockets are made: the head's port that nodes join, each node's chunk server (./chunks) and
// its peers' connections to it. Plain TCP with the cluster's token (loopback, a private network), or
// mutual TLS with Node's own `tls`: both ends present a certificate that must chain to the cluster's CA,
// and a connection that does not is refused at the handshake. The protocols on top do not change.
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { RdpipeError } from "../errors";
import { sameToken } from "./link";

/** PEM contents: this end's certificate and key, and the cluster CA the other end's certificate must chain to. */
export interface TlsMaterial { cert: string; key: string; ca: string }

/** Where the PEM files are (what the CLI and `Cluster`'s `tls` option take). */
export interface TlsFiles { certFile: string; keyFile: string; caFile: string }

/** Plain TCP needs a token; over TLS the certificates authenticate, and a token, if given, is required as well. */
export interface TransportOptions { token?: string; tls?: TlsMaterial }

export class ClusterConfigError extends RdpipeError {
  readonly code = "config";
}

/** The PEM files' contents; an unreadable file is named. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const read = (what: string, file: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch (e) {
      throw new ClusterConfigError(`cannot read the TLS ${what} ${file}: ${(e as Error).message}`);
    }
  };
  return { cert: read("certificate", files.certFile), key: read("key", files.keyFile), ca: read("CA", files.caFile) };
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
    const server = material
      ? tls.createServer({ ...material, requestCert: true, rejectUnauthorized: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, onSocket)
        .on("tlsClientError", (error, socket) => {
          console.error(`rdpipe: refused a ${purpose} connection from ${socket.remoteAddress}:${socket.remotePort}: TLS handshake failed: ${error.message}`);
        })
      : net.createServer(onSocket);
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
    if (!material) return net.connect(port, hostname);
    // A peer's chunk server: the head told this node (over the verified link) which node serves at that
    // address, and every certificate chaining to the cluster CA is a cluster member. Nodes take their
    // addresses as they come (DHCP, pods), so their certificates need not name them.
    const checkServerIdentity = options.peer ? () => undefined : tls.checkServerIdentity;
    return tls.connect({ host: hostname, port, ...material, checkServerIdentity });
  }

  /** Resolves once `socket` (from connect) is connected and, over TLS, has verified the server; rejects with why not. */
  connected(socket: net.Socket, url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      socket.once(this.scheme === "tls" ? "secureConnect" : "connect", () => resolve());
      socket.once("error", (e) => reject(this.describe(e, url)));
    });
  }

  /** An error of a socket to `url` as a sentence naming a TLS failure as one. */
  describe(error: Error, url: string): Error {
    const { code } = error as NodeJS.ErrnoException;
    const tlsFailure = this.scheme === "tls" && !["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE"].includes(code ?? "");
    return new Error(tlsFailure ? `TLS handshake with ${url}: ${error.message}${code ? ` (${code})` : ""}` : `cannot connect to ${url}: ${error.message}`);
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
