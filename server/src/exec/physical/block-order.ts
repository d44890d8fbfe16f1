import { permutation, seededRandom } from "../../block";
import { PhysicalOperator, type QueuedBlock } from "./base";

/** randomizeBlockOrder: a barrier that emits its whole input's blocks in an order the seed fixes (rows stay in their blocks). */
export class BlockOrderOperator extends PhysicalOperator {
  private readonly collected: QueuedBlock[] = [];

  constructor(name: string, input: PhysicalOperator, private readonly seed: number) {
    super(name, [input]);
  }

  protected override onInput(item: QueuedBlock): void {
    this.collected.push(item);
  }

  protected override onAllInputsDone(): void {
    const blocks = this.collected.splice(0);
    for (const index of permutation(blocks.length, seededRandom(this.seed))) this.emit(blocks[index]);
  }

  override queuedBytes(): number {
    return super.queuedBytes() + this.collected.reduce((sum, item) => sum + item.bytes, 0);
  }
}
