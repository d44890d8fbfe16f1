// A real VS Code (code-server, installed by scripts/install-code-server.sh) with the unpacked rdpipe
// extension: shared by `npm run ide` (scripts/ide.ts) and the end-to-end tests (test/ide-harness.ts).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(__dirname, "..");
export const CODE_SERVER_VERSION = "4.100.3";
/** The unpacked extension (package.json, dist/...) that `node extension/build.mjs` produces. */
export const EXTENSION_STAGE = path.join(REPO, "extension", "stage");

export function codeServerBinary(): string {
  const installDir = process.env.RDPIPE_CODE_SERVER_DIR ?? path.join(os.homedir(), ".cache", "rdpipe", `code-server-${CODE_SERVER_VERSION}`);
  const binary = path.join(installDir, "node_modules", ".bin", "code-server");
  if (!fs.existsSync(binary)) {
    throw new Error(`code-server ${CODE_SERVER_VERSION} is not installed at ${binary}: run \`bash scripts/install-code-server.sh\` (.ci/run does)`);
  }
  return binary;
}

/** Settings that keep a fresh profile quiet: no trust prompt, welcome page, tips, update checks or telemetry. */
const QUIET_SETTINGS: Record<string, unknown> = {
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "workbench.enableExperiments": false,
  "extensions.ignoreRecommendations": true,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "telemetry.telemetryLevel": "off",
  "git.enabled": false,
};

export interface CodeServerProfile {
  extensionsDir: string;
  userDataDir: string;
}

/**
 * A fresh extensions folder holding the staged extension, and a fresh user-data folder with `settings`
 * over the quiet defaults. Fresh matters: an existing extensions.json that does not list the extension
 * makes VS Code mark it removed.
 */
export function createProfile(settings: Record<string, unknown> = {}): CodeServerProfile {
  const manifestPath = path.join(EXTENSION_STAGE, "package.json");
  if (!fs.existsSync(manifestPath)) throw new Error(`${manifestPath} is missing: build the unpacked extension first (node extension/build.mjs)`);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as { publisher: string; name: string; version: string };
  const extensionsDir = fs.mkdtempSync(path.join(os.tmpdir(), "rdpipe-code-server-extensions-"));
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rdpipe-code-server-user-data-"));
  fs.cpSync(EXTENSION_STAGE, path.join(extensionsDir, `${manifest.publisher}.${manifest.name}-${manifest.version}`), { recursive: true });
  fs.mkdirSync(path.join(userDataDir, "User"), { recursive: true });
  fs.writeFileSync(path.join(userDataDir, "User", "settings.json"), JSON.stringify({ ...QUIET_SETTINGS, ...settings }, null, 2));
  return { extensionsDir, userDataDir };
}

/**
 * Stops the local execution servers the extension started with this profile (they outlive the editor,
 * so that a window reload keeps running jobs; each is recorded in the extension's global storage as
 * local-server-*.json), then deletes the profile.
 */
export function removeProfile(profile: CodeServerProfile): void {
  const records = fs.readdirSync(profile.userDataDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /^local-server-[0-9a-f]+\.json$/.test(entry.name));
  for (const record of records) {
    const { pid } = JSON.parse(fs.readFileSync(path.join(record.parentPath, record.name), "utf8")) as { pid: number };
    try { process.kill(pid, "SIGTERM"); } catch { /* exited already */ }
  }
  for (const dir of [profile.extensionsDir, profile.userDataDir]) fs.rmSync(dir, { recursive: true, force: true });
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface CodeServer {
  /** The page to open for `workspace` (on `localhost`: VS Code's webviews need a secure context). */
  workspaceUrl: string;
  child: ChildProcess;
  /** Kills code-server's whole process group (it forks an extension host and language servers). */
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  profile: CodeServerProfile;
  workspace: string;
  port: number;
  /** Receives code-server's stdout and stderr; inherited when absent. */
  logFile?: string;
  readyTimeoutMs?: number;
}

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const binary = codeServerBinary();
  const log = options.logFile ? fs.openSync(options.logFile, "w") : "inherit";
  const child = spawn(binary, [
    "--auth", "none", "--bind-addr", `127.0.0.1:${options.port}`, "--disable-telemetry", "--disable-update-check",
    // A config file of its own: without one, code-server writes ~/.config/code-server/config.yaml.
    "--config", path.join(options.profile.userDataDir, "config.yaml"),
    "--extensions-dir", options.profile.extensionsDir, "--user-data-dir", options.profile.userDataDir, options.workspace,
  ], { stdio: ["ignore", log, log], detached: true });
  if (typeof log === "number") fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try { process.kill(-child.pid!, signal); } catch { /* the whole group has exited */ }
  };
  const stop = async () => {
    signalGroup("SIGTERM");
    const killTimer = setTimeout(() => signalGroup("SIGKILL"), 5000);
    await exited;
    clearTimeout(killTimer);
  };
  const base = `http://127.0.0.1:${options.port}`;
  try {
    await waitUntilHealthy(base, child, options.readyTimeoutMs ?? 60_000, options.logFile);
  } catch (e) {
    await stop();
    throw e;
  }
  return { workspaceUrl: `http://localhost:${options.port}/?folder=${encodeURIComponent(options.workspace)}`, child, stop };
}

async function waitUntilHealthy(base: string, child: ChildProcess, timeoutMs: number, logFile: string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seeLog = logFile ? ` (see ${logFile})` : "";
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before answering${seeLog}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`code-server did not answer on ${base} within ${timeoutMs} ms${seeLog}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
