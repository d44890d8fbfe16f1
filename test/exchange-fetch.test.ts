// How a reduce task's pieces move: the node link frames a large message that arrives in many packets
// (and several messages in one packet) exactly; a reduce task fetching several pieces at a time from a
// node SIGKILLed mid-fetch runs again and the output is exactly the rows (the nodes' spill folders are
// checked empty after every test by onTwoNodes).
import assert from "node:assert/strict";
import net from "node:net";
import v8 from "node:v8";
import * as rd from "../server/src/api";
import { Link } from "../server/src/cluster/link";
import { onTwoNodes } from "./helpers";

type Message = { n: number; bytes?: Uint8Array };

/** A connected pair of sockets on loopback. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise<void>((resolve) => client.once("connect", resolve));
  const socket = await accepted;
  server.close();
  return [client, socket];
}

function frame(message: Message | undefined): Buffer {
  const body = message === undefined ? Buffer.alloc(0) : v8.serialize(message);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

describe("the node link's framing", () => {
  it("a 3 MiB message in 1000-byte packets, heartbeats and small messages packed together, all arrive whole and in order", async () => {
    const [sender, receiver] = await socketPair();
    const link = new Link<Message, Message>(receiver);
    const got: Message[] = [];
    const all = new Promise<void>((resolve) => link.on("message", (m: Message) => { got.push(m); if (got.length === 4) resolve(); }));
    const big = new Uint8Array(3 * 2 ** 20).map((_, i) => (i * 7) % 251);
    // Two small messages and a heartbeat in one packet with the first bytes of the big one; the rest in small packets.
    const stream = Buffer.concat([frame({ n: 1 }), frame(undefined), frame({ n: 2 }), frame({ n: 3, bytes: big }), frame(undefined), frame({ n: 4 })]);
    const cut = frame({ n: 1 }).length + 4 + frame({ n: 2 }).length + 10;
    sender.write(stream.subarray(0, cut));
    for (let at = cut; at < stream.length; at += 1000) {
      sender.write(stream.subarray(at, Math.min(stream.length, at + 1000)));
      if (at % 200_000 < 1000) await new Promise((resolve) => setImmediate(resolve));
    }
    await all;
    sender.destroy();
    receiver.destroy();
    assert.deepEqual(got.map((m) => m.n), [1, 2, 3, 4]);
    assert.equal(got[2].bytes!.length, big.length);
    assert.ok(Buffer.from(got[2].bytes!).equals(Buffer.from(big)), "the big message's bytes are the ones sent");
  });
});

describe("reduce tasks fetching several pieces at a time", function () {
  this.timeout(240_000);
  const nodes = onTwoNodes(8 * 2 ** 20);

  it("a node SIGKILLed while reduce tasks fetch from it: they run again and the output is exactly the rows", async () => {
    // repartition by key streams each piece into the slow map fused after it, so reduce tasks fetch while they work.
    const rows = 48_000;
    const slowly = (r: rd.Row) => {
      if ((r.id as number) % 200 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3);
      return r;
    };
    let killed = false;
    const dataset = rd.range(rows, { overrideNumBlocks: 24 }).map((r) => ({ id: r.id, k: ((r.id as number) * 7919) % 1013 }))
      .repartition(4, { keys: "k" }).map(slowly);
    const table = await dataset.toArrow({
      onProgress: (s) => {
        const reduce = s.operators[s.operators.length - 1];
        const alive = nodes.cluster().nodes().filter((n) => n.state === "alive");
        if (killed || alive.length < 2 || reduce.tasksRunning < 1 || (reduce.bytesMoved ?? 0) === 0) return;
        killed = true;
        process.kill(alive[1].pid, "SIGKILL");
      },
    });
    assert.ok(killed, "the kill came too late");
    const ids = Array.from(table.getChild("id")!.toArray() as ArrayLike<number | bigint>, Number).sort((a, b) => a - b);
    assert.deepEqual(ids, Array.from({ length: rows }, (_, i) => i), "every row once");
    for (let i = 0; i < table.numRows; i++) assert.equal(Number(table.getChild("k")!.get(i)), (Number(table.getChild("id")!.get(i)) * 7919) % 1013);
    const reduce = dataset.lastRun()!.progress.operators.at(-1)!;
    assert.ok(reduce.tasksRetried > 0, "no reduce task was cut off mid-fetch");
  });
});
