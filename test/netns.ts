// Real hosts for cluster tests: network namespaces on a bridge in the root namespace, each joined by its
// own veth pair, so every "host" has its own interface and address and can be cut off (`cut`) or
// brought back (`restore`) like a pulled cable. Needs root and `ip` (iproute2); a test that cannot make
// namespaces fails saying why instead of skipping.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface NetHost {
  /** The namespace's name (for `ip netns exec`). */
  readonly ns: string;
  /** This host's address on the bridge. */
  readonly address: string;
  /** Starts `command args` inside the namespace; the returned pid is the command's own (ip execs it). */
  spawn(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Takes the host's link down: packets to and from it are dropped, sockets stay open (a partition). */
  cut(): void;
  restore(): void;
}

export interface NetHosts {
  /** The root namespace's address on the bridge: where a head listening there is reached from the hosts. */
  readonly headAddress: string;
  readonly hosts: NetHost[];
  /** Removes the namespaces, links and bridge (kills what still runs inside the namespaces). */
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespace tests need root (CI runs as root)";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "network namespace tests need the `ip` command (Debian package iproute2)";
  }
  return undefined;
}

/** `count` hosts on a fresh bridge with a random 10.x.y.0/24 subnet (parallel test runs do not collide). */
export function makeNetHosts(count: number): NetHosts {
  const why = netnsUnavailable();
  if (why) throw new Error(why);
  const tag = randomBytes(3).toString("hex"); // interface names are limited to 15 bytes
  const [b, c] = [200 + (randomBytes(1)[0]! % 50), randomBytes(1)[0]! % 250];
  const subnet = `10.${b}.${c}`;
  const bridge = `rb${tag}`;
  const made: Array<() => void> = [];
  const remove = () => {
    for (const undo of made.reverse()) {
      try { undo(); } catch { /* already gone */ }
    }
    made.length = 0;
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    made.push(() => ip("link", "del", bridge));
    ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    const hosts: NetHost[] = [];
    for (let i = 0; i < count; i++) {
      const ns = `rdpipe-${tag}-${i}`;
      const outer = `rv${tag}${i}`;
      const inner = `nv${tag}${i}`;
      const address = `${subnet}.${i + 2}`;
      ip("netns", "add", ns);
      made.push(() => {
        killAllIn(ns);
        ip("netns", "del", ns);
      });
      ip("link", "add", outer, "type", "veth", "peer", "name", inner);
      made.push(() => ip("link", "del", outer));
      ip("link", "set", inner, "netns", ns);
      ip("link", "set", outer, "master", bridge);
      ip("link", "set", outer, "up");
      ip("netns", "exec", ns, "ip", "addr", "add", `${address}/24`, "dev", inner);
      ip("netns", "exec", ns, "ip", "link", "set", inner, "up");
      ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
      hosts.push({
        ns,
        address,
        spawn: (command, args, options = {}) => spawn("ip", ["netns", "exec", ns, command, ...args], options),
        cut: () => ip("link", "set", outer, "down"),
        restore: () => ip("link", "set", outer, "up"),
      });
    }
    return { headAddress: `${subnet}.1`, hosts, remove };
  } catch (e) {
    remove();
    throw new Error(`could not make network namespaces: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`);
  }
}

function killAllIn(ns: string): void {
  const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try { process.kill(Number(pid), "SIGKILL"); } catch { /* exited */ }
  }
}
