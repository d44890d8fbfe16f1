#!/usr/bin/env node
// The CLI's bundle, compiled from its V8 code cache (see server/src/loader/code-cache.ts), once the
// process is set up for its command (server/src/cli/start.ts: it may start again, and start workers).
const path = require("node:path");
const dist = path.join(__dirname, "..", "dist");
const workers = require(path.join(dist, "cli-start.js")).startProcess(process.argv);
const loader = require(path.join(dist, "code-cache.js"));
loader.startWorkerThreads(path.join(dist, "worker.js"), workers);
loader.requireCached(path.join(dist, "cli.js"));
