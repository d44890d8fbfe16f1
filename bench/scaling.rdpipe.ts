// The scaling bench's pipeline: a CPU-bound row UDF over rd.range(n). Loaded with loadPipeline, so
// the UDF may call a module-level helper (workers evaluate this same file to find it).
import * as rd from "rdpipe";
import { burn } from "./burn";

const rows = Number(process.env.RDPIPE_BENCH_SCALING_ROWS ?? "10000");

export default rd.range(rows).map((row) => ({ id: row.id, v: burn(Number(row.id)) }));
