// `npm run ide [-- --port N] [-- --server-url URL]`: a real VS Code (code-server) on loopback with the
// unpacked rdpipe extension, opening samples/. Fresh profile each start, removed on exit.
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO, createProfile, removeProfile, startCodeServer } from "./code-server";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: "string", default: "8080" }, "server-url": { type: "string" } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--port ${values.port} is not a port number`);
  const profile = createProfile(values["server-url"] ? { "rdpipe.serverUrl": values["server-url"] } : {});
  const codeServer = await startCodeServer({ profile, workspace: path.join(REPO, "samples"), port }).catch((e: unknown) => {
    removeProfile(profile);
    throw e;
  });
  const onCodeServerExit = (code: number | null) => {
    removeProfile(profile);
    process.exit(code ?? 1);
  };
  codeServer.child.once("exit", onCodeServerExit);
  const shutDown = async () => {
    codeServer.child.off("exit", onCodeServerExit);
    await codeServer.stop();
    removeProfile(profile);
    process.exit(0);
  };
  process.once("SIGINT", shutDown);
  process.once("SIGTERM", shutDown);
  console.log(`\nrdpipe in VS Code: open ${codeServer.workspaceUrl}  (Ctrl+C stops it)`);
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
