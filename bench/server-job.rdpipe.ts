// The server bench's small job: 200k rows through a cheap row UDF and a batch UDF, about a second of work.
import * as rd from "rdpipe";

export default rd.range(200_000)
  .map((row) => ({ id: row.id, v: Math.sqrt(Number(row.id)) }))
  .mapBatches((b: rd.Columns) => ({ ...b, w: Float64Array.from(b.v as Float64Array, (x) => x * 2) }))
  .filter((row) => (row.id as number) % 1000 === 0);
