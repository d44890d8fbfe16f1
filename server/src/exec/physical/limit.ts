import { PhysicalOperator, type QueuedBlock, queued } from "./base";

export class LimitOperator extends PhysicalOperator {
  private remaining: number;
  constructor(name: string, input: PhysicalOperator, readonly limit: number) {
    super(name, [input]);
    this.remaining = limit;
    if (limit === 0) this.markInputDone(0);
  }

  protected override onInput(item: QueuedBlock): void {
    if (this.remaining <= 0) return;
    const block = item.block.numRows > this.remaining ? item.block.slice(0, this.remaining) : item.block;
    this.remaining -= block.numRows;
    this.emit(block === item.block ? item : { ...queued(block, item.origin) });
    if (this.remaining <= 0) this.markInputDone(0);
  }

  get satisfied(): boolean { return this.remaining <= 0; }
}
