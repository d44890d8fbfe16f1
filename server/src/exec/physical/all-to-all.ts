import { type Block, blockBytes } from "../../block";
import type { PhysicalOp } from "../../plan";
import { GroupAggregator, repartitionBlocks, shuffleBlocks, sortBlocks } from "../all-to-all";
import { PhysicalOperator, type QueuedBlock, queued } from "./base";

type AllToAll = Extract<PhysicalOp, { kind: "allToAll" }>["op"];

/** A barrier: collects its whole input, then computes (aggregations accumulate as blocks arrive). */
export class AllToAllOperator extends PhysicalOperator {
  private readonly collected: Block[] = [];
  private readonly aggregator?: GroupAggregator;

  constructor(name: string, input: PhysicalOperator, private readonly op: AllToAll) {
    super(name, [input]);
    if (op.kind === "aggregate") this.aggregator = new GroupAggregator(op.keys, op.aggs);
  }

  /** Whether the output's row order depends on the input's (a stable sort's ties, a seeded shuffle, repartition). */
  get keepsInputOrder(): boolean {
    return this.op.kind !== "aggregate";
  }

  protected override onInput(item: QueuedBlock): void {
    if (this.aggregator) this.aggregator.add(item.block);
    else this.collected.push(item.block);
  }

  protected override onAllInputsDone(): void {
    const blocks = this.collected.splice(0);
    const op = this.op;
    const out = op.kind === "aggregate" ? [this.aggregator!.result()]
      : op.kind === "repartition" ? repartitionBlocks(blocks, op.numBlocks)
      : op.kind === "randomShuffle" ? shuffleBlocks(blocks, op.seed)
      : sortBlocks(blocks, op.key, op.descending);
    for (const block of out) this.emit(queued(block));
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.collected.reduce((s, b) => s + blockBytes(b), 0);
  }
}
