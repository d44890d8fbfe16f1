// Pipeline bundles reused between runs (issue 21, start fast): a bundle is taken from the cache while the
// files it was made from are unchanged, and made again when one of them, or a tsconfig.json above, changes.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { runCli, tempDir, writePipeline } from "./helpers";

describe("pipeline bundle cache", function () {
  this.timeout(60_000);
  let dir: string;
  let cacheDir: string;
  const previous = process.env.RDPIPE_BUNDLE_CACHE_DIR;

  beforeEach(() => {
    dir = tempDir();
    cacheDir = tempDir("rdpipe-bundles-");
    process.env.RDPIPE_BUNDLE_CACHE_DIR = cacheDir;
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.RDPIPE_BUNDLE_CACHE_DIR;
    else process.env.RDPIPE_BUNDLE_CACHE_DIR = previous;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  /** The bundle `rdpipe bundle` prints (a process of its own: esbuild's synchronous API can stall a process that loaded it through tsx). */
  function compilePipeline(file: string): { code: string } {
    const run = runCli(["bundle", file], { env: { RDPIPE_BUNDLE_CACHE_DIR: cacheDir } });
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as { code: string };
  }

  /** Replaces the code of the one cached bundle, so that a result carrying the mark can only have come from the cache. */
  function markCachedBundle(): void {
    const [entry] = fs.readdirSync(cacheDir);
    const file = path.join(cacheDir, entry);
    const stored = JSON.parse(fs.readFileSync(file, "utf8")) as { code: string };
    fs.writeFileSync(file, JSON.stringify({ ...stored, code: `${stored.code}\n// from the cache` }));
  }

  it("reuses the bundle while nothing changed; an imported file's change makes it again", () => {
    fs.writeFileSync(path.join(dir, "rows.ts"), "export const N = 10;\n");
    const file = writePipeline(dir, "cached.rdpipe.ts", `import * as rd from "rdpipe";\nimport { N } from "./rows";\nexport default rd.range(N);\n`);
    const first = compilePipeline(file);
    assert.match(first.code, /N = 10/);
    assert.equal(fs.readdirSync(cacheDir).length, 1);
    markCachedBundle();
    assert.match(compilePipeline(file).code, /\/\/ from the cache$/);

    fs.writeFileSync(path.join(dir, "rows.ts"), "export const N = 12;\n");
    const changed = compilePipeline(file);
    assert.match(changed.code, /N = 12/);
    assert.doesNotMatch(changed.code, /from the cache/);
  });

  it("a tsconfig.json that appears beside the pipeline makes the bundle again", () => {
    const file = writePipeline(dir, "config.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(3);\n`);
    compilePipeline(file);
    markCachedBundle();
    assert.match(compilePipeline(file).code, /from the cache/);
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true } }));
    assert.doesNotMatch(compilePipeline(file).code, /from the cache/);
  });

  it("a symlinked import retargeted to another file makes the bundle again", () => {
    fs.writeFileSync(path.join(dir, "a.ts"), "export const N = 10;\n");
    fs.writeFileSync(path.join(dir, "b.ts"), "export const N = 20;\n");
    fs.symlinkSync("a.ts", path.join(dir, "rows.ts"));
    const file = writePipeline(dir, "linked.rdpipe.ts", `import * as rd from "rdpipe";\nimport { N } from "./rows";\nexport default rd.range(N);\n`);
    assert.match(compilePipeline(file).code, /N = 10/);
    fs.rmSync(path.join(dir, "rows.ts"));
    fs.symlinkSync("b.ts", path.join(dir, "rows.ts"));
    assert.match(compilePipeline(file).code, /N = 20/);
  });

  it("a new file that an import now resolves to makes the bundle again", () => {
    fs.writeFileSync(path.join(dir, "rows.js"), "export const N = 10;\n");
    const file = writePipeline(dir, "shadowed.rdpipe.ts", `import * as rd from "rdpipe";\nimport { N } from "./rows";\nexport default rd.range(N);\n`);
    assert.match(compilePipeline(file).code, /N = 10/);
    fs.writeFileSync(path.join(dir, "rows.ts"), "export const N = 30;\n");
    assert.match(compilePipeline(file).code, /N = 30/);
  });

  it("keeps no bundle of a file written while it was being made (its hash would be of the newer content)", () => {
    const file = writePipeline(dir, "busy.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(3);\n`);
    // An mtime after the build began: what an editor's save during esbuild's run leaves.
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(file, later, later);
    compilePipeline(file);
    assert.deepEqual(fs.readdirSync(cacheDir), []);
  });

  it("keeps bundles in a folder only this user can write, and takes none from a folder others can write", () => {
    const file = writePipeline(dir, "owned.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(3);\n`);
    const fresh = path.join(cacheDir, "made", "bundles");
    const run = runCli(["bundle", file], { env: { RDPIPE_BUNDLE_CACHE_DIR: fresh } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(fs.statSync(fresh).mode & 0o777, 0o700);
    const [entry] = fs.readdirSync(fresh);
    assert.equal(fs.statSync(path.join(fresh, entry)).mode & 0o077, 0);

    // A shared folder (as a cache under /tmp would be): anyone could have put a bundle there.
    compilePipeline(file);
    markCachedBundle();
    fs.chmodSync(cacheDir, 0o777);
    assert.doesNotMatch(compilePipeline(file).code, /from the cache/);
    fs.chmodSync(cacheDir, 0o700);
    markCachedBundle();
    fs.chmodSync(path.join(cacheDir, fs.readdirSync(cacheDir)[0]), 0o666);
    assert.doesNotMatch(compilePipeline(file).code, /from the cache/);
  });

  it("rdpipe run runs the pipeline as it is now after an edit, and reports a syntax error the edit made", () => {
    const file = writePipeline(dir, "edited.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(5).map((r) => ({ v: (r.id as number) + 1 }));\n`);
    const env = { RDPIPE_BUNDLE_CACHE_DIR: cacheDir };
    assert.match(runCli(["run", file, "--preview", "1", "--quiet"], { env }).stdout, /\{v: 1\}/);
    fs.writeFileSync(file, `import * as rd from "rdpipe";\nexport default rd.range(5).map((r) => ({ v: (r.id as number) + 100 }));\n`);
    assert.match(runCli(["run", file, "--preview", "1", "--quiet"], { env }).stdout, /\{v: 100\}/);
    fs.writeFileSync(file, `import * as rd from "rdpipe";\nexport default rd.range(5).map((r) => ({ v: (r.id as number) + }));\n`);
    const broken = runCli(["run", file, "--preview", "1", "--quiet"], { env });
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /edited\.rdpipe\.ts:2:\d+: Unexpected/);
  });
});
