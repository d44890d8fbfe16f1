// Generates the quickstart's input: 200,000 synthetic product reviews as Parquet files under
// samples/data/reviews. It is itself a pipeline: range → map → write.
import * as rd from "rdpipe";

const PRODUCTS = ["kettle", "toaster", "blender", "lamp", "desk", "chair", "headphones", "backpack"];
const PHRASES = [
  "works great", "stopped working after a week", "excellent value", "terrible support",
  "does the job", "love it", "would not buy again", "arrived broken", "better than expected", "just okay",
];

export default rd
  .range(200_000, { overrideNumBlocks: 8 })
  .map((row) => {
    const id = row.id as number;
    const phrase = PHRASES[(id * 7) % PHRASES.length];
    return {
      id,
      product: PRODUCTS[id % PRODUCTS.length],
      text: `  ${phrase.toUpperCase()}: ${PRODUCTS[(id >> 3) % PRODUCTS.length]} #${id}  `,
      stars: (id % 5) + 1,
      price: Math.round(((id * 37) % 20000) + 99) / 100,
    };
  })
  .writeParquet("data/reviews", { mode: "overwrite" });
