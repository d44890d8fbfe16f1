// A real S3-compatible server (s3rver) on loopback, in a child process: it needs
// --openssl-legacy-provider because its continuation tokens use DES.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { freePort } from "../scripts/code-server";
import { REPO, tempDir } from "./helpers";

/** s3rver's built-in credentials; set at load so worker threads inherit them. */
process.env.AWS_ACCESS_KEY_ID = "S3RVER";
process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`s3rver exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => { socket.end(); resolve(true); }).on("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`s3rver did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface S3Server {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts s3rver with the given buckets, storing objects in dataDir (a fresh temporary folder by default); the endpoint is http://127.0.0.1:PORT. */
export async function startS3Server(buckets: string[], dataDir = tempDir("rdpipe-s3rver-")): Promise<S3Server> {
  const port = await freePort();
  const args = [
    "--openssl-legacy-provider", "-r", path.join(REPO, "test/s3rver-keep-folders.cjs"),
    path.join(REPO, "node_modules/s3rver/bin/s3rver.js"),
    "-d", dataDir, "-a", "127.0.0.1", "-p", String(port), "--silent",
    ...buckets.flatMap((b) => ["--configure-bucket", b]),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  await waitForPort(port, child);
  return {
    endpoint: `http://127.0.0.1:${port}`, port,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
  };
}
