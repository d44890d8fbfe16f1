// Batch embedding into a vector table: sentences are embedded in worker threads and written into a
// Lance dataset, all or nothing. Search it with samples/nearest-lance.rdpipe.ts.
import * as rd from "rdpipe";
import { embed } from "./hash-embedder";

const SENTENCES = [
  "the cat sat on the mat", "a dog barked at the mailman", "stocks fell sharply on monday",
  "the recipe needs two eggs and flour", "rain is expected over the weekend", "the team won the final match",
  "a kitten slept on the warm mat", "interest rates rose again", "bake the bread for forty minutes",
];

export default rd
  .fromItems(SENTENCES.map((text, id) => ({ id, text })))
  .mapBatches((batch: rd.Row[]) => batch.map((row) => ({ ...row, vector: embed(String(row.text)) })), { batchFormat: "rows" })
  .writeLance("out/embeddings.lance", { mode: "overwrite" });
