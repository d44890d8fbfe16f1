// The quickstart: read reviews, clean each row, score batches, keep the positive ones, write Parquet.
// Run it with `npx rdpipe run samples/quickstart.rdpipe.ts` after `samples/make-data.rdpipe.ts`.
import * as rd from "rdpipe";

const POSITIVE = ["great", "excellent", "love", "better", "value"];
const NEGATIVE = ["terrible", "broken", "stopped", "not"];

function normalize(row: rd.Row) {
  return { ...row, text: String(row.text).trim().toLowerCase() };
}

/** A batch UDF: columns in, columns out. */
function scoreSentiment(batch: rd.Columns) {
  const texts = batch.text as string[];
  const stars = batch.stars as Float64Array | number[];
  const sentiment = new Float64Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const words = texts[i].split(/\W+/);
    const lexicon = words.filter((w) => POSITIVE.includes(w)).length - words.filter((w) => NEGATIVE.includes(w)).length;
    sentiment[i] = lexicon + (Number(stars[i]) - 3) / 2;
  }
  return { ...batch, sentiment };
}

export default rd
  .readParquet("data/reviews")
  .map(normalize)
  .mapBatches(scoreSentiment, { batchSize: 4096 })
  .filter((row) => (row.sentiment as number) > 0)
  .writeParquet("out/positive-reviews", { mode: "overwrite" });
