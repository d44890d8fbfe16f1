import type { QueuedBlock } from "./base";

/** Blocks from numbered streams (tasks, inputs), released in stream order: stream i waits until every earlier one has ended. */
export class InOrderRelease {
  private current = 0;
  private readonly held = new Map<number, QueuedBlock[]>();
  private readonly ended = new Set<number>();

  /** The blocks to emit now: this one if its stream is current, else none (it is held). */
  offer(stream: number, item: QueuedBlock): QueuedBlock[] {
    if (stream === this.current) return [item];
    const items = this.held.get(stream);
    if (items) items.push(item);
    else this.held.set(stream, [item]);
    return [];
  }

  /** The held blocks that become current once `stream` has ended. */
  end(stream: number): QueuedBlock[] {
    this.ended.add(stream);
    const released: QueuedBlock[] = [];
    while (this.ended.delete(this.current)) {
      this.current++;
      released.push(...(this.held.get(this.current) ?? []));
      this.held.delete(this.current);
    }
    return released;
  }

  bytes(): number {
    let total = 0;
    for (const item of this.items()) total += item.bytes;
    return total;
  }

  *items(): Iterable<QueuedBlock> {
    for (const items of this.held.values()) yield* items;
  }

  clear(): void {
    this.held.clear();
  }
}
