// The overhead bench's batch job, run whole-process by `rdpipe run`: readParquet → mapBatches(total = price × qty) → writeParquet.
import * as rd from "rdpipe";

export default rd.readParquet(process.env.RDPIPE_BENCH_IN!)
  .mapBatches((b: rd.Batch) => {
    const cols = b as rd.Columns;
    const price = cols.price as Float64Array;
    const qty = cols.qty as Int32Array;
    const total = new Float64Array(price.length);
    for (let i = 0; i < price.length; i++) total[i] = price[i] * qty[i];
    return { ...cols, total };
  })
  .writeParquet(process.env.RDPIPE_BENCH_OUT!, { mode: "overwrite" });
