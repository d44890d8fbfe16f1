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
    assert.equal(trace.match(/^partition \d+ done$/gm)?.length, 12, "every partition ran");
    // At most this many drops in 12 collections: the group loop holds closures made per partition, so its code is dropped now and then.
    const hot: Record<string, number> = { wordIds: 3, rehash: 3, addColumns: 3, callGroups: 8 };
    // Optimized in the first half (else nothing could be dropped; on a busy machine the background compiler may finish late)...
    const firstHalf = trace.slice(0, trace.indexOf("partition 5 done"));
    for (const name of ["wordIds", "callGroups", "addColumns"]) assert.match(firstHalf, new RegExp(`completed optimizing [^\\n]*<JSFunction ${name} `), `${name} is optimized in the first six partitions`);
    // ...and not dropped again at each of the 12 partitions' collections for a map that died (a few times may be:
    // code specialized to an early partition's closures, or compiled late on a busy machine; before the fix, every time).
    const dropped = [...trace.matchAll(/<SharedFunctionInfo (\w+)>\) \(opt id \d+\) for deoptimization, reason: weak objects/g)].map((m) => m[1]);
    for (const [name, most] of Object.entries(hot)) assert.ok(dropped.filter((d) => d === name).length <= most, `${name} dropped ${dropped.filter((d) => d === name).length} times in 12 collections`);
  });
});
