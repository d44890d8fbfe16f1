// mapGroups' hot code keeps its optimized code across the full collections a worker forces after a
// task's output blocks: V8 drops optimized code whose objects' maps no live object has any more ("weak
// objects"), which made every partition compile the key table, the group loop and the result gathering
// again (a quarter of the narrow bench job's CPU). Run in a child process under --trace-opt/--trace-deopt.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";

const REPO = path.resolve(__dirname, "..");

describe("mapGroups' optimized code across forced collections", function () {
  this.timeout(120_000);

  it("numbers keys, calls the UDF and gathers results in optimized code that no forced collection drops", () => {
    const trace = execFileSync(process.execPath, ["--expose-gc", "--trace-opt", "--trace-deopt", "-r", "tsx/cjs", path.join(REPO, "test/map-groups-jit-run.ts")], {
      cwd: REPO, encoding: "utf8", maxBuffer: 256 << 20, env: { ...process.env, TSX_DISABLE_CACHE: "1" },
    });
    assert.equal(trace.match(/^partition \d done$/gm)?.length, 6, "every partition ran");
    const hot = ["wordIds", "rehash", "callGroups", "addColumns"];
    // Optimized before the first collection (else nothing could be dropped)...
    const first = trace.slice(0, trace.indexOf("partition 0 done"));
    for (const name of ["wordIds", "callGroups", "addColumns"]) assert.match(first, new RegExp(`completed optimizing [^\\n]*<JSFunction ${name} `), `${name} is optimized in the first partition`);
    // ...and not dropped again at each partition's collection for a map that died (once or twice may be:
    // code specialized to an early partition's closures).
    const dropped = [...trace.matchAll(/<SharedFunctionInfo (\w+)>\) \(opt id \d+\) for deoptimization, reason: weak objects/g)].map((m) => m[1]);
    for (const name of hot) assert.ok(dropped.filter((d) => d === name).length <= 2, `${name} dropped ${dropped.filter((d) => d === name).length} times in 6 collections`);
  });
});
