// Property tests (fast-check) for null and type handling: whatever rows row UDFs, batch UDFs, fromItems,
// readJson and readCsv are given, a missing, undefined or null value reads back as null and a present one
// reads back equal (also through writeParquet → readParquet); blocks of different types either cast by
// the documented lossless rule or fail naming the column and both types.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import * as rd from "../server/src/api";
import { tempDir } from "./helpers";

type Kind = "number" | "bigint" | "boolean" | "string" | "date";
/** A value as a test record holds it: absent (no key), undefined, null, or present. */
type Cell = { state: "absent" } | { state: "undefined" } | { state: "null" } | { state: "present"; value: unknown };

const COLUMNS: Kind[] = ["number", "bigint", "boolean", "string", "date"];
const NAMES = ["n", "i", "b", "s", "d"];

const present = (kind: Kind): fc.Arbitrary<unknown> => {
  switch (kind) {
    case "number": return fc.double({ min: -1e15, max: 1e15, noNaN: true }).map((v) => (Object.is(v, -0) ? 0 : v));
    case "bigint": return fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n });
    case "boolean": return fc.boolean();
    case "string": return fc.string({ minLength: 1, maxLength: 12 }).map((s) => `x${s}`);
    case "date": return fc.integer({ min: 0, max: 4_000_000_000_000 });
  }
};

const cell = (kind: Kind, states: Cell["state"][]): fc.Arbitrary<Cell> => fc.oneof(
  ...states.filter((s) => s !== "present").map((state) => fc.constant({ state } as Cell)),
  present(kind).map((value): Cell => ({ state: "present", value })),
);

/**
 * Rows of cells for the first `kinds.length` columns. The first row has every value: the first block
 * fixes the dataset's types, and a column null in all of it would be fixed as text (README).
 */
const records = (kinds: Kind[], states: Cell["state"][], maxRows = 30) => fc.tuple(
  fc.tuple(...kinds.map((k) => cell(k, ["present"]))),
  fc.array(fc.tuple(...kinds.map((k) => cell(k, states))), { maxLength: maxRows }),
).map(([first, rest]) => [first, ...rest]);

/** What rows should read back as: null for every value that is not present; no column for a key no row has. */
function expectedRows(rows: Cell[][], kinds: Kind[]): rd.Row[] {
  const keys = kinds.map((_, k) => rows.some((cells) => cells[k].state !== "absent"));
  return rows.map((cells) => Object.fromEntries(Object.entries(expectedRow(cells, kinds)).filter((_, k) => keys[k])));
}

function expectedRow(cells: Cell[], kinds: Kind[]): rd.Row {
  const row: rd.Row = {};
  cells.forEach((c, k) => {
    const value = c.state === "present" ? c.value : null;
    // Timestamps read back as epoch milliseconds.
    row[NAMES[k]] = value === null ? null : kinds[k] === "bigint" ? normalizeInt(value as bigint) : value;
  });
  return row;
}

/** Int64 values read back as numbers when they are exact, as bigints otherwise. */
const normalizeInt = (v: bigint) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/** The encoding a UDF decodes: it runs in a worker and closes over nothing, so the records travel as JSON in a column. */
const encode = (cells: Cell[], kinds: Kind[]) => JSON.stringify(cells.map((c, k) =>
  [NAMES[k], c.state, c.state === "present" ? (kinds[k] === "bigint" ? String(c.value) : c.value) : null, kinds[k]]));

function sortById<T extends rd.Row>(rows: T[]): T[] {
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}

function comparable(rows: rd.Row[]): rd.Row[] {
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== "seq")));
}

