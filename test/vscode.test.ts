// The @vscode/test-electron suite (./vscode/suite.ts): the staged extension in a real VS Code build,
// where one is present — VSCODE_EXECUTABLE_PATH, or a build @vscode/test-electron downloaded into
// .vscode-test/ (these machines cannot download one). Without a build it says so and does not run.
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import { REPO, copySamples, tempDir } from "./helpers";

function vscodeBuild(): string | undefined {
  if (process.env.VSCODE_EXECUTABLE_PATH) return process.env.VSCODE_EXECUTABLE_PATH;
  const cache = path.join(REPO, ".vscode-test");
  if (!fs.existsSync(cache)) return undefined;
  for (const entry of fs.readdirSync(cache)) {
    for (const binary of ["code", "VSCode-linux-x64/code"]) {
      const candidate = path.join(cache, entry, binary);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

describe("@vscode/test-electron suite", function () {
  this.timeout(600_000);
  const executable = vscodeBuild();

  before(function () {
    if (!executable) {
      console.log("    not run: no VS Code build here (set VSCODE_EXECUTABLE_PATH to a VS Code executable, or put a build in .vscode-test/)");
      this.skip();
    }
  });

  it("passes in VS Code with the staged extension and a copy of samples/", async () => {
    const { runTests } = await import("@vscode/test-electron");
    const out = path.join(REPO, "test-output", "vscode-suite");
    await build({
      entryPoints: { index: path.join(REPO, "test/vscode/index.ts") }, outdir: out, bundle: true, platform: "node", target: "node20",
      format: "cjs", external: ["vscode", "mocha"], sourcemap: "inline", logLevel: "warning",
    });
    const workspace = copySamples();
    try {
      await runTests({
        vscodeExecutablePath: executable, extensionDevelopmentPath: path.join(REPO, "extension", "stage"), extensionTestsPath: path.join(out, "index.js"),
        launchArgs: [workspace, "--disable-extensions", "--user-data-dir", tempDir("rdpipe-vscode-user-"), "--disable-workspace-trust"],
      });
    } finally {
      fs.rmSync(workspace, { recursive: true, force: true });
    }
  });
});
