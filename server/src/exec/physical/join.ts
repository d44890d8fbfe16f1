// A join in the driver: the right side is collected and indexed, then each left block is probed as it
// comes (left blocks that come earlier wait); the right side's rows that depend on every probe come last.
import type { Schema } from "apache-arrow";
import { type Block, blockBytes, concatBlocks } from "../../block";
import type { JoinSpec } from "../../plan";
import { HashJoin } from "../all-to-all";
import { OperatorError, PhysicalOperator, type QueuedBlock, queued } from "./base";

const RIGHT = 1;

export class JoinOperator extends PhysicalOperator {
  private right: Block[] = [];
  private readonly waiting: Block[] = [];
  private rightDone = false;
  private join?: HashJoin;
  private leftSchema?: Schema;

  constructor(name: string, inputs: PhysicalOperator[], private readonly spec: JoinSpec) {
    super(name, inputs);
  }

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    if (inputIndex === RIGHT) this.right.push(item.block);
    else if (this.rightDone) this.probe(item.block);
    else this.waiting.push(item.block);
  }

  override markInputDone(inputIndex: number): void {
    if (inputIndex === RIGHT) {
      this.rightDone = true;
      for (const block of this.waiting.splice(0)) this.probe(block);
    }
    super.markInputDone(inputIndex);
  }

  protected override onAllInputsDone(): void {
    this.emitOutput(this.hashJoin().finish());
  }

  private probe(block: Block): void {
    this.leftSchema ??= block.numRows > 0 ? block.schema : undefined;
    if (block.numRows > 0) this.emitOutput(this.hashJoin().probe(block));
  }

  private hashJoin(): HashJoin {
    if (!this.join) {
      try {
        this.join = new HashJoin(this.spec, concatBlocks(this.right), "right", this.leftSchema ?? concatBlocks([]).schema);
      } catch (e) {
        throw new OperatorError((e as Error).message);
      }
      this.right = [];
    }
    return this.join;
  }

  private emitOutput(block: Block | undefined): void {
    if (block && block.numRows > 0) this.emit(queued(block));
  }

  override queuedBytes(): number {
    let total = super.queuedBytes();
    for (const block of [...this.right, ...this.waiting]) total += blockBytes(block);
    return total;
  }
}
