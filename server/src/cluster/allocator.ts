// glibc's malloc, set by the engine. In a process the engine starts itself (`rdpipe run` and `rdpipe node`,
// which execute themselves again with it, a server's job runner, a node it launches) through GLIBC_TUNABLES,
// read only when a process starts: transparent huge pages for malloc'd memory, one arena for all threads,
// and a fixed 32 MiB mmap threshold, so that column buffers come from one heap, are reused once freed, and
// each new 2 MiB of it costs one page fault instead of 512. A page fault is expensive on a virtual machine:
// left as it is, the 5M-row Parquet job with 2 workers took ~135k faults, a quarter of its CPU time (see
// README). In the user's own process (the API), where GLIBC_TUNABLES can no longer be set, mallopt through
// koffi (FFI) gives a job with a memory budget a fixed 128 KiB mmap threshold instead: freed buffers go back
// to the system at once (memory bench, slow consumer: peak RSS 724–752 → 548–563 MiB), at the cost of
// system time. Elsewhere than Linux with glibc: nothing. A setting the user made wins.
import { debuglog } from "node:util";

/** In the user's process, under a memory budget: buffers of this size and above are mmap'd, so that freeing one gives its pages back at once. */
const MMAP_THRESHOLD_BYTES = 128 * 1024;

/** The tunables of an engine process (glibc 2.35+ reads hugetlb; older ones ignore it), and the older variables that set the same. */
const ENGINE_TUNABLES: { name: string; value: string; alias?: string }[] = [
  { name: "glibc.malloc.hugetlb", value: "1" },
  // Threads of their own get arenas in mmap'd heaps, which hugetlb does not cover.
  { name: "glibc.malloc.arena_max", value: "1", alias: "MALLOC_ARENA_MAX" },
  { name: "glibc.malloc.mmap_threshold", value: String(32 * 2 ** 20), alias: "MALLOC_MMAP_THRESHOLD_" },
];

/**
 * Carries the user's own GLIBC_TUNABLES ("=" and its value, or "" when unset) into a process started under
 * the engine's, which puts it back (adoptEngineTunables): programs a UDF starts get the user's, not the engine's.
 */
const USER_TUNABLES = "RDPIPE_USER_GLIBC_TUNABLES";

/** Marks a process that runs under the engine's tunables (on `process`: every bundle of the process sees it, no child does). */
const IN_EFFECT = Symbol.for("rdpipe.engineMallocTunables");
const engineTunablesInEffect = () => (process as unknown as Record<symbol, unknown>)[IN_EFFECT] === true;

/** The variables that start a process under the engine's tunables, those the user set winning; undefined when the user set them all. */
export function engineMallocEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  const user = env.GLIBC_TUNABLES ?? "";
  const missing = ENGINE_TUNABLES.filter(({ name, alias }) =>
    !user.split(":").some((t) => t.startsWith(`${name}=`)) && (alias === undefined || env[alias] === undefined));
  if (missing.length === 0) return undefined;
  return {
    GLIBC_TUNABLES: [user, ...missing.map(({ name, value }) => `${name}=${value}`)].filter(Boolean).join(":"),
    [USER_TUNABLES]: env.GLIBC_TUNABLES === undefined ? "" : `=${env.GLIBC_TUNABLES}`,
  };
}

/** In a process started under the engine's tunables: marks it so, and gives its environment back the user's GLIBC_TUNABLES. */
export function adoptEngineTunables(): void {
  const user = process.env[USER_TUNABLES];
  if (user === undefined) return;
  if (user.startsWith("=")) process.env.GLIBC_TUNABLES = user.slice(1);
  else delete process.env.GLIBC_TUNABLES;
  delete process.env[USER_TUNABLES];
  (process as unknown as Record<symbol, unknown>)[IN_EFFECT] = true;
}

/**
 * mallopt's parameters set, each unless the user set it (a MALLOC_* variable or a glibc tunable wins).
 * The trim threshold is set too: the dynamic threshold may already have raised it to twice its own size.
 */
const PARAMETERS = [
  { param: -3 /* M_MMAP_THRESHOLD */, value: MMAP_THRESHOLD_BYTES, env: "MALLOC_MMAP_THRESHOLD_", tunable: "glibc.malloc.mmap_threshold" },
  { param: -1 /* M_TRIM_THRESHOLD */, value: MMAP_THRESHOLD_BYTES, env: "MALLOC_TRIM_THRESHOLD_", tunable: "glibc.malloc.trim_threshold" },
];

const debug = debuglog("rdpipe");

let tuned = false;

/**
 * Fixes malloc's thresholds for this whole process (every thread shares them), once: called where the
 * engine starts its worker threads, so a program that never runs a job loads no FFI.
 */
export function tuneAllocator(): void {
  // A process under the engine's tunables keeps them: its fixed mmap threshold serves a budget as well.
  if (tuned || process.platform !== "linux" || engineTunablesInEffect()) return;
  tuned = true;
  const { env } = process;
  const wanted = PARAMETERS.filter(({ env: name, tunable }) => env[name] === undefined && !env.GLIBC_TUNABLES?.includes(tunable));
  if (wanted.length === 0) return;
  const libc = glibc("malloc's mmap threshold stays dynamic");
  if (!libc) return;
  const mallopt = libc.func("int mallopt(int, int)") as (param: number, value: number) => number;
  for (const { param, value, env: name } of wanted) {
    if (mallopt(param, value) !== 1) debug("mallopt refused %s = %d", name, value);
  }
}

/** glibc through koffi; undefined elsewhere, or when koffi does not load (said at debug level, after `consequence`). */
function glibc(consequence: string): import("koffi").LibraryHandle | undefined {
  let koffi: typeof import("koffi");
  try {
    koffi = require("koffi") as typeof import("koffi");
  } catch (e) {
    debug("%s: koffi did not load (%s)", consequence, (e as Error).message);
    return undefined;
  }
  try {
    const libc = koffi.load("libc.so.6");
    libc.func("const char *gnu_get_libc_version()"); // only glibc has it (musl has no libc.so.6 either)
    return libc;
  } catch {
    return undefined; // not glibc
  }
}

/**
 * Replaces this process (same PID, arguments, standard streams and signals) with node running it again
 * under the engine's GLIBC_TUNABLES; returns when they are in effect or the user set them, or where a
 * restart cannot be (not Linux with glibc, no koffi, execve failed) or would lose something: a forked
 * process's IPC channel, sockets passed by systemd, a debugger attached at start. Other descriptors
 * the process inherited beyond the standard streams are not kept. Costs a Node start (~0.1 s).
 */
export function restartWithEngineMalloc(): void {
  if (process.platform !== "linux" || engineTunablesInEffect()) return;
  if (process.channel !== undefined || process.env.LISTEN_FDS !== undefined) return;
  if ([...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((arg) => arg.includes("--inspect"))) return;
  const variables = engineMallocEnv();
  if (variables === undefined) return;
  const libc = glibc("malloc stays as it is");
  if (!libc) return;
  const execve = libc.func("int execve(const char *, const char **, const char **)") as (file: string, argv: (string | null)[], env: (string | null)[]) => number;
  const fcntl = libc.func("int fcntl(int, int, int)") as (fd: number, command: number, arg: number) => number;
  const env = Object.entries({ ...process.env, ...variables }).map(([name, value]) => `${name}=${value}`);
  // Node marks its standard streams close-on-exec: the new program would start without them.
  const F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;
  for (const fd of [0, 1, 2]) {
    const flags = fcntl(fd, F_GETFD, 0);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1), null], [...env, null]);
  debug("malloc stays as it is: execve of %s failed", process.execPath);
}
