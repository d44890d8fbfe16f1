// Preload for test/allocator.test.ts: the koffi package cannot be found, as where it is not installed
// (the VSIX's bundled server does not ship it).
const Module = require("node:module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "koffi") throw Object.assign(new Error("Cannot find module 'koffi' (hidden by test/hide-koffi.cjs)"), { code: "MODULE_NOT_FOUND" });
  return resolve.call(this, request, ...rest);
};
