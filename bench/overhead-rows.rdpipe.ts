// The overhead bench's row job: readParquet → map(r => ({ ...r, total: r.price × r.qty })) → writeParquet.
import * as rd from "rdpipe";
import { addTotalRow } from "./row-udf";

export default rd.readParquet(process.env.RDPIPE_BENCH_IN!.split(","))
  .map(addTotalRow)
  .writeParquet(process.env.RDPIPE_BENCH_OUT!, { mode: "overwrite" });
