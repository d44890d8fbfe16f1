// The rdpipe CLI that ships with the extension (extension/stage/rdpipe), run with the editor's own
// runtime: for the local server, for compiling pipelines that go to a remote server, and for debugging a row.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { BundleSource, JobSource } from "../../server/src/contract";

/** The CLI script: the bundled package, or the repository's in development (extension/ inside the repo). */
export function rdpipeScript(extensionPath: string): string {
  const candidates = [path.join(extensionPath, "rdpipe", "bin", "rdpipe.js"), path.join(extensionPath, "..", "bin", "rdpipe.js")];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new Error(`the bundled rdpipe server is missing (looked for ${candidates.join(", ")})`);
  return found;
}

/** Runs Node scripts with the editor's own runtime (Electron as Node in VS Code, Node in code-server). */
export function nodeEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, ELECTRON_RUN_AS_NODE: "1" };
}

/** The pipeline compiled as `rdpipe run --server` uploads it (`rdpipe bundle`); a compile error names file and line. */
export function compileBundle(script: string, pipeline: string): Promise<BundleSource> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, "bundle", pipeline], { env: nodeEnvironment(), maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(stderr.replace(/^\s*rdpipe: /, "").trim() || error.message));
        return;
      }
      try {
        const { filename, code } = JSON.parse(stdout) as { filename: string; code: string };
        resolve({ kind: "bundle", filename, code });
      } catch (e) {
        reject(new Error(`rdpipe bundle printed no bundle (${(e as Error).message}): ${stdout.slice(0, 200)}`));
      }
    });
  });
}

/**
 * What to submit for a pipeline file: its path to a server that reads this disk (the local one), or for a
 * remote one, which needs no access to this disk, a bundle compiled here with the CLI `bundleWith`.
 */
export async function jobSource(pipeline: string, bundleWith: string | undefined): Promise<JobSource> {
  return bundleWith !== undefined ? compileBundle(bundleWith, pipeline) : { kind: "path", path: pipeline };
}
