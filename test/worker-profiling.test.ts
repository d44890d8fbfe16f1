// RDPIPE_WORKER_CPU_PROF: every worker thread of a run writes a V8 CPU profile into the folder it names.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { tempDir, writePipeline } from "./helpers";

const CLI = path.join(__dirname, "..", "bin", "rdpipe.js");

describe("worker CPU profiles", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("RDPIPE_WORKER_CPU_PROF=dir gives one .cpuprofile per worker, with the task's functions in it; unset, none", () => {
    const pipeline = writePipeline(dir, "p.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(20_000, { overrideNumBlocks: 8 }).map(function scaled(r) { return { v: (r.id as number) * 2 }; })
  .writeJson(${JSON.stringify(path.join(dir, "out"))}, { mode: "overwrite" });`);
    const profiles = path.join(dir, "profiles");
    execFileSync(process.execPath, [CLI, "run", pipeline, "--workers", "2", "--quiet"], { env: { ...process.env, RDPIPE_WORKER_CPU_PROF: profiles } });
    const written = fs.readdirSync(profiles).filter((f) => f.endsWith(".cpuprofile"));
    assert.equal(written.length, 2, `one profile per worker: ${written.join(", ")}`);
    const functions = written.map((f) => new Set((JSON.parse(fs.readFileSync(path.join(profiles, f), "utf8")) as { nodes: { callFrame: { functionName: string } }[] })
      .nodes.map((n) => n.callFrame.functionName)));
    assert.ok(functions.every((names) => names.has("runTask")), "each profile holds the worker's task loop");

    fs.rmSync(profiles, { recursive: true });
    const env = { ...process.env };
    delete env.RDPIPE_WORKER_CPU_PROF;
    execFileSync(process.execPath, [CLI, "run", pipeline, "--workers", "2", "--quiet"], { env });
    assert.equal(fs.existsSync(profiles), false, "no profile without the variable");
  });
});
