// The bundled execution server, run for the editor: `rdpipe serve` on a free loopback port with a random
// token, detached from the extension host so that a window reload (which restarts the extension host)
// neither kills it nor its running jobs — the reloaded window finds it again through a record in the
// extension's storage (token included, so the file is private to the user). It exits by itself once idle
// (`--idle-exit`: no job and no client), or on Stop Local Server.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type * as vscode from "vscode";
import { LISTENING_PREFIX } from "../../server/src/http/contract";
import { nodeEnvironment } from "./bundled-cli";
import type { ServerEndpoint } from "./connection";

/** How long the server may take to print its address. */
const START_TIMEOUT_MS = 30_000;

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

async function answers(record: LocalServerRecord): Promise<boolean> {
  try {
    const response = await fetch(`${record.url}/jobs`, { headers: { authorization: `Bearer ${record.token}` }, signal: AbortSignal.timeout(3000) });
    return response.ok;
  } catch {
    return false;
  }
}

export class LocalServer {
  private record?: LocalServerRecord;
  private tail?: { timer: NodeJS.Timeout; offset: number };

  constructor(private readonly script: string, private readonly storageDir: string, private readonly log: vscode.OutputChannel) {}

  /** A server for these roots that a previous session of this window started and that still answers, else a new one. */
  async connect(options: LocalServerOptions): Promise<ServerEndpoint> {
    const recordFile = this.recordFile(options.roots);
    const existing = this.readRecord(recordFile);
    if (existing && processAlive(existing.pid) && (await answers(existing))) {
      this.log.appendLine(`[local server] reattached to the server at ${existing.url} (pid ${existing.pid})`);
      this.attach(existing, fs.existsSync(existing.logFile) ? fs.statSync(existing.logFile).size : 0);
    } else {
      this.attach(await this.start(options, recordFile), 0);
    }
    return { url: this.record!.url, token: this.record!.token, kind: "local" };
  }

  /** The folders the server in use may read. */
  get roots(): string[] {
    return this.record?.roots ?? [];
  }

  /** True while the server process lives (cheap: no request). */
  get running(): boolean {
    return !!this.record && processAlive(this.record.pid);
  }

  /** True while the server answers requests. */
  async answering(): Promise<boolean> {
    return !!this.record && processAlive(this.record.pid) && (await answers(this.record));
  }

  async stop(): Promise<void> {
    const record = this.record;
    this.detach();
    if (!record) return;
    fs.rmSync(this.recordFile(record.roots), { force: true });
    if (!processAlive(record.pid)) return;
    process.kill(record.pid, "SIGTERM");
    for (let waited = 0; processAlive(record.pid); waited += 100) {
      if (waited >= 5000) process.kill(record.pid, "SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.log.appendLine(`[local server] stopped (pid ${record.pid})`);
  }

  /** Stops following the server's log; the server itself keeps running (a reloaded window reattaches). */
  detach(): void {
    if (this.tail) clearInterval(this.tail.timer);
    this.tail = undefined;
    this.record = undefined;
  }

  private async start(options: LocalServerOptions, recordFile: string): Promise<LocalServerRecord> {
    fs.mkdirSync(this.storageDir, { recursive: true });
    const token = randomBytes(24).toString("base64url");
    const logFile = recordFile.replace(/\.json$/, ".log");
    const args = [this.script, "serve", "--port", "0", "--state-dir", path.join(this.storageDir, "server"),
      "--max-jobs", String(options.maxJobs), "--idle-exit", String(options.idleExitSeconds), ...options.roots.flatMap((root) => ["--root", root])];
    this.log.appendLine(`[local server] starting: ${process.execPath} ${args.join(" ")}`);
    const output = fs.openSync(logFile, "w");
    // The token goes in the environment, not on the command line (which other local users can read).
    const child = spawn(process.execPath, args, { env: { ...nodeEnvironment(), RDPIPE_TOKEN: token }, stdio: ["ignore", output, output], detached: true });
    fs.closeSync(output);
    child.unref();
    let exit: string | undefined;
    child.once("error", (e) => { exit = `could not start: ${e.message}`; });
    child.once("exit", (code, signal) => { exit = `exited (${signal ?? `code ${code}`})`; });
    const logText = () => fs.readFileSync(logFile, "utf8");
    for (const deadline = Date.now() + START_TIMEOUT_MS; ;) {
      const line = logText().split("\n").find((l) => l.startsWith(LISTENING_PREFIX));
      if (line) {
        const { url } = JSON.parse(line.slice(LISTENING_PREFIX.length)) as { url: string };
        const record: LocalServerRecord = { pid: child.pid!, url, token, roots: options.roots, logFile };
        fs.writeFileSync(recordFile, JSON.stringify(record), { mode: 0o600 });
        return record;
      }
      const failure = exit ?? (Date.now() > deadline ? `did not start within ${START_TIMEOUT_MS / 1000} s` : undefined);
      if (failure) {
        if (!exit) child.kill();
        throw new Error(`the local rdpipe server ${failure}:\n${logText().slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Follows the server's log file into the OutputChannel from `offset`. */
  private attach(record: LocalServerRecord, offset: number): void {
    this.detach();
    this.record = record;
    const tail = { offset, timer: setInterval(() => this.readLog(record.logFile, tail), 500) };
    this.tail = tail;
    this.readLog(record.logFile, tail);
  }

  private readLog(logFile: string, tail: { offset: number }): void {
    let fd: number;
    try {
      fd = fs.openSync(logFile, "r");
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= tail.offset) return;
      const chunk = Buffer.alloc(size - tail.offset);
      fs.readSync(fd, chunk, 0, chunk.length, tail.offset);
      tail.offset = size;
      const text = chunk.toString("utf8").split("\n").filter((line) => !line.startsWith(LISTENING_PREFIX)).join("\n");
      if (text.trim()) this.log.append(text.endsWith("\n") ? text : `${text}\n`);
    } finally {
      fs.closeSync(fd);
    }
  }

  private recordFile(roots: string[]): string {
    const key = createHash("sha256").update(JSON.stringify([...roots].sort())).digest("hex").slice(0, 16);
    return path.join(this.storageDir, `local-server-${key}.json`);
  }

  private readRecord(file: string): LocalServerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(file, "utf8")) as LocalServerRecord;
    } catch {
      return undefined;
    }
  }
}
