// glibc's malloc, set by the engine in the process it runs in (the user's own for `rdpipe run` and the API,
// where MALLOC_* variables can no longer be set). Left as it is, malloc's mmap threshold is dynamic: it
// rises to the size of the largest buffer freed (up to 32 MiB), and from then on freed column buffers stay
// in malloc's arenas (one or more per worker thread) instead of going back to the system (memory bench,
// slow consumer: peak RSS 724–752 → 548–563 MiB; the cost is system time, as every buffer of 128 KiB or
// more is a fresh mapping). The same fixed threshold `engineProcessEnv` gives the processes it starts, set
// through glibc's mallopt by koffi (FFI). Elsewhere than Linux with glibc: nothing.
import { debuglog } from "node:util";

/** Buffers of this size and above are mmap'd, so that freeing one gives its pages back at once. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;

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
  if (tuned || process.platform !== "linux") return;
  tuned = true;
  const { env } = process;
  const wanted = PARAMETERS.filter(({ env: name, tunable }) => env[name] === undefined && !env.GLIBC_TUNABLES?.includes(tunable));
  if (wanted.length === 0) return;
  let koffi: typeof import("koffi");
  try {
    koffi = require("koffi") as typeof import("koffi");
  } catch (e) {
    debug("malloc's mmap threshold stays dynamic: koffi did not load (%s)", (e as Error).message);
    return;
  }
  let mallopt: (param: number, value: number) => number;
  try {
    const libc = koffi.load("libc.so.6");
    libc.func("const char *gnu_get_libc_version()"); // only glibc has it (musl has no libc.so.6 either)
    mallopt = libc.func("int mallopt(int, int)") as (param: number, value: number) => number;
  } catch {
    return; // not glibc
  }
  for (const { param, value, env: name } of wanted) {
    if (mallopt(param, value) !== 1) debug("mallopt refused %s = %d", name, value);
  }
}
