// A TCP proxy between the S3 client and s3rver that breaks requests the way a bad network does, at
// seeded random points: it reads the HTTP requests going through it (headers, Content-Length body) and
// for a chosen share of them forwards only part of the request (a truncated upload: the headers and
// some of the body, then both sockets destroyed), or forwards all of it and cuts the connection before
// the answer comes back (the server did the work, the client never hears). It can also flip a byte of
// chosen requests' bodies, hold chosen requests until told (a stalled link), and says how many requests it broke.
import { createHash } from "node:crypto";
import net from "node:net";

export interface FaultOptions {
  /** Share of requests broken (0 = a healthy proxy); settable while the proxy runs. */
  rate: number;
  seed: number;
  /** Only requests whose first line matches are broken (e.g. /^PUT /). */
  only?: RegExp;
  /** Of the broken requests with a body, the share truncated (the others lose their answer); default 0.7. */
  truncateShare?: number;
  /** Requests whose first line matches are held (with what follows on their connection) until `release`. */
  hold?: RegExp;
  /** Called when a request is first held. */
  onHold?: () => void;
  /** Requests whose first line matches get one byte of their body flipped (bits lost on the way). */
  corrupt?: RegExp;
}

export interface FaultProxy {
  endpoint: string;
  options: FaultOptions;
  readonly stats: { requests: number; truncated: number; cutAnswers: number; held: number; corrupted: number };
  /** Lets held requests go on. */
  release(): void;
  close(): Promise<void>;
}

/** A seeded sequence in [0, 1), so that a failing run can be replayed with its seed. */
function random(seed: number): () => number {
  let counter = 0;
  return () => createHash("sha256").update(`${seed}:${counter++}`).digest().readUInt32BE(0) / 2 ** 32;
}

export async function startFaultProxy(target: { host: string; port: number }, options: FaultOptions): Promise<FaultProxy> {
  const next = random(options.seed);
  const sockets = new Set<net.Socket>();
  const stats = { requests: 0, truncated: 0, cutAnswers: 0, held: 0, corrupted: 0 };
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => undefined); }
    const kill = () => { client.destroy(); upstream.destroy(); };
    let pending = Buffer.alloc(0);
    /** Bytes of the current request still to forward (-1: its headers are not complete yet). */
    let bodyLeft = -1;
    /** Forward only this many more bytes of the current request, then cut. */
    let cutAfter = Infinity;
    let cutAnswer = false;
    /** The body offset of the byte to flip in the current request (-1: none), and the body's length. */
    let flipAt = -1;
    let bodyLength = 0;
    let chain = Promise.resolve();

    const send = (chunk: Buffer, hold = false) => {
      chain = chain.then(async () => {
        if (hold) await released;
        if (!upstream.destroyed) upstream.write(chunk);
      });
    };
    const cut = () => { chain = chain.then(kill); };

    /** Decides the fate of a request once its headers are known; true when it is held. */
    const begin = (head: string, headLength: number): boolean => {
      stats.requests++;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      bodyLeft = length;
      bodyLength = length;
      const line = head.slice(0, head.indexOf("\r\n"));
      flipAt = options.corrupt?.test(line) && length > 0 ? Math.floor(next() * length) : -1;
      if (flipAt >= 0) stats.corrupted++;
      if (options.hold?.test(line)) {
        if (stats.held++ === 0) options.onHold?.();
        return true;
      }
      const eligible = options.only ? options.only.test(line) : true;
      if (!eligible || next() >= options.rate) return false;
      if (length > 0 && next() < (options.truncateShare ?? 0.7)) {
        stats.truncated++;
        cutAfter = headLength + Math.floor(next() * length); // the headers and part of the body
      } else {
        stats.cutAnswers++;
        cutAnswer = true;
      }
      return false;
    };

    const onData = (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length > 0) {
        if (bodyLeft < 0) {
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) return;
          const headLength = end + 4;
          const hold = begin(pending.subarray(0, headLength).toString("latin1"), headLength);
          const take = Math.min(headLength, cutAfter);
          send(pending.subarray(0, take), hold);
          cutAfter -= take;
          pending = pending.subarray(headLength);
          if (cutAfter <= 0) return cut();
          continue;
        }
        const take = Math.min(bodyLeft, pending.length, cutAfter);
        const offset = bodyLength - bodyLeft;
        if (flipAt >= offset && flipAt < offset + take) {
          const flipped = Buffer.from(pending.subarray(0, take));
          flipped[flipAt - offset] ^= 0xff;
          send(flipped);
        } else if (take > 0) send(pending.subarray(0, take));
        bodyLeft -= take;
        cutAfter -= take;
        pending = pending.subarray(take);
        if (cutAfter <= 0) return cut();
        if (bodyLeft === 0) { bodyLeft = -1; cutAfter = Infinity; }
        else return;
      }
    };

    client.on("data", onData);
    client.on("end", () => { chain = chain.then(() => { upstream.end(); }); });
    upstream.on("data", (data) => {
      // The request reached the server whole; its answer never reaches the client.
      if (cutAnswer) return kill();
      client.write(data);
    });
    upstream.on("end", () => client.end());
    upstream.on("close", () => client.destroy());
    client.on("close", () => { chain = chain.then(() => { upstream.destroy(); }); });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`, options, stats, release,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
