// Test certificates made with the openssl CLI: a cluster CA and certificates it signs (with IP SANs
// where a name is checked), as README's cluster section makes them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { TlsFiles } from "../server/src/cluster";

function openssl(dir: string, args: string[]): void {
  const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (result.error) assert.fail(`the openssl CLI is needed to make the test certificates and is missing (${result.error.message}): apt-get install openssl (scripts/test-setup.sh installs it)`);
  assert.equal(result.status, 0, `openssl ${args.join(" ")}: ${result.stderr}`);
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA: NAME.pem and NAME.key in dir. */
export function makeCa(dir: string, name: string): void {
  openssl(dir, ["req", "-x509", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name}`]);
}

/** A certificate signed by `ca` (with IP SANs when given): the files of this end, with `trust` as the CA it checks the other end against. */
export function makeCert(dir: string, name: string, ca: string, trust: string, ip?: string): TlsFiles {
  openssl(dir, ["req", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
  const ext = ip ? ["-extfile", path.join(dir, `${name}.ext`)] : [];
  if (ip) fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=IP:${ip}\n`);
  openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", ...ext]);
  return { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`), caFile: path.join(dir, `${trust}.pem`) };
}

export const tlsArgs = (files: TlsFiles) => ["--tls-cert", files.certFile, "--tls-key", files.keyFile, "--tls-ca", files.caFile];

