// The scaling bench's pipeline: a CPU-bound row UDF over rd.range(n). Loaded with loadPipeline, so
// the UDF may call a module-level helper (workers evaluate this same file to find it).
import * as rd from "rdpipe";
import { burn } from "./burn";

const rows = Number(process.env.RDPIPE_BENCH_SCALING_ROWS ?? "10000");
/** Read tasks; by default the engine picks. The node-loss bench asks for many small ones, to see output arrive steadily. */
const blocks = process.env.RDPIPE_BENCH_SCALING_BLOCKS ? Number(process.env.RDPIPE_BENCH_SCALING_BLOCKS) : undefined;

export default rd.range(rows, { overrideNumBlocks: blocks }).map((row) => ({ id: row.id, v: burn(Number(row.id)) }));
