import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";

const MiB = 2 ** 20;

interface Run { rows: number; grewMiB: number; retainedMiB: number; stderr: string }

/** test/allocator-run.ts in a process of its own: RSS left behind by 128 freed 1 MiB buffers. */
function run(mode: "engine" | "unbudgeted" | "bare", env: NodeJS.ProcessEnv = {}, preload: string[] = []): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TSX_DISABLE_CACHE: "1", ...env };
  for (const name of Object.keys(childEnv)) if (name.startsWith("MALLOC_") && !(name in env)) delete childEnv[name];
  const args = ["--expose-gc", ...preload.flatMap((file) => ["-r", file]), "-r", "tsx/cjs", path.join(__dirname, "allocator-run.ts"), mode];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env: childEnv, timeout: 30_000 }, (error, stdout, stderr) => {
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (error || !line) reject(new Error(`allocator-run ${mode} failed: ${error?.message}\n${stderr}\n${stdout}`));
      else resolve({ ...(JSON.parse(line.slice(7)) as Omit<Run, "stderr">), stderr });
    });
  });
}

describe("malloc set by the engine (glibc's mmap threshold)", function () {
  this.timeout(60_000);

  it("once the engine has run a job under a memory budget, freed 1 MiB buffers go back to the system, even after a 16 MiB one was freed", async () => {
    const r = await run("engine");
    assert.equal(r.rows, 1000);
    assert.ok(r.grewMiB > 120, `the buffers added only ${r.grewMiB.toFixed(1)} MiB of RSS`);
    // What stays is the 128 small buffers kept alive (8 MiB), and some slack.
    assert.ok(r.retainedMiB < 24, `${r.retainedMiB.toFixed(1)} MiB of RSS stayed after freeing 128 MiB`);
  });

  it("without the engine, or after a job without a memory budget set, malloc keeps the same freed buffers (the dynamic threshold rose to 16 MiB)", async () => {
    const [bare, unbudgeted] = await Promise.all([run("bare"), run("unbudgeted")]);
    assert.ok(bare.retainedMiB > 100, `only ${bare.retainedMiB.toFixed(1)} MiB stayed: the control no longer shows what the setting prevents`);
    assert.equal(unbudgeted.rows, 1000);
    assert.ok(unbudgeted.retainedMiB > 100, `only ${unbudgeted.retainedMiB.toFixed(1)} MiB stayed: malloc was set for a job without a memory budget`);
  });

  it("a MALLOC_MMAP_THRESHOLD_ the user set wins over the engine's", async () => {
    const r = await run("engine", { MALLOC_MMAP_THRESHOLD_: String(16 * MiB) });
    assert.equal(r.rows, 1000);
    assert.ok(r.retainedMiB > 100, `only ${r.retainedMiB.toFixed(1)} MiB stayed: the engine replaced the user's 16 MiB threshold`);
  });

  it("without koffi the engine runs, and says once, at debug level, why malloc stays as it is", async () => {
    const hide = [path.join(__dirname, "hide-koffi.cjs")];
    const [r, quiet] = await Promise.all([run("engine", { NODE_DEBUG: "rdpipe" }, hide), run("engine", {}, hide)]);
    assert.equal(r.rows, 1000);
    const lines = r.stderr.split("\n").filter((l) => l.includes("koffi did not load"));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^RDPIPE \d+: malloc's mmap threshold stays dynamic: koffi did not load \(Cannot find module 'koffi'/);
    assert.equal(quiet.rows, 1000);
    assert.equal(quiet.stderr, "");
  });
});
