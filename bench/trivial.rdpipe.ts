// The overhead bench's trivial pipeline: what starting and ending a job costs.
import * as rd from "rdpipe";

export default rd.range(100).map((r) => ({ ...r, twice: Number(r.id) * 2 })).writeJson(process.env.RDPIPE_BENCH_OUT!, { mode: "overwrite" });
