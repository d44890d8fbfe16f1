import assert from "node:assert/strict";
import { execFile, fork, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { engineMallocEnv } from "../server/src/cluster/allocator";
import { tempDir, writePipeline } from "./helpers";

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

  describe("`rdpipe run` starts again under the engine's GLIBC_TUNABLES", () => {
    const ENGINE = ["glibc.malloc.hugetlb=1", "glibc.malloc.arena_max=1", "glibc.malloc.mmap_threshold=33554432"];
    let dir: string;
    before(() => {
      dir = tempDir("rdpipe-malloc-");
      // The worker threads' process: its PID, the GLIBC_TUNABLES it started with (what glibc read), and the one in its environment now.
      writePipeline(dir, "env.rdpipe.ts", `import fs from "node:fs";
import * as rd from "rdpipe";
// glibc cuts the variable at each ":" in place as it reads it: the tunables follow as entries of their own.
const started = () => {
  const entries = fs.readFileSync("/proc/self/environ", "utf8").split("\\0");
  const at = entries.findIndex((v) => v.startsWith("GLIBC_TUNABLES="));
  if (at < 0) return null;
  const tunables = [entries[at].slice(15)];
  for (let i = at + 1; entries[i]?.startsWith("glibc."); i++) tunables.push(entries[i]);
  return tunables.join(":");
};
export default rd.range(1).map((r) => ({ ...r, pid: process.pid, started: started(), now: process.env.GLIBC_TUNABLES ?? null }))
  .writeJson(process.env.OUT_DIR!, { mode: "overwrite" });`);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    interface EnvRow { pid: number; started: string | null; now: string | null }
    /**
     * The CLI run with node (or forked, with an IPC channel), or as a program (bin/rdpipe.js's shell lines
     * start node): its PID (the same after execve) and what its workers saw.
     */
    const runEnvJob = (env: NodeJS.ProcessEnv, how: "node" | "forked" | "program" = "node") => new Promise<{ pid: number; row: EnvRow }>((resolve, reject) => {
      const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
      const childEnv: NodeJS.ProcessEnv = { ...process.env, OUT_DIR: out, ...env };
      for (const name of ["GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"]) if (!(name in env)) delete childEnv[name];
      const args = [path.join(__dirname, "..", "bin", "rdpipe.js"), "run", path.join(dir, "env.rdpipe.ts")];
      // The program finds node on PATH, as `#!/usr/bin/env node` would.
      if (how === "program") childEnv.PATH = `${path.dirname(process.execPath)}:${childEnv.PATH ?? ""}`;
      const child = how === "forked"
        ? fork(args[0], args.slice(1), { env: childEnv, stdio: ["ignore", "ignore", "pipe", "ipc"] })
        : how === "program" ? spawn(args[0], args.slice(1), { env: childEnv, stdio: ["ignore", "ignore", "pipe"] })
          : spawn(process.execPath, args, { env: childEnv, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => { stderr += d; });
      child.on("close", (code) => {
        if (code !== 0) return reject(new Error(`rdpipe run exited ${code}: ${stderr}`));
        // The standard streams survive the restart: the summary reaches stderr.
        if (!/Dataset: .* total/.test(stderr)) return reject(new Error(`no summary on stderr: ${JSON.stringify(stderr)}`));
        const file = fs.readdirSync(out).find((f) => f.endsWith(".json"))!;
        resolve({ pid: child.pid!, row: JSON.parse(fs.readFileSync(path.join(out, file), "utf8").trim()) as EnvRow });
      });
    });

    it("in the same process (its PID), whose workers run under huge pages, one arena and a fixed mmap threshold; programs it starts get none of them", async () => {
      const { pid, row } = await runEnvJob({});
      assert.equal(row.pid, pid, "the job ran in the process the user started, replaced in place");
      assert.deepEqual(row.started?.split(":"), ENGINE);
      assert.equal(row.now, null, "its environment is the user's again");
    });

    it("keeps a tunable the user set (or its MALLOC_ variable) and adds the others; the user's GLIBC_TUNABLES stays in its environment", async () => {
      const own = "glibc.malloc.arena_max=4:glibc.malloc.tcache_count=0";
      const [tunable, variable] = await Promise.all([runEnvJob({ GLIBC_TUNABLES: own }), runEnvJob({ MALLOC_ARENA_MAX: "8" })]);
      assert.deepEqual(tunable.row.started?.split(":"), [...own.split(":"), ENGINE[0], ENGINE[2]]);
      assert.equal(tunable.row.now, own);
      assert.deepEqual(variable.row.started?.split(":"), [ENGINE[0], ENGINE[2]]);
    });

    it("does not start again when forked with an IPC channel, which the restart would close", async () => {
      const { row } = await runEnvJob({}, "forked");
      assert.equal(row.started, null);
    });

    it("run as a program, starts node under the same settings at once, as engineMallocEnv gives them for each environment", async () => {
      const envs: NodeJS.ProcessEnv[] = [
        {}, { GLIBC_TUNABLES: "glibc.malloc.arena_max=4:glibc.malloc.tcache_count=0" }, { GLIBC_TUNABLES: "" }, { MALLOC_ARENA_MAX: "8" },
        { MALLOC_MMAP_THRESHOLD_: "65536", GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" },
        { GLIBC_TUNABLES: "glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4096" },
      ];
      for (const env of envs) {
        const { pid, row } = await runEnvJob(env, "program");
        assert.equal(row.pid, pid, `${JSON.stringify(env)}: the job ran in the process started`);
        assert.equal(row.started, engineMallocEnv(env)?.GLIBC_TUNABLES ?? env.GLIBC_TUNABLES ?? null, `${JSON.stringify(env)}: tunables as started`);
        assert.equal(row.now, env.GLIBC_TUNABLES ?? null, `${JSON.stringify(env)}: the user's GLIBC_TUNABLES back in its environment`);
      }
    });
  });
});
