import type { Block } from "../../block";
import { zipBlocks } from "../all-to-all";
import { PhysicalOperator, type QueuedBlock, queued } from "./base";

export class ZipOperator extends PhysicalOperator {
  private readonly sides: Block[][] = [[], []];

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    this.sides[inputIndex].push(item.block);
  }

  protected override onAllInputsDone(): void {
    for (const block of zipBlocks(this.sides[0], this.sides[1])) this.emit(queued(block));
    this.sides[0] = [];
    this.sides[1] = [];
  }
}
