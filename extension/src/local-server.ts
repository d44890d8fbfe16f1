// The bundled execution server, run for the editor: `rdpipe serve` on a free loopback port with a random
// token, detached from the extension host so that a window reload (which restarts the extension host)
// neither kills it nor its running jobs — the reloaded window finds it again through a record in the
// extension's storage (token inside, so the file is the user's alone). One server per set of roots, each
// with its own job records; windows starting one at once take turns through a lock file. It exits by
// itself once idle (`--idle-exit`: no job and no client), or on Stop Local Server.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import type * as vscode from "vscode";
import { LISTENING_PREFIX, parseListening } from "../../server/src/contract";
import { nodeEnvironment } from "./bundled-cli";
import type { ServerEndpoint } from "./endpoint";

/** How long the server may take to print its address (and another window's start may hold the lock). */
const START_TIMEOUT_MS = 30_000;
/** How long a server that lives has to answer before it is taken for stuck (its job list can be long). */
const ANSWER_TIMEOUT_MS = 10_000;

export interface LocalServerOptions { roots: string[]; maxJobs: number; idleExitSeconds: number }

interface LocalServerRecord { pid: number; url: string; token: string; roots: string[]; logFile: string }

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when the recorded server answers with its token: the pid is still that server, not a process that reused it. */
async function answers(record: LocalServerRecord): Promise<boolean> {
  if (!processAlive(record.pid)) return false;
  try {
    const response = await fetch(`${record.url}/jobs`, { headers: { authorization: `Bearer ${record.token}` }, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    return response.ok;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class LocalServer {
  private record?: LocalServerRecord;
  private tail?: { timer: NodeJS.Timeout; offset: number; decoder: StringDecoder };

  constructor(private readonly script: string, private readonly storageDir: string, private readonly log: vscode.OutputChannel) {}

  /** The server for these roots that still answers (this window's before a reload, or another window's), else a new one. */
  async connect(options: LocalServerOptions): Promise<ServerEndpoint> {
    fs.mkdirSync(this.storageDir, { recursive: true, mode: 0o700 });
    const key = this.key(options.roots);
    const release = await this.lock(key);
    try {
      const existing = this.readRecord(key);
      if (existing && (await answers(existing))) {
        this.log.appendLine(`[local server] reattached to the server at ${existing.url} (pid ${existing.pid})`);
        this.attach(existing, fs.existsSync(existing.logFile) ? fs.statSync(existing.logFile).size : 0);
      } else {
        if (existing && processAlive(existing.pid)) this.log.appendLine(`[local server] the recorded server (pid ${existing.pid}) does not answer; starting another`);
        this.attach(await this.start(options, key), 0);
      }
    } finally {
      release();
    }
    return { url: this.record!.url, token: this.record!.token, kind: "local" };
  }

  /** True when the server in use may read exactly these folders. */
  serves(roots: string[]): boolean {
    return !!this.record && this.key(this.record.roots) === this.key(roots);
  }

  /** True while the server process lives (cheap: no request). */
  get running(): boolean {
    return !!this.record && processAlive(this.record.pid);
  }

  /** Stops the server in use — only once it has proven to be ours (it answers with our token) — and removes its record if still ours. */
  async stop(): Promise<void> {
    const record = this.record;
    this.detach();
    if (!record) return;
    const key = this.key(record.roots);
    if (this.readRecord(key)?.pid === record.pid) fs.rmSync(this.recordFile(key), { force: true });
    if (!(await answers(record))) return;
    process.kill(record.pid, "SIGTERM");
    for (let waited = 0; processAlive(record.pid) && waited <= 10_000; waited += 100) {
      if (waited === 5000) process.kill(record.pid, "SIGKILL");
      await sleep(100);
    }
    this.log.appendLine(`[local server] stopped (pid ${record.pid})`);
  }

  /** Stops following the server's log; the server itself keeps running (a reloaded window reattaches). */
  detach(): void {
    if (this.tail) clearInterval(this.tail.timer);
    this.tail = undefined;
    this.record = undefined;
  }

  private async start(options: LocalServerOptions, key: string): Promise<LocalServerRecord> {
    const token = randomBytes(24).toString("base64url");
    const logFile = path.join(this.storageDir, `local-server-${key}-${randomBytes(4).toString("hex")}.log`);
    // Each set of roots keeps its own job records: a server never takes another's running jobs for interrupted ones.
    const stateDir = path.join(this.storageDir, `server-${key}`);
    const args = [this.script, "serve", "--port", "0", "--state-dir", stateDir,
      "--max-jobs", String(options.maxJobs), "--idle-exit", String(options.idleExitSeconds), ...options.roots.flatMap((root) => ["--root", root])];
    this.log.appendLine(`[local server] starting: ${process.execPath} ${args.join(" ")}`);
    for (const old of fs.readdirSync(this.storageDir).filter((name) => name.startsWith(`local-server-${key}-`) && name.endsWith(".log"))) {
      fs.rmSync(path.join(this.storageDir, old), { force: true });
    }
    const output = fs.openSync(logFile, "w", 0o600);
    // The token goes in the environment, not on the command line (which other local users can read).
    const child = spawn(process.execPath, args, { env: { ...nodeEnvironment(), RDPIPE_TOKEN: token }, stdio: ["ignore", output, output], detached: true });
    fs.closeSync(output);
    child.unref();
    let exit: string | undefined;
    child.once("error", (e) => { exit = `could not start: ${e.message}`; });
    child.once("exit", (code, signal) => { exit = `exited (${signal ?? `code ${code}`})`; });
    const logText = () => fs.readFileSync(logFile, "utf8");
    for (const deadline = Date.now() + START_TIMEOUT_MS; ;) {
      const listening = parseListening(logText());
      if (listening) {
        const { url } = listening;
        const record: LocalServerRecord = { pid: child.pid!, url, token, roots: options.roots, logFile };
        const temporary = `${this.recordFile(key)}.${process.pid}`;
        fs.writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
        fs.renameSync(temporary, this.recordFile(key));
        return record;
      }
      const failure = exit ?? (Date.now() > deadline ? `did not start within ${START_TIMEOUT_MS / 1000} s` : undefined);
      if (failure) {
        if (!exit) child.kill();
        throw new Error(`the local rdpipe server ${failure}:\n${logText().slice(-2000)}`);
      }
      await sleep(50);
    }
  }

  /** Waits for (then takes) the start lock of these roots; a lock older than a start can take is stale and taken over. */
  private async lock(key: string): Promise<() => void> {
    const lockFile = path.join(this.storageDir, `local-server-${key}.lock`);
    for (const deadline = Date.now() + START_TIMEOUT_MS + 5000; ;) {
      try {
        fs.writeFileSync(lockFile, String(process.pid), { flag: "wx", mode: 0o600 });
        return () => fs.rmSync(lockFile, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const age = Date.now() - (fs.statSync(lockFile, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
        if (age > START_TIMEOUT_MS + 5000 || Date.now() > deadline) fs.rmSync(lockFile, { force: true });
        else await sleep(200);
      }
    }
  }

  /** Follows the server's log file into the OutputChannel from `offset`. */
  private attach(record: LocalServerRecord, offset: number): void {
    this.detach();
    this.record = record;
    const tail = { offset, decoder: new StringDecoder("utf8"), timer: setInterval(() => this.readLog(record.logFile, tail), 500) };
    this.tail = tail;
    this.readLog(record.logFile, tail);
  }

  private readLog(logFile: string, tail: { offset: number; decoder: StringDecoder }): void {
    let fd: number;
    try {
      fd = fs.openSync(logFile, "r");
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < tail.offset) tail.offset = 0; // truncated: read it again from the start
      if (size === tail.offset) return;
      const chunk = Buffer.alloc(size - tail.offset);
      fs.readSync(fd, chunk, 0, chunk.length, tail.offset);
      tail.offset = size;
      const text = tail.decoder.write(chunk).split("\n").filter((line) => !line.startsWith(LISTENING_PREFIX)).join("\n");
      if (text.trim()) this.log.append(text.endsWith("\n") ? text : `${text}\n`);
    } finally {
      fs.closeSync(fd);
    }
  }

  private key(roots: string[]): string {
    return createHash("sha256").update(JSON.stringify([...roots].sort())).digest("hex").slice(0, 16);
  }

  private recordFile(key: string): string {
    return path.join(this.storageDir, `local-server-${key}.json`);
  }

  private readRecord(key: string): LocalServerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.recordFile(key), "utf8")) as LocalServerRecord;
    } catch {
      return undefined;
    }
  }
}
