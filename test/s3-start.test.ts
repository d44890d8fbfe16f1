// Start-up on S3 (issue 21): a preview of many files makes only the requests its first rows need, and
// S3 reads go without the AWS SDK (signed by s3-http.ts) where the credentials are static — against a
// real s3rver, which checks every signature.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { SignatureV4 } from "@smithy/signature-v4";
import { S3FileSystem } from "../server/src/io/fs";
import { signedHeaders, uriEncode } from "../server/src/io/fs/s3-http";
import { startCountingProxy, type CountingProxy } from "./counting-proxy";
import { REPO, runCliAsync, tempDir, writePipeline } from "./helpers";
import { startS3Server, type S3Server } from "./s3server";

const FILES = 120;

/** The SDK signer's hash, from node:crypto (an HMAC when given a secret). */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) { this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret)); }
  update(data: string | ArrayBuffer | ArrayBufferView): void { this.hash.update(bytes(data)); }
  async digest(): Promise<Uint8Array> { return new Uint8Array(this.hash.digest()); }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string") return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}


describe("S3 start-up: requests before the first rows, reads without the SDK", function () {
  this.timeout(180_000);
  let server: S3Server;
  let proxy: CountingProxy;
  let dir: string;
  let s3: S3FileSystem;

  before(async () => {
    server = await startS3Server(["data"]);
    const target = new URL(server.endpoint);
    proxy = await startCountingProxy({ host: target.hostname, port: Number(target.port) });
    dir = tempDir();
    s3 = new S3FileSystem({ endpoint: server.endpoint, region: "us-east-1" });
    // More files than the listing's first page (100 keys) holds.
    await rd.range(FILES * 10, { overrideNumBlocks: FILES }).writeParquet("s3://data/many", { filesystem: s3 }).run();
  });

  after(async () => {
    await proxy?.close();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("rdpipe run --preview 1 of many files, with two workers free, asks S3 three things: HEAD and the first listing page at once, then the first file", async () => {
    const file = writePipeline(dir, "many.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.readParquet("s3://data/many", { filesystem: new rd.S3FileSystem({ endpoint: ${JSON.stringify(proxy.endpoint)}, region: "us-east-1" }) });
`);
    proxy.requests.length = 0;
    const run = await runCliAsync(["run", file, "--preview", "1", "--workers", "2", "--quiet"], { RDPIPE_CACHE_DIR: tempDir("rdpipe-empty-cache-") });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\{id: \d+n?\}\n\(1 row shown\)/);
    const requests = [...proxy.requests].sort();
    assert.equal(requests.length, 3, `requests: ${requests.join(", ")}`);
    assert.match(requests[0], /^GET \/data\/\?list-type=2&max-keys=100&prefix=many%2F$/);
    assert.match(requests[1], /^GET \/data\/many\/[^/]+\.parquet/);
    assert.match(requests[2], /^HEAD \/data\/many$/);
  });

  it("a limit beyond the first file's rows still gets every row it asks for, from distinct files", async () => {
    const rows = await rd.readParquet("s3://data/many", { filesystem: s3 }).take(250);
    assert.equal(rows.length, 250);
    assert.equal(new Set(rows.map((r) => Number(r.id))).size, 250);
  });

  it("lists and reads keys with spaces, '+', '&', '=' and non-ASCII characters without loading the AWS SDK, as the SDK reads them (same ETags)", async () => {
    const keys = ["odd/a b+c=d&e.bin", "odd/é ü/ß.bin", "odd/(x)!*'~.bin"];
    for (const [i, key] of keys.entries()) await s3.write(`s3://data/${key}`, [Uint8Array.from({ length: 50 }, (_, j) => i * 50 + j)]);
    const script = path.join(dir, "no-sdk.ts");
    fs.writeFileSync(script, `
import { S3FileSystem } from ${JSON.stringify(path.join(REPO, "server/src/io/fs"))};
(async () => {
  // Without a region (AWS_REGION gives it to the SDK) only the SDK can sign.
  const s3 = new S3FileSystem({ endpoint: ${JSON.stringify(server.endpoint)}, listPageSize: 2, ...(process.argv[2] === "sdk" ? {} : { region: "us-east-1" }) });
  const files = [];
  for await (const page of s3.listDirectory("s3://data/odd")) files.push(...page.files);
  const bytes = [];
  for (const f of files) bytes.push([...(await s3.readRange(f.path, 10, 13))]);
  const sdk = Object.keys(require.cache).some((m) => m.includes("@aws-sdk"));
  console.log(JSON.stringify({ files: files.map((f) => [f.path, f.size, f.etag]), bytes, stat: await s3.stat("s3://data/odd/é ü/ß.bin"), missing: await s3.stat("s3://data/odd/none"), sdk }));
})();
`);
    const read = (path: "static" | "sdk") => {
      const child = spawnSync(process.execPath, ["-r", "tsx/cjs", script, path], {
        cwd: REPO, encoding: "utf8", env: { ...process.env, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" },
      });
      assert.equal(child.status, 0, child.stderr);
      return JSON.parse(child.stdout) as { files: [string, number, string][]; bytes: number[][]; stat: { size: number; etag: string }; missing: null; sdk: boolean };
    };
    const seen = read("static");
    const sorted = [...keys].sort();
    assert.deepEqual(seen.files.map(([file, size]) => [file, size]), sorted.map((key) => [`s3://data/${key}`, 50]));
    assert.ok(seen.files.every(([, , etag]) => /^"[0-9a-f]{32}"$/.test(etag)), JSON.stringify(seen.files));
    assert.deepEqual(seen.bytes, sorted.map((key) => [10, 11, 12].map((j) => keys.indexOf(key) * 50 + j)));
    assert.equal(seen.stat.size, 50);
    assert.equal(seen.missing, null);
    assert.equal(seen.sdk, false, "the AWS SDK was loaded for reads");
    const bySdk = read("sdk");
    assert.equal(bySdk.sdk, true);
    assert.deepEqual({ ...bySdk, sdk: false }, seen, "the SDK lists, stats and reads the same (the metadata cache keys on the ETags)");
  });

  // s3rver does not check SigV4 signatures: the signing is checked against AWS's documented examples and the SDK's signer.
  const example = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
  const exampleDate = new Date("2013-05-24T00:00:00Z");

  it("signs as AWS's SigV4 example for S3 ListObjects does (a query, no body)", () => {
    const list = signedHeaders({ method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/", query: "max-keys=2&prefix=J", headers: {} }, example, "us-east-1", exampleDate);
    assert.match(list.authorization, /SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/);
  });

  // aws4 leaves `range` out of the signed headers (SigV4 allows it; S3 accepts it), so the SDK is told to as well.
  it("signs ranged GETs, keys with reserved and non-ASCII characters, and session tokens, as the AWS SDK's signer does", async () => {
    const signer = new SignatureV4({ service: "s3", region: "eu-west-1", credentials: { ...example, sessionToken: "token/+=" }, sha256: Sha256, uriEscapePath: false, applyChecksum: true });
    for (const key of ["odd/a b+c=d&e.bin", "odd/é ü/ß.bin", "odd/(x)!*'~.bin"]) {
      const path = `/bucket/${uriEncode(key, true)}`;
      const query = { "list-type": "2", prefix: key, "continuation-token": "a+b/c=" };
      const queryText = Object.keys(query).sort().map((k) => `${uriEncode(k, false)}=${uriEncode(query[k as keyof typeof query], false)}`).join("&");
      const ours = signedHeaders({ method: "GET", host: "127.0.0.1:9000", path, query: queryText, headers: { range: "bytes=1-2" } }, { ...example, sessionToken: "token/+=" }, "eu-west-1", exampleDate);
      const theirs = await signer.sign({
        method: "GET", protocol: "http:", hostname: "127.0.0.1", port: 9000, path, query,
        headers: { host: "127.0.0.1:9000", range: "bytes=1-2", "x-amz-content-sha256": ours["x-amz-content-sha256"] },
      }, { signingDate: exampleDate, unsignableHeaders: new Set(["range"]) });
      assert.equal(ours.authorization, theirs.headers.authorization, key);
    }
  });
});
