// End to end in a real VS Code (code-server) with the rdpipe extension, driven from headless Chromium,
// against a real execution server. Needs `bash scripts/install-code-server.sh` (.ci/run does).
import fs from "node:fs";
import path from "node:path";
import { type Ide, startIde } from "./ide-harness";
import { REPO, tempDir } from "./helpers";
import { type ServerProcess, startServer } from "./server-helpers";

describe("the extension in a real VS Code (code-server)", function () {
  this.timeout(120_000);
  let workspace: string;
  let stateDir: string;
  let server: ServerProcess;
  let ide: Ide;

  before(async () => {
    workspace = tempDir("rdpipe-ide-workspace-");
    stateDir = tempDir("rdpipe-ide-state-");
    fs.cpSync(path.join(REPO, "samples"), workspace, { recursive: true });
    server = await startServer(["--root", workspace, "--state-dir", stateDir]);
    ide = await startIde({ workspace, serverUrl: server.url, logName: "ide-test" });
  });
  after(async () => {
    await ide?.stop();
    await server?.stop();
    for (const dir of [workspace, stateDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("shows the Run CodeLens on a pipeline's operators", async () => {
    await ide.openFile("quickstart.rdpipe.ts");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.screenshot("quickstart-codelens");
  });
});
