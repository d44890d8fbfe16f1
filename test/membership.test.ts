// A server's membership over a real TCP socket, the node's side driven by hand through the node link:
// a job's head that declared a node's session lost (a cut between the two only) gets a new session from
// that node, as the node link's own "lost" has a node join again.
import { strict as assert } from "node:assert";
import net from "node:net";
import v8 from "node:v8";
import { Membership } from "../server/src/cluster";

type Message = { type: string; session?: number; cpus?: number };

/** The node link's framing (a 4-byte length, then a v8-serialized value; an empty frame is a heartbeat). */
function nodeLink(socket: net.Socket): { received: Message[]; send(message: object): void } {
  const received: Message[] = [];
  let buffered = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0);
      if (length > 0) received.push(v8.deserialize(buffered.subarray(4, 4 + length)) as Message);
      buffered = buffered.subarray(4 + length);
    }
  });
  const send = (message: object) => {
    const body = v8.serialize(message);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    socket.write(Buffer.concat([header, body]));
  };
  return { received, send };
}

describe("Membership sessions", () => {
  let membership: Membership | undefined;
  afterEach(() => membership?.close());

  it("opens a new session for a job whose head declared the node's session lost, and none after the head left", async () => {
    membership = new Membership({ host: "127.0.0.1", port: 0, token: "t" });
    const url = new URL(await membership.start());
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise((resolve) => socket.once("connect", resolve));
    const link = nodeLink(socket);
    const { received } = link;
    const next = async (type: string): Promise<Message> => {
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
        const i = received.findIndex((m) => m.type === type);
        if (i >= 0) return received.splice(i, 1)[0];
      }
      return assert.fail(`no ${type} message within 5 s`);
    };
    link.send({ type: "hello", token: "t", cpus: 2, pid: process.pid, chunks: "tcp://127.0.0.1:1" });
    await next("welcome");
    membership.addJob("job1", { url: "tcp://127.0.0.1:2", token: "j" });
    const first = await next("session");
    assert.equal(first.cpus, 2);
    link.send({ type: "sessionEnded", session: first.session, rejoin: true });
    const again = await next("session");
    assert.notEqual(again.session, first.session);
    assert.deepEqual(membership.list()[0].sessions, [{ jobId: "job1", cpus: 2 }]);
    // A session that ended because its head went away is not opened again.
    link.send({ type: "sessionEnded", session: again.session });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(received.filter((m) => m.type === "session").length, 0);
    assert.deepEqual(membership.list()[0].sessions, []);
    socket.destroy();
  });

  it("lists lost nodes up to keepLost, the latest ones, and forgets older ones", async () => {
    membership = new Membership({ host: "127.0.0.1", port: 0, token: "t", keepLost: 2 });
    const url = new URL(await membership.start());
    const join = async (pid: number) => {
      const socket = net.connect(Number(url.port), url.hostname);
      await new Promise((resolve) => socket.once("connect", resolve));
      const link = nodeLink(socket);
      link.send({ type: "hello", token: "t", cpus: 1, pid, chunks: "tcp://127.0.0.1:1" });
      for (const deadline = Date.now() + 5000; !link.received.some((m) => m.type === "welcome"); await new Promise((r) => setTimeout(r, 10))) {
        if (Date.now() > deadline) assert.fail(`node ${pid} got no welcome within 5 s`);
      }
      return socket;
    };
    const sockets = [await join(101), await join(102), await join(103), await join(104)];
    const states = () => membership!.list().map((m) => `${m.pid} ${m.state}`);
    const until = async (expected: string[]) => {
      for (const deadline = Date.now() + 5000; JSON.stringify(states()) !== JSON.stringify(expected); await new Promise((r) => setTimeout(r, 10))) {
        if (Date.now() > deadline) assert.deepEqual(states(), expected);
      }
    };
    sockets[0].destroy();
    await until(["101 lost", "102 alive", "103 alive", "104 alive"]);
    sockets[1].destroy();
    await until(["101 lost", "102 lost", "103 alive", "104 alive"]);
    sockets[2].destroy();
    await until(["102 lost", "103 lost", "104 alive"]);
    sockets[3].destroy();
    await until(["103 lost", "104 lost"]);
  });
});
