// A TCP proxy that counts the bytes going each way: what a client fetched from a server, measured on the wire.
import net from "node:net";

export interface CountingProxy {
  endpoint: string;
  /** Bytes from the server to the client, and from the client to the server, so far. */
  readonly counted: { down: number; up: number };
  /** The HTTP requests sent through it so far, as "METHOD path" (a request's head arrives as one chunk). */
  readonly requests: string[];
  /** Cuts every connection open through it now (new ones are proxied as before). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: { host: string; port: number }): Promise<CountingProxy> {
  const counted = { down: 0, up: 0 };
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => { client.destroy(); upstream.destroy(); }); }
    client.on("data", (chunk: Buffer) => {
      counted.up += chunk.length;
      const request = /^(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP\//.exec(chunk.toString("latin1", 0, 2048));
      if (request) requests.push(`${request[1]} ${request[2]}`);
    });
    upstream.on("data", (chunk: Buffer) => { counted.down += chunk.length; });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`, counted, requests,
    dropConnections: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
