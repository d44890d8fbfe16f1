// Splitting a dataset into parts (Ray Data's split, split_at_indices, split_proportionately and
// train_test_split): the dataset is executed once (`rows`) and its rows cut at positions; each part is
// made (`make`: a materialized Dataset) of its rows, in order.
import { Table } from "apache-arrow";
import { type Block, sliceBlock } from "../block";

/** Executes the dataset: all its rows. */
type Rows = () => Promise<Table>;
/** A part from its blocks. */
type Make<D> = (blocks: Block[]) => D;

/** The rows cut at positions `cuts(rows)` (ascending, within 0..rows): one part before each cut and one after the last. */
async function cutAt<D>(rows: Rows, make: Make<D>, cuts: (rows: number) => number[]): Promise<D[]> {
  const all = await rows();
  const ends = [...cuts(all.numRows), all.numRows];
  let start = 0;
  return ends.map((end) => {
    const part = sliceBlock(all, start, end);
    start = end;
    return make(part.batches.map((batch) => new Table(batch)));
  });
}

function checkFractions(method: string, fractions: number[]): void {
  if (!Array.isArray(fractions) || fractions.length === 0 || fractions.some((p) => !(typeof p === "number" && p > 0))) {
    throw new RangeError(`${method}: expected a list of positive proportions, got ${JSON.stringify(fractions)}`);
  }
  const sum = fractions.reduce((a, b) => a + b, 0);
  if (sum >= 1) throw new RangeError(`${method}: the proportions must add up to less than 1 (the last part takes the rest), got ${sum}`);
}

/** n parts of (nearly) equal rows; with `equal`, exactly equal, the rows left over dropped (as Ray Data's). */
export function split<D>(rows: Rows, make: Make<D>, n: number, options: { equal?: boolean } = {}): Promise<D[]> {
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`split: expected a positive number of parts, got ${n}`);
  return cutAt(rows, make, (count) => {
    const base = Math.floor(count / n);
    const extra = options.equal ? 0 : count % n;
    const cuts: number[] = [];
    for (let i = 0, at = 0; i < n - 1; i++) cuts.push((at += base + (i < extra ? 1 : 0)));
    return options.equal ? [...cuts, n * base].slice(0, n) : cuts;
  }).then((parts) => parts.slice(0, n));
}

/** Parts cut at the given row positions: [0, i0), [i0, i1), …, [ik, end). */
export function splitAt<D>(rows: Rows, make: Make<D>, indices: number[]): Promise<D[]> {
  if (!Array.isArray(indices) || indices.some((i, k) => !(Number.isInteger(i) && i >= 0 && (k === 0 || i >= indices[k - 1])))) {
    throw new RangeError(`splitAt: expected ascending non-negative row positions, got ${JSON.stringify(indices)}`);
  }
  return cutAt(rows, make, (count) => indices.map((i) => Math.min(i, count)));
}

/** One part per proportion (of the rows, rounded down) and a last part with the rest. */
export function splitProportionately<D>(rows: Rows, make: Make<D>, proportions: number[]): Promise<D[]> {
  checkFractions("splitProportionately", proportions);
  return cutAt(rows, make, (count) => {
    let sum = 0;
    return proportions.map((p) => Math.floor(count * (sum += p)));
  });
}

/** testSize: the test part's proportion (0 < testSize < 1) or its row count. */
export function checkTestSize(testSize: number): void {
  if (!((testSize > 0 && testSize < 1) || (Number.isInteger(testSize) && testSize >= 1))) {
    throw new RangeError(`trainTestSplit: testSize must be a proportion between 0 and 1 or a positive row count, got ${testSize}`);
  }
}

/** [train, test]: the test part is the last testSize of the rows (a proportion, rounded down, or a row count). */
export async function trainTestSplit<D>(rows: Rows, make: Make<D>, testSize: number): Promise<[D, D]> {
  checkTestSize(testSize);
  const [train, test] = await cutAt(rows, make, (count) => {
    if (testSize >= 1 && testSize > count) throw new RangeError(`trainTestSplit: testSize ${testSize} is more than the dataset's ${count} rows`);
    return [count - (testSize < 1 ? Math.floor(count * testSize) : testSize)];
  });
  return [train, test];
}