describe("properties: nulls and types through UDFs and readers", function () {
  this.timeout(90_000);
  let dir: string;
  let n = 0;
  before(() => { dir = tempDir("rdpipe-props-"); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    rd.DataContext.reset();
    rd.DataContext.getCurrent().resourceLimits.cpu = 2;
  });

  const allStates: Cell["state"][] = ["absent", "undefined", "null", "present"];

  /** The dataset's rows written to Parquet and read back, in input order, without the order column. */
  const throughParquet = async (ds: rd.Dataset) => {
    const out = path.join(dir, `out-${n++}`);
    await ds.writeParquet(out).run();
    return comparable(sortById(await rd.readParquet(out).takeAll()));
  };

  it("fromItems and a row UDF: missing, undefined and null read back as null; present values as given", async () => {
    // One task at a time: the first block (whose first row has every key) is the first to arrive. A key
    // absent from every row of the first block to arrive is no column of the dataset (README).
    rd.DataContext.getCurrent().resourceLimits.cpu = 1;
    await fc.assert(fc.asyncProperty(records(COLUMNS, allStates), async (rows) => {
      const expected = expectedRows(rows, COLUMNS);
      const items = rows.map((cells) => Object.fromEntries(cells.flatMap((c, k): [string, unknown][] => {
        if (c.state === "absent") return [];
        const value = c.state === "present" ? (COLUMNS[k] === "date" ? new Date(c.value as number) : c.value) : c.state === "null" ? null : undefined;
        return [[NAMES[k], value]];
      })));
      const fromItems = await rd.fromItems(items, { overrideNumBlocks: 3 }).takeAll();
      assert.deepEqual(fromItems, expected);
      for (const row of fromItems) for (const value of Object.values(row)) assert.ok(!Number.isNaN(value));

      const encoded = rd.fromItems(rows.map((cells, seq) => ({ seq, j: encode(cells, COLUMNS) })), { overrideNumBlocks: 2 });
      const mapped = sortById(await encoded.map(function decode(r) {
        const out: Record<string, unknown> = { seq: r.seq };
        for (const [k, state, v, kind] of JSON.parse(r.j as string) as [string, string, unknown, string][]) {
          if (state === "absent") continue;
          out[k] = state === "undefined" ? undefined : state === "null" ? null : kind === "bigint" ? BigInt(v as string) : kind === "date" ? new Date(v as number) : v;
        }
        return out;
      }).takeAll());
      assert.deepEqual(comparable(mapped), expected, "every block has every column a row has, in the first block's order");
    }), { numRuns: 25 });
  });

  it("batch UDFs in the rows and columns formats: the same, through writeParquet → readParquet", async () => {
    rd.DataContext.getCurrent().resourceLimits.cpu = 1; // as above
    await fc.assert(fc.asyncProperty(records(COLUMNS, allStates, 20), fc.constantFrom("rows", "columns"), async (rows, format) => {
      const expected = expectedRows(rows, COLUMNS);
      const source = rd.fromItems(rows.map((cells, seq) => ({ seq, j: encode(cells, COLUMNS) })), { overrideNumBlocks: 2 });
      const decoded = format === "rows"
        ? source.mapBatches(function decodeRows(batch: rd.Row[]) {
          return batch.map((r) => {
            const o: Record<string, unknown> = { seq: r.seq };
            for (const [k, state, v, kind] of JSON.parse(r.j as string) as [string, string, unknown, string][]) {
              if (state !== "absent") o[k] = state === "undefined" ? undefined : state === "null" ? null : kind === "bigint" ? BigInt(v as string) : kind === "date" ? new Date(v as number) : v;
            }
            return o;
          });
        }, { batchFormat: "rows" })
        : source.mapBatches(function decodeColumns(batch: rd.Columns) {
          const seqs = batch.seq as ArrayLike<unknown>;
          const texts = batch.j as string[];
          const columns: Record<string, unknown[]> = { seq: Array.from(seqs) };
          texts.forEach((text, i) => {
            for (const [k, state, v, kind] of JSON.parse(text) as [string, string, unknown, string][]) {
              columns[k] ??= new Array(texts.length); // holes: never set where the row lacks the key
              if (state !== "absent") columns[k][i] = state === "undefined" ? undefined : state === "null" ? null : kind === "bigint" ? BigInt(v as string) : kind === "date" ? new Date(v as number) : v;
            }
          });
          return columns;
        });
      assert.deepEqual(await throughParquet(decoded), expected);
    }), { numRuns: 12 });
  });

  it("readJson → writeParquet → readParquet: a key missing or null reads back null, others equal", async () => {
    const kinds: Kind[] = ["number", "boolean", "string"];
    await fc.assert(fc.asyncProperty(records(kinds, ["absent", "null", "present"]), async (rows) => {
      const file = path.join(dir, `in-${n++}.jsonl`);
      fs.writeFileSync(file, rows.map((cells, seq) => JSON.stringify({
        seq, ...Object.fromEntries(cells.flatMap((c, k) => (c.state === "absent" ? [] : [[NAMES[k], c.state === "present" ? c.value : null]]))),
      })).join("\n"));
      // A key no line has is no column; every other column reads back with nulls where a line lacks it.
      assert.deepEqual(await throughParquet(rd.readJson(file)), expectedRows(rows, kinds));
    }), { numRuns: 15 });
  });

  it("readCsv → writeParquet → readParquet: an empty field reads back null, others equal", async () => {
    const kinds: Kind[] = ["number", "boolean", "string"];
    const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;
    await fc.assert(fc.asyncProperty(records(kinds, ["null", "present"]), async (rows) => {
      const file = path.join(dir, `in-${n++}.csv`);
      const lines = [["seq", ...NAMES.slice(0, kinds.length)].join(","),
        ...rows.map((cells, seq) => [String(seq), ...cells.map((c) => (c.state === "present" ? quote(String(c.value)) : ""))].join(","))];
      fs.writeFileSync(file, lines.join("\n") + "\n");
      assert.deepEqual(await throughParquet(rd.readCsv(file)), expectedRows(rows, kinds));
    }), { numRuns: 15 });
  });

  it("blocks of two types: cast when the documented rule says lossless, else an error naming the column and both types", async () => {
    type Drift = "int" | "fraction" | "whole" | "string" | "bool" | "null";
    const ARROW: Record<Drift, string> = { int: "Int64", fraction: "Float64", whole: "Float64", string: "Utf8", bool: "Bool", null: "Null" };
    // The rule: the same type, an all-null block either side, an int as a float, a whole float as an int.
    const castable = (first: Drift, later: Drift) => ARROW[first] === ARROW[later] || later === "null" || first === "null"
      || (first === "int" && later === "whole") || (ARROW[first] === "Float64" && later === "int");
    const drifts: Drift[] = ["int", "fraction", "whole", "string", "bool", "null"];
    await fc.assert(fc.asyncProperty(fc.constantFrom(...drifts), fc.constantFrom(...drifts), async (first, later) => {
      rd.DataContext.getCurrent().resourceLimits.cpu = 1; // blocks arrive in order: the first block is the first fixed
      const items = [0, 1, 2, 3].map((seq) => ({ seq, kind: seq < 2 ? first : later }));
      const ds = rd.fromItems(items, { overrideNumBlocks: 2 }).map(function drifting(r) {
        const seq = r.seq as number;
        const value = { int: BigInt(seq), fraction: seq + 0.5, whole: seq, string: `s${seq}`, bool: seq % 2 === 0, null: null }[r.kind as string];
        return { seq, x: value };
      });
      const result = await ds.takeAll().then((rows) => rows, (e: Error) => e);
      if (castable(first, later)) {
        assert.ok(!(result instanceof Error), `${first} then ${later}: ${String(result)}`);
        const values = sortById(result).map((r) => r.x);
        const want = [0, 1, 2, 3].map((seq) => ({ int: seq, fraction: seq + 0.5, whole: seq, string: `s${seq}`, bool: seq % 2 === 0, null: null })[seq < 2 ? first : later]);
        assert.deepEqual(values, want);
      } else {
        assert.ok(result instanceof Error, `${first} then ${later} must fail`);
        assert.match(result.message, /Map\(drifting\)/);
        assert.match(result.message, /column 'x'/);
        assert.ok(result.message.includes(ARROW[first]) && result.message.includes(ARROW[later]), result.message);
      }
    }), { numRuns: 36 });
  });
});
