// `npm run package`: the VSIX installs into a real VS Code (code-server --install-extension) and what it
// installs works on its own — the extension's entry points, the TypeScript plugin, and the bundled
// rdpipe CLI running a pipeline with nothing from this repository.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { codeServerBinary } from "../scripts/code-server";
import { REPO, tempDir } from "./helpers";

describe("the VSIX (npm run package)", function () {
  this.timeout(240_000);
  let dir: string;
  before(() => { dir = tempDir("rdpipe-vsix-"); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("installs into code-server, and its bundled CLI runs a pipeline outside the repository", () => {
    const vsix = path.join(dir, "rdpipe.vsix");
    execFileSync(process.execPath, [path.join(REPO, "extension/package.mjs"), "--out", vsix], { stdio: "pipe" });
    const extensionsDir = path.join(dir, "extensions");
    const installed = execFileSync(codeServerBinary(), ["--extensions-dir", extensionsDir, "--user-data-dir", path.join(dir, "user"), "--install-extension", vsix], { encoding: "utf8" });
    assert.match(installed, /was successfully installed/);
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO, "extension/package.json"), "utf8")) as { version: string };
    const root = fs.readdirSync(extensionsDir).find((name) => name.startsWith(`rdpipe.rdpipe-${manifest.version}`));
    assert.ok(root, `installed as ${fs.readdirSync(extensionsDir).join(", ")}`);
    const extension = path.join(extensionsDir, root);
    for (const file of ["package.json", "dist/extension.js", "dist/server.js", "dist/webview/panel.js", "dist/webview/panel.css",
      "node_modules/rdpipe-typescript-plugin/index.js", "rdpipe/bin/rdpipe.js", "rdpipe/dist/worker.js", "rdpipe/dist/job-runner.js", "rdpipe/types/api/index.d.ts"]) {
      assert.ok(fs.existsSync(path.join(extension, file)), `${file} is in the VSIX`);
    }

    const work = path.join(dir, "work");
    fs.mkdirSync(work);
    fs.copyFileSync(path.join(REPO, "samples/make-data.rdpipe.ts"), path.join(work, "make-data.rdpipe.ts"));
    const output = execFileSync(process.execPath, [path.join(extension, "rdpipe/bin/rdpipe.js"), "run", "make-data.rdpipe.ts", "--quiet"], { cwd: work, encoding: "utf8" });
    assert.match(output, /Wrote 200,000 rows in \d+ files/);
  });
});
