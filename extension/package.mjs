// Zips the staged extension (extension/stage, from build.mjs) into a VSIX with vsce: `npm run package`
// writes rdpipe-linux-x64.vsix at the repository root; `--out FILE` writes elsewhere. The VSIX is per
// platform: the staged server carries esbuild's native binary for this machine's platform.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.dirname(here);
const target = `${process.platform}-${process.arch}`;
const { values } = parseArgs({ options: { out: { type: "string", default: path.join(repo, `rdpipe-${target}.vsix`) } } });
execFileSync(process.execPath, [
  path.join(repo, "node_modules/@vscode/vsce/vsce"), "package", "--allow-missing-repository", "--skip-license", "--target", target,
  "--out", path.resolve(values.out),
], { cwd: path.join(here, "stage"), stdio: "inherit" });
