#!/usr/bin/env node
// The CLI's bundle, compiled from its V8 code cache (see server/src/loader/code-cache.ts).
const path = require("node:path");
require("../dist/engine-malloc.js").setUpProcess(process.argv);
require("../dist/code-cache.js").requireCached(path.join(__dirname, "..", "dist", "cli.js"));
