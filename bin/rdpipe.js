#!/bin/sh
":" //; t=; case ":${GLIBC_TUNABLES-}:" in *:glibc.malloc.hugetlb=*) ;; *) t=$t:glibc.malloc.hugetlb=1 ;; esac
":" //; [ -n "${MALLOC_ARENA_MAX+x}" ] || case ":${GLIBC_TUNABLES-}:" in *:glibc.malloc.arena_max=*) ;; *) t=$t:glibc.malloc.arena_max=1 ;; esac
":" //; [ -n "${MALLOC_MMAP_THRESHOLD_+x}" ] || case ":${GLIBC_TUNABLES-}:" in *:glibc.malloc.mmap_threshold=*) ;; *) t=$t:glibc.malloc.mmap_threshold=33554432 ;; esac
":" //; if [ -n "$t" ] && [ -z "${RDPIPE_USER_GLIBC_TUNABLES+x}" ]; then RDPIPE_USER_GLIBC_TUNABLES=${GLIBC_TUNABLES+=$GLIBC_TUNABLES}; GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES}$t; GLIBC_TUNABLES=${GLIBC_TUNABLES#:}; export GLIBC_TUNABLES RDPIPE_USER_GLIBC_TUNABLES; fi
":" //; exec node "$0" "$@"
// Run as a program (`rdpipe …`, `npx rdpipe …`), the lines above are a shell script: it starts Node under
// the engine's malloc settings (server/src/cluster/allocator.ts engineMallocEnv, which test/allocator.test.ts
// holds these lines to), so that a job needs no second Node start to get them (~0.1 s). Run as
// `node bin/rdpipe.js`, they are strings and comments, and server/src/cli/start.ts restarts where needed.
// Then the CLI's bundle, compiled from its V8 code cache (see server/src/loader/code-cache.ts), once the
// process is set up for its command (server/src/cli/start.ts: it may start again, and start workers).
const path = require("node:path");
const dist = path.join(__dirname, "..", "dist");
const workers = require(path.join(dist, "cli-start.js")).startProcess(process.argv);
const loader = require(path.join(dist, "code-cache.js"));
loader.startWorkerThreads(path.join(dist, "worker.js"), workers);
loader.requireCached(path.join(dist, "cli.js"));
