// Relative paths in pipeline files resolve against the file's folder while it loads, and the async
// context that carries the folder is switched off once no load runs (its promise hooks would otherwise
// tax every await of the process and its workers for good).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { loadPipeline } from "../server/src/loader";
import { tempDir, writePipeline } from "./helpers";

const ROOT = path.join(__dirname, "..");

describe("pipeline folders", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("two pipelines loading at once each resolve a relative path against their own folder, even after an await", async () => {
    const files = ["a", "b"].map((name, i) => {
      const folder = path.join(dir, name);
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, "data.json"), `{"from":"${name}"}\n`);
      // b finishes loading first, while a still waits: a's path must still resolve against a's folder.
      return writePipeline(folder, "p.rdpipe.ts", `import * as rd from "rdpipe";
export default async () => {
  await new Promise((resolve) => setTimeout(resolve, ${i === 0 ? 300 : 50}));
  return rd.readJson("data.json");
};`);
    });
    const [a, b] = await Promise.all(files.map((f) => loadPipeline(f)));
    assert.deepEqual(await a.takeAll(), [{ from: "a" }]);
    assert.deepEqual(await b.takeAll(), [{ from: "b" }]);
  });

  it("promises carry no async hook state once the load has ended (they do while it runs)", () => {
    const file = writePipeline(dir, "hooks.rdpipe.ts", `import * as rd from "rdpipe";
export default async () => {
  await null;
  (globalThis as Record<string, unknown>).duringLoad = Object.getOwnPropertySymbols(Promise.resolve()).length;
  return rd.range(1);
};`);
    const script = `
      const { loadPipeline } = require("./server/src/loader");
      const hookSymbols = () => Object.getOwnPropertySymbols(Promise.resolve()).length;
      (async () => {
        const before = hookSymbols();
        await loadPipeline(${JSON.stringify(file)});
        await null;
        process.stdout.write(JSON.stringify({ before, during: globalThis.duringLoad, after: hookSymbols() }));
      })();`;
    const out = JSON.parse(execFileSync(process.execPath, ["-r", "tsx/cjs", "-e", script], { cwd: ROOT, encoding: "utf8" })) as Record<string, number>;
    assert.equal(out.before, 0, "no async hooks before the load");
    assert.ok(out.during > 0, `the load runs with the folder's async context (${out.during} hook symbols on a promise)`);
    assert.equal(out.after, 0, "the async context is off once the load has ended");
  });
});
