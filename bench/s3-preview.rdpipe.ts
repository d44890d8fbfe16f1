// The S3 preview bench's pipeline: a read of small Parquet files on S3 (the accelerated path, or the
// fallback of a few blocks when RDPIPE_BENCH_FALLBACK is set).
import * as rd from "rdpipe";

const filesystem = new rd.S3FileSystem({ endpoint: process.env.RDPIPE_BENCH_S3!, region: "us-east-1" });
const fallback = process.env.RDPIPE_BENCH_FALLBACK ? { overrideNumBlocks: rd.DataContext.getCurrent().cpuSlots() * 2 } : {};

export default rd.readParquet(process.env.RDPIPE_BENCH_IN!, { filesystem, ...fallback });
