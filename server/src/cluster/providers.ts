// Node providers: what starts and stops the nodes a cluster asks for, as Ray's node providers do.
// LocalNodeProvider starts `rdpipe node` child processes on this machine; CommandNodeProvider runs a
// launcher command per node over a list of hosts (`ssh {host} rdpipe node …`, or any launcher).
import type * as ChildProcess from "node:child_process";
import path from "node:path";
import { engineProcessEnv, packageRoot } from "./paths";
import type { TlsFiles } from "./transport";

/** node:child_process, loaded where a node is first started (worker threads import this file and start none). */
const spawnProcess = () => (require("node:child_process") as typeof ChildProcess).spawn;

/**
 * Where nodes join: tcp://host:port with the token they must present, or tls://host:port (the token then
 * only if the cluster has one) with the head's TLS files, whose CA nodes' certificates must chain to.
 * `launch` names one launch: the node started for it passes it back (env RDPIPE_LAUNCH), so the head
 * knows which launch joined.
 */
export interface HeadAddress { url: string; token?: string; tls?: TlsFiles; launch?: string }

/** A node process the provider started; it joins the head by itself. */
export interface LaunchedNode {
  readonly pid?: number;
  kill(signal: NodeJS.Signals): void;
  readonly exited: Promise<void>;
}

export interface NodeProvider {
  /** Starts a node that joins `head`; undefined when the provider has no host left for one. */
  launch(head: HeadAddress, cpus: number): LaunchedNode | undefined;
  /** Stops a node it launched (the cluster calls it once the node has left, or did not within a grace period). */
  terminate(node: LaunchedNode): void;
}

/** A launcher's environment: the token and launch name travel here, never on a command line (none inherited when the head has none). */
function nodeEnv(head: HeadAddress, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...engineProcessEnv(), ...extra, RDPIPE_TOKEN: head.token, RDPIPE_LAUNCH: head.launch };
  if (head.token === undefined) delete env.RDPIPE_TOKEN;
  if (head.launch === undefined) delete env.RDPIPE_LAUNCH;
  return env;
}

/** Starts nodes as child processes of this one (`rdpipe node`), on this machine. */
export class LocalNodeProvider implements NodeProvider {
  /** tls: the nodes' certificate, key and CA (default: the head's own files). */
  constructor(private readonly options: { tls?: TlsFiles } = {}) {}

  launch(head: HeadAddress, cpus: number): LaunchedNode {
    const tls = this.options.tls ?? head.tls;
    const tlsArgs = tls ? ["--tls-cert", tls.certFile, "--tls-key", tls.keyFile, "--tls-ca", tls.caFile] : [];
    const child = spawnProcess()(process.execPath, [path.join(packageRoot(), "bin", "rdpipe.js"), "node", "--head", head.url, "--cpus", String(cpus), ...tlsArgs], {
      stdio: ["ignore", "inherit", "inherit"], env: nodeEnv(head),
    });
    child.unref(); // a node ends by itself when the head goes away
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return { pid: child.pid, kill: (signal) => { if (child.exitCode === null && child.signalCode === null) child.kill(signal); }, exited };
  }

  /** The node has left (or hangs): it is drained already, so no notice. */
  terminate(node: LaunchedNode): void {
    node.kill("SIGKILL");
  }
}

export interface CommandNodeProviderOptions {
  /** Where nodes may run, one node at most per host. */
  hosts: string[];
  /**
   * The launcher run on this machine for each node: an argv (no shell), or a string split at spaces.
   * Placeholders: {host}, {head} (tcp:// or tls://host:port), {cpus}, {launch}; with TLS the template
   * names the node's certificate files on its host (`--tls-cert … --tls-key … --tls-ca …`). The token
   * is in the launcher's environment as RDPIPE_TOKEN (and the launch name as RDPIPE_LAUNCH), never on its command line:
   * over ssh, forward them (`ssh -tt -o SendEnv=RDPIPE_TOKEN -o SendEnv=RDPIPE_LAUNCH {host} rdpipe
   * node --head {head} --cpus {cpus}`, with `AcceptEnv RDPIPE_*` in the host's sshd_config).
   */
  command: string | string[];
  /** More environment for the launcher. */
  env?: Record<string, string>;
}

/** A node a launcher command started, and the host it runs on. */
export interface CommandNode extends LaunchedNode {
  readonly host: string;
}

/** A host name, user@host, an IPv4 or [IPv6] address, or a namespace's name: nothing a shell or an option parser reads. */
const SAFE_HOST = /^[A-Za-z0-9_.:@[\]][A-Za-z0-9_.:@[\]-]*$/;

/** How long a launcher has between SIGTERM and SIGKILL when its node is terminated. */
const TERMINATE_GRACE_MS = 3000;

/**
 * Starts a node on a free host of its list by running the command template here, in a process group
 * of its own; terminating the node ends that group (for ssh with -tt, the remote side gets a hangup).
 * A host runs one node at a time: it is free again once its launcher has exited.
 */
export class CommandNodeProvider implements NodeProvider {
  private readonly template: string[];
  private readonly byHost = new Map<string, CommandNode>();

  constructor(private readonly options: CommandNodeProviderOptions) {
    this.template = typeof options.command === "string" ? options.command.trim().split(/\s+/) : [...options.command];
    if (this.template.length === 0 || this.template[0] === "") throw new Error("CommandNodeProvider: the command template is empty");
    if (options.hosts.length === 0) throw new Error("CommandNodeProvider: no hosts given");
    // A host lands in the launcher's argv (and in a shell where the template runs one, `sh -c '… {host} …'`):
    // one starting with '-' would be an option to ssh (-oProxyCommand=…), a metacharacter a command.
    const unsafe = options.hosts.find((h) => !SAFE_HOST.test(h));
    if (unsafe !== undefined) throw new Error(`CommandNodeProvider: host '${unsafe}' is not a host name, user@host or address (letters, digits, . _ : @ [ ] -, not starting with -)`);
  }

  /** The nodes running now, with their hosts. */
  nodes(): CommandNode[] {
    return [...this.byHost.values()];
  }

  launch(head: HeadAddress, cpus: number): CommandNode | undefined {
    const host = this.options.hosts.find((h) => !this.byHost.has(h));
    if (host === undefined) return undefined;
    const values: Record<string, string> = { host, head: head.url, cpus: String(cpus), launch: head.launch ?? "" };
    const [command, ...args] = this.template.map((arg) => arg.replace(/\{(host|head|cpus|launch)\}/g, (_, name: string) => values[name]));
    const child = spawnProcess()(command, args, { detached: true, stdio: ["ignore", "inherit", "inherit"], env: nodeEnv(head, this.options.env) });
    child.unref();
    let ended = false;
    const exited = new Promise<void>((resolve) => {
      const end = () => { ended = true; resolve(); };
      child.once("exit", end);
      child.once("error", (e) => { console.error(`rdpipe: launching a node on ${host} with '${command}' failed: ${e.message}`); end(); });
    });
    const kill = (signal: NodeJS.Signals) => {
      if (ended || child.pid === undefined) return;
      try { process.kill(-child.pid, signal); } catch { /* the group is gone */ }
    };
    const node: CommandNode = { host, pid: child.pid, kill, exited };
    this.byHost.set(host, node);
    void exited.then(() => { if (this.byHost.get(host) === node) this.byHost.delete(host); });
    return node;
  }

  terminate(node: LaunchedNode): void {
    node.kill("SIGTERM");
    const timer = setTimeout(() => node.kill("SIGKILL"), TERMINATE_GRACE_MS);
    timer.unref();
    void node.exited.then(() => clearTimeout(timer));
  }
}
