// A TCP proxy that delays every chunk from client to server by a fixed time: each HTTP request
// (its headers arrive as one chunk) then pays that latency once, as it would against a distant S3.
// It can also reset the first connections, as a flaky network does.
import net from "node:net";

export interface LatencyProxy {
  endpoint: string;
  close(): Promise<void>;
}

export async function startLatencyProxy(
  target: { host: string; port: number }, delayMs: number, faults: { resetConnections?: number } = {},
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
    client.on("data", (chunk) => { setTimeout(() => upstream.write(chunk), delayMs); });
    client.on("end", () => setTimeout(() => upstream.end(), delayMs));
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
