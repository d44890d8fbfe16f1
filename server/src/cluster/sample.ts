// randomSample in a worker: each row is kept with probability `fraction`, decided by a hash of the seed
// and the row's input position (its file and row), so a seeded sample is the same whichever worker reads
// which block, and it streams: no shuffle, no barrier.
import { type Block, hashText, mix32, takeRows } from "../block";
import type { TransformSpec } from "../plan";
import type { BlockOrigin } from "./protocol";

type OriginBlock = { block: Block; origin: BlockOrigin };

export async function* sampleRows(input: AsyncIterable<OriginBlock>, t: Extract<TransformSpec, { kind: "sample" }>): AsyncIterable<OriginBlock> {
  for await (const { block, origin } of input) {
    const base = mix32(t.seed ^ hashText(origin.file ?? ""));
    const keep: number[] = [];
    for (let i = 0; i < block.numRows; i++) {
      const position = origin.rowOffset + i;
      const draw = mix32(base ^ mix32(position >>> 0) ^ mix32(Math.floor(position / 4294967296) + 0x9e3779b9));
      if (draw / 4294967296 < t.fraction) keep.push(i);
    }
    if (keep.length === block.numRows) yield { block, origin };
    else if (keep.length > 0) yield { block: takeRows(block, keep), origin: { ...origin, exact: false } };
  }
}
