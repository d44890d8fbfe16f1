// The typed preview a run without a write returns (server/src/runner/preview.ts): JSON-safe cells
// with their Arrow fields and the per-column min/max/nulls the panel's grid shows, on real runs.
import assert from "node:assert/strict";
import * as rd from "../server/src/api";
import { runDataset } from "../server/src/runner/outcome";
import { previewLines } from "../server/src/runner/preview";

describe("job preview: typed rows and the column summary", () => {
  beforeEach(() => rd.DataContext.reset());

  it("computes min, max and nulls per column over the preview rows, exactly for int64 past 2^53", async () => {
    const big = 2n ** 60n;
    const items = [
      { id: 5n, score: 2.5, name: "m", flag: true, empty: null, tags: [1, 2] },
      { id: -big, score: null, name: "zz", flag: false, empty: null, tags: null },
      { id: big + 1n, score: -0.5, name: null, flag: null, empty: null, tags: [3] },
      { id: 7n, score: 100, name: "a", flag: true, empty: null, tags: [] },
    ];
    const result = await runDataset(rd.fromItems(items, { overrideNumBlocks: 2 }), { preview: 100 });
    const preview = result.preview!;
    assert.deepEqual(preview.fields.map((f) => [f.name, f.type]), [["id", "Int64"], ["score", "Float64"], ["name", "Utf8"], ["flag", "Bool"], ["empty", "Null"], ["tags", "List<Float64>"]]);
    assert.deepEqual(preview.summary, [
      { min: String(-big), max: String(big + 1n), nulls: 0 },
      { min: -0.5, max: 100, nulls: 1 },
      { min: "a", max: "zz", nulls: 1 },
      { min: false, max: true, nulls: 1 },
      { nulls: 4 },
      { nulls: 1 },
    ]);
    const byId = new Map(preview.rows.map((row) => [row[0], row]));
    assert.deepEqual(byId.get(5), [5, 2.5, "m", true, null, [1, 2]]);
    assert.deepEqual(byId.get(String(big + 1n)), [String(big + 1n), -0.5, null, null, null, [3]], "an int64 JSON cannot hold is its decimal string");
    assert.equal(preview.rows.length, 4);
    assert.equal("previewRows" in result, false, "the rows are sent once, typed");
    const lines = previewLines(preview);
    assert.equal(lines[preview.rows.indexOf(byId.get(5)!)], '{id: 5, score: 2.5, name: "m", flag: true, empty: null, tags: [1,2]}');
    assert.equal(lines[preview.rows.indexOf(byId.get(String(big + 1n))!)], `{id: ${big + 1n}n, score: -0.5, name: null, flag: null, empty: null, tags: [3]}`,
      "the CLI prints an int64 JSON cannot hold as a bigint, as formatRow does");
    assert.deepEqual(JSON.parse(JSON.stringify(preview)), preview, "the preview survives JSON unchanged");
  });

  it("keeps NaN and infinities out of min/max and carries them as strings", async () => {
    const result = await runDataset(rd.fromItems([{ x: Number.NaN }, { x: 3 }, { x: Number.POSITIVE_INFINITY }, { x: -2 }]), { preview: 10 });
    const preview = result.preview!;
    assert.deepEqual(preview.summary, [{ min: -2, max: "Infinity", nulls: 0 }]);
    assert.deepEqual(preview.rows.map((row) => row[0]).sort(), ["Infinity", "NaN", -2, 3].sort());
    assert.deepEqual(previewLines(preview).sort(), ["{x: -2}", "{x: 3}", "{x: Infinity}", "{x: NaN}"], "printed bare, as numbers");
  });

  it("summarizes only the rows the preview returns", async () => {
    const result = await runDataset(rd.range(1000, { overrideNumBlocks: 1 }), { preview: 10 });
    assert.equal(result.rowsOut, 10);
    assert.deepEqual(result.preview!.summary, [{ min: 0, max: 9, nulls: 0 }]);
    assert.deepEqual(result.preview!.rows.map((row) => row[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
