// The layering of ARCHITECTURE.md, checked with dependency-cruiser and .dependency-cruiser.cjs.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "..");
const CONFIG = path.join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = path.join(ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");

interface Violation { from: string; to: string; rule: { name: string }; cycle?: { name: string }[] }

/** dependency-cruiser's violations for these folders, cruised from cwd with the project's rules. */
async function violations(cwd: string, folders: string[]): Promise<Violation[]> {
  const args = [DEPCRUISE, ...folders, "--config", CONFIG, "--output-type", "json"];
  // It exits with the number of errors, so a non-zero exit with a report on stdout is an answer, not a failure.
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd, maxBuffer: 64 * 1024 * 1024 })
    .catch((e: { stdout?: string; stderr?: string }) => {
      if (!e.stdout) throw new Error(`dependency-cruiser did not run: ${e.stderr ?? e}`);
      return { stdout: e.stdout };
    });
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const describeViolation = (v: Violation) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(" → ")})` : ""}`;

describe("architecture", function () {
  this.timeout(120_000);

  it("has no import that runs upward or in a circle, and clients reach the server only through the contract", async () => {
    const found = await violations(ROOT, ["server/src", "extension/src", "webview/src"]);
    assert.deepEqual(found.map(describeViolation), []);
  });

  it("fails on a deliberate violation of each kind (test/fixtures/layers)", async () => {
    const found = (await violations(path.join(__dirname, "fixtures", "layers"), ["server/src", "extension/src"])).map(describeViolation);
    for (const expected of [
      "no-upward-from-block: server/src/block/index.ts → server/src/exec/index.ts",
      "no-upward-from-contract: server/src/contract/index.ts → server/src/block/index.ts",
      "no-upward-from-plan: server/src/plan/index.ts → server/src/runner/index.ts",
      "entries-are-not-imported-by-the-engine: server/src/plan/index.ts → server/src/runner/index.ts",
      "clients-use-the-contract: extension/src/panel.ts → server/src/exec/index.ts",
    ]) assert.ok(found.includes(expected), `expected "${expected}" among:\n${found.join("\n")}`);
    assert.ok(found.some((v) => v.startsWith("no-circular: server/src/io/")), `expected a circle in io/ among:\n${found.join("\n")}`);
  });
});
