// Loaded into the s3rver child (node -r): s3rver's file store removes a key's folder once a DELETE leaves it
// empty, while a concurrent PUT into the same folder may already have made it and be opening its file there;
// the PUT's write stream then fails with ENOENT, unhandled, and the whole server exits. Real S3 has no
// folders, so the test server keeps them (listings are built from files, so empty folders list nothing).
"use strict";
const path = require("node:path");
const fs = require("node:fs/promises");
const FilesystemStore = require(path.join(__dirname, "../node_modules/s3rver/lib/stores/filesystem.js"));

FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(["object", "object.md5", "metadata.json"].map((resource) =>
    fs.unlink(this.getResourcePath(bucket, key, resource)).catch((err) => { if (err.code !== "ENOENT") throw err; })));
};
