// A slow network link for cluster tests (this kernel has no `tc netem`): a TCP proxy that holds every
// chunk of bytes for `delayMs` in both directions, in order, without limiting throughput — a heartbeat
// behind a large frame arrives `delayMs` after it was sent, as over a long, wide link. (bench/
// latency-proxy.ts instead delays client-to-server chunks one after another: a request's latency.)
import net from "node:net";

export interface SlowLink {
  /** Where clients connect (host:port), instead of the target. */
  readonly host: string;
  readonly port: number;
  /** Chunks forwarded so far, each after the delay. */
  readonly chunksDelayed: number;
  close(): Promise<void>;
}

export async function startSlowLink(target: { host: string; port: number }, delayMs: number, listenHost = "127.0.0.1"): Promise<SlowLink> {
  const sockets = new Set<net.Socket>();
  let chunksDelayed = 0;
  // Timers of equal duration fire in the order they were set, so each direction stays in order.
  const later = (action: () => void) => setTimeout(action, delayMs);
  const forward = (from: net.Socket, to: net.Socket) => {
    from.on("data", (chunk) => later(() => { chunksDelayed++; to.write(chunk); }));
    from.on("end", () => later(() => to.end()));
    from.on("close", () => later(() => to.destroy()));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    host: listenHost,
    port,
    get chunksDelayed() { return chunksDelayed; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
