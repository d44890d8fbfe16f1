// A TCP proxy that delays every chunk from client to server by a fixed time: each HTTP request
// (its headers arrive as one chunk) then pays that latency once, as it would against a distant S3.
// It can also reset the first connections, as a flaky network does, and hold chosen requests.
import net from "node:net";

export interface LatencyProxy {
  endpoint: string;
  close(): Promise<void>;
}

export interface ProxyFaults {
  /** The first this many connections are reset when they send their first bytes. */
  resetConnections?: number;
  /** Requests whose bytes `holds` picks wait (with what follows on their connection) until `opened` resolves. */
  gate?: { holds: (requestBytes: string) => boolean; opened: Promise<void> };
}

export async function startLatencyProxy(
  target: { host: string; port: number }, delayMs: number, faults: ProxyFaults = {},
): Promise<LatencyProxy> {
  const sockets = new Set<net.Socket>();
  let toReset = faults.resetConnections ?? 0;
  const server = net.createServer((client) => {
    if (toReset > 0) {
      toReset--;
      client.once("data", () => client.resetAndDestroy());
      return;
    }
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => undefined); }
    // One chain per connection keeps the chunks in order, also when one is held at the gate.
    let chain = Promise.resolve();
    const forward = (send: () => void, chunk?: Buffer) => {
      chain = chain.then(async () => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (chunk && faults.gate?.holds(chunk.toString("latin1"))) await faults.gate.opened;
        send();
      });
    };
    client.on("data", (chunk) => forward(() => upstream.write(chunk), chunk));
    client.on("end", () => forward(() => upstream.end()));
    upstream.pipe(client);
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
