import { PhysicalOperator, type QueuedBlock } from "./base";
import { InOrderRelease } from "./in-order";

export class UnionOperator extends PhysicalOperator {
  /** When set, input i's blocks are emitted only after input i-1 is done (as Ray's ordered union). */
  preserveOrder = false;
  private readonly inInputOrder = new InOrderRelease();

  protected override onInput(item: QueuedBlock, inputIndex: number): void {
    if (!this.preserveOrder) this.emit(item);
    else for (const ready of this.inInputOrder.offer(inputIndex, item)) this.emit(ready);
  }

  override markInputDone(inputIndex: number): void {
    super.markInputDone(inputIndex);
    if (this.preserveOrder) for (const ready of this.inInputOrder.end(inputIndex)) this.emit(ready);
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.inInputOrder.bytes();
  }
}
