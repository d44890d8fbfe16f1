// Runs inside a real VS Code (the extension host of a build that @vscode/test-electron started), with
// the staged extension (extension/stage) and a copy of samples/ as the workspace. See ../vscode.test.ts.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as vscode from "vscode";
import type { RdpipeExtensionApi } from "../../extension/src/extension";
import { FINISHED_STATES, RemoteClient, type JobSummary } from "../../server/src/contract";

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("rdpipe extension in VS Code", function () {
  this.timeout(120_000);
  let api: RdpipeExtensionApi;
  let client: RemoteClient;
  const workspace = () => vscode.workspace.workspaceFolders![0].uri.fsPath;

  before(async () => {
    const extension = vscode.extensions.getExtension<RdpipeExtensionApi>("rdpipe.rdpipe");
    assert.ok(extension, "the rdpipe extension is installed");
    api = await extension.activate();
    const server = await api.server();
    assert.ok(server, "the extension connected to a server");
    client = new RemoteClient(server.url, server.token);
  });

  it("starts its bundled server on a loopback port, behind a random token", async () => {
    const server = (await api.server())!;
    assert.equal(server.kind, "local");
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.token && server.token.length >= 24);
    const anonymous = await fetch(`${server.url}/jobs`);
    assert.equal(anonymous.status, 401);
  });

  it("runs pipelines from the Run command and shows each job in the panel until it succeeds", async () => {
    for (const name of ["make-data.rdpipe.ts", "quickstart.rdpipe.ts"]) {
      const before = api.shownJobId();
      await vscode.commands.executeCommand("rdpipe.run", vscode.Uri.file(path.join(workspace(), name)));
      const jobId = await until("the panel to show the new job", () => (api.shownJobId() !== before ? api.shownJobId() : undefined));
      const job = await until<JobSummary>(`job ${jobId} to finish`, async () => {
        const { job: current } = await client.request("GET", `/jobs/${jobId}`, "job");
        return FINISHED_STATES.includes(current.state) ? current : undefined;
      });
      assert.equal(job.state, "succeeded", job.error?.message);
      assert.equal(job.pipeline, path.join(workspace(), name));
    }
    assert.ok(fs.readdirSync(path.join(workspace(), "out", "positive-reviews")).some((file) => file.endsWith(".parquet")));
  });

  it("marks an unknown column name through its language server", async () => {
    const file = path.join(workspace(), "unknown-column.rdpipe.ts");
    fs.writeFileSync(file, `import * as rd from "rdpipe";\nexport default rd.readParquet("data/reviews").selectColumns(["id", "nope"]);\n`);
    const document = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(document);
    const diagnostic = await until("an rdpipe diagnostic", () =>
      vscode.languages.getDiagnostics(document.uri).find((d) => d.source === "rdpipe" && /nope/.test(d.message)));
    assert.equal(document.getText(diagnostic.range), `"nope"`);
  });
});
