// The shuffle bench's jobs, one per run (`rdpipe run bench/shuffle.rdpipe.ts`), chosen and located by
// environment variables that bench/shuffle.ts sets: the all-to-all operators over 8M rows.
import * as rd from "rdpipe";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`set ${name} (bench/shuffle.ts does)`);
  return value;
};

const facts = () => rd.readParquet(env("RDPIPE_BENCH_SHUFFLE_INPUT"));
const dimension = () => rd.readParquet(env("RDPIPE_BENCH_SHUFFLE_DIM"));

/** One row per group: its key, row count and largest v (what DuckDB's GROUP BY computes to compare). */
function summarizeGroup(batch: rd.Batch): rd.Columns {
  const group = batch as rd.Columns;
  const v = group.v as Float64Array;
  let max = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > max) max = v[i];
  return { key: [Number((group.key as BigInt64Array)[0])], n: [v.length], vmax: [max] };
}

/** summarizeGroup's figures and two that read the other columns: no column can be left out of the read or the exchange. */
function summarizeGroupAllColumns(batch: rd.Batch): rd.Columns {
  const group = batch as rd.Columns;
  const ids = group.id as BigInt64Array, s = group.s as string[];
  let idMax = ids[0], sLength = 0;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] > idMax) idMax = ids[i];
    sLength += s[i].length;
  }
  return { ...summarizeGroup(group), idmax: [Number(idMax)], slen: [sLength] };
}

const jobs: Record<string, () => rd.Dataset> = {
  sort: () => facts().sort("key"),
  sortNodes: () => facts().sort("key"), // run on --nodes 2 by bench/shuffle.ts
  groupBy: () => facts().groupBy("key").aggregate(rd.Count(), rd.Sum("v")),
  mapGroups: () => facts().groupBy("key").mapGroups(summarizeGroup),
  mapGroupsAllColumns: () => facts().groupBy("key").mapGroups(summarizeGroupAllColumns),
  innerJoin: () => facts().join(dimension(), { joinType: "inner", on: "key" }),
  leftOuterJoin: () => facts().join(dimension(), { joinType: "left_outer", on: "key" }),
};

const job = jobs[env("RDPIPE_BENCH_SHUFFLE_JOB")];
if (!job) throw new Error(`RDPIPE_BENCH_SHUFFLE_JOB must be one of ${Object.keys(jobs).join(", ")}`);

export default job().writeParquet(env("RDPIPE_BENCH_SHUFFLE_OUT"), { mode: "overwrite" });
