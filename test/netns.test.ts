import assert from "node:assert/strict";
import net from "node:net";
import { makeNetHosts, type NetHosts } from "./netns";

/** Whether a TCP connection to host:port opens within `ms`. */
function reaches(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const timer = setTimeout(() => { socket.destroy(); resolve(false); }, ms);
    socket.once("connect", () => { clearTimeout(timer); socket.destroy(); resolve(true); });
    socket.once("error", () => { clearTimeout(timer); resolve(false); });
  });
}

describe("network namespaces as hosts (test/netns.ts)", function () {
  this.timeout(30_000);
  let net2: NetHosts | undefined;
  afterEach(() => net2?.remove());

  it("gives each host its own address reachable from the root namespace, and cuts one host off", async () => {
    net2 = makeNetHosts(2);
    const [a, b] = net2.hosts;
    const server = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, net2!.headAddress, resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      // a process inside host a reaches the root namespace's address, and its pid is the command's own
      const child = a!.spawn(process.execPath, ["-e", `require("net").connect(${port}, "${net2.headAddress}").on("connect", () => { console.log(process.pid); process.exit(0) }).on("error", () => process.exit(3))`], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      const code = await new Promise((resolve) => child.once("exit", resolve));
      assert.equal(code, 0);
      assert.equal(Number(out.trim()), child.pid);
      assert.notEqual(a!.address, b!.address);
      // a listener inside host b is reachable at b's address until b is cut off
      const listener = b!.spawn(process.execPath, ["-e", `require("net").createServer(s => s.end()).listen(7070, "${b!.address}", () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise((resolve) => listener.stdout!.once("data", resolve));
      assert.equal(await reaches(b!.address, 7070, 2000), true);
      b!.cut();
      assert.equal(await reaches(b!.address, 7070, 1000), false);
      b!.restore();
      assert.equal(await reaches(b!.address, 7070, 5000), true);
    } finally {
      server.close();
    }
  });
});
