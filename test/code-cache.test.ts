// The V8 code cache the CLI and every worker thread load the engine's bundles through
// (server/src/loader/code-cache.ts): made once, used after, never the code of a file's earlier content.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { requireCached } from "../server/src/loader/code-cache";
import { runCli, tempDir, writePipeline } from "./helpers";

describe("code cache of the engine's bundles", function () {
  this.timeout(120_000);
  let dir: string;
  let cacheDir: string;
  const previous = process.env.RDPIPE_CODE_CACHE_DIR;

  beforeEach(() => {
    dir = tempDir();
    cacheDir = path.join(dir, "cache");
    process.env.RDPIPE_CODE_CACHE_DIR = cacheDir;
  });

  afterEach(() => {
    if (previous === undefined) delete process.env.RDPIPE_CODE_CACHE_DIR;
    else process.env.RDPIPE_CODE_CACHE_DIR = previous;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const caches = () => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((f) => f.endsWith(".bin")).sort() : []);
  /** A CommonJS file whose exports name `value`; every version of it has the same length. */
  const writeModule = (file: string, value: number) => {
    fs.writeFileSync(file, `const helper = require("node:path").basename(__filename);\nmodule.exports = { value: ${value}, helper, fn: () => ${value} * 10 };\n`);
  };

  it("loads a file as require would, makes its cache once and uses it after; a changed file of the same length runs its new code", () => {
    const file = path.join(dir, "bundle.js");
    writeModule(file, 1);
    const first = requireCached(file) as { value: number; helper: string; fn(): number };
    assert.deepEqual([first.value, first.helper, first.fn()], [1, "bundle.js", 10]);
    const [made] = caches();
    assert.ok(made, "a cache is made on the first load");
    const stat = fs.statSync(path.join(cacheDir, made));
    assert.equal(stat.mode & 0o077, 0, "the cache is readable by this user only");

    const second = requireCached(file) as { value: number };
    assert.equal(second.value, 1);
    const again = fs.statSync(path.join(cacheDir, made));
    assert.deepEqual([caches(), again.ino, again.mtimeMs], [[made], stat.ino, stat.mtimeMs], "a cache V8 took is not made again");

    // Same length, other code: V8's own check (the source's length) would take the old cache.
    writeModule(file, 2);
    const changed = requireCached(file) as { value: number; fn(): number };
    assert.deepEqual([changed.value, changed.fn()], [2, 20]);
    const now = caches();
    assert.equal(now.length, 1, `the earlier content's cache is removed: ${now.join(", ")}`);
    assert.notEqual(now[0], made);
  });

  it("uses no cache folder that others may write to", () => {
    fs.mkdirSync(cacheDir, { mode: 0o777 });
    fs.chmodSync(cacheDir, 0o777);
    const file = path.join(dir, "bundle.js");
    writeModule(file, 3);
    assert.equal((requireCached(file) as { value: number }).value, 3);
    assert.deepEqual(caches(), []);
  });

  it("rdpipe run caches the CLI's and the worker's bundles, and a second run from the caches writes the same output", () => {
    const out = path.join(dir, "out");
    const file = writePipeline(dir, "p.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(1000).map((r) => ({ id: r.id, twice: Number(r.id) * 2 })).writeJson(${JSON.stringify(out)}, { mode: "overwrite" });
`);
    const env = { RDPIPE_CODE_CACHE_DIR: cacheDir };
    const read = () => fs.readdirSync(out).sort().map((f) => fs.readFileSync(path.join(out, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: number; twice: number })).flat().sort((a, b) => a.id - b.id);
    const first = runCli(["run", file, "--workers", "1", "--quiet"], { env });
    assert.equal(first.code, 0, first.stderr);
    const rows = read();
    assert.equal(rows.length, 1000);
    assert.ok(rows.every((r) => r.twice === r.id * 2));
    const made = caches();
    assert.equal(made.length, 2, `one cache for dist/cli.js, one for dist/worker.js: ${made.join(", ")}`);
    const stamps = () => made.map((f) => fs.statSync(path.join(cacheDir, f)).mtimeMs);
    const madeAt = stamps();
    const second = runCli(["run", file, "--workers", "1", "--quiet"], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(read(), rows);
    assert.deepEqual([caches(), stamps()], [made, madeAt], "the second run took both caches (V8 rejecting one would have it made again)");
  });
});
