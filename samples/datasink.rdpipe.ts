// Writes squares through a user-defined Datasink (samples/jsonl-datasink.ts).
// Run it with `npx rdpipe run samples/datasink.rdpipe.ts`; it writes samples/out/squares-jsonl.
import path from "node:path";
import * as rd from "rdpipe";
import { JsonLinesDatasink } from "./jsonl-datasink";

export default rd
  .range(10_000, { overrideNumBlocks: 4 })
  .map((row) => ({ id: row.id, square: Number(row.id) ** 2 }))
  .writeDatasink(new JsonLinesDatasink(path.join(__dirname, "out", "squares-jsonl")));
