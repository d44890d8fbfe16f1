// How a cluster's size follows its work, beside what the executor's cluster autoscaler asks for while
// work queues: a node idle for idleTimeoutMs is released, down to minNodes, as Ray's autoscaler lets
// idle workers go; and where an actor goes, by the CPUs it needs.

/** A node as the idle check sees it. */
export interface SeenNode {
  id: number;
  /** A task runs there, an actor lives there, or a running job still needs exchange partitions it holds. */
  busy: boolean;
  /** Its provider launched it (a node started by hand is never released). */
  releasable: boolean;
}

/** Tracks since when each alive node has been idle, and which to release. */
export class IdleNodes {
  private readonly idleSince = new Map<number, number>();

  constructor(readonly idleTimeoutMs: number, readonly minNodes: number) {}

  /** Called with the alive nodes at each check; the ids of those to release now, keeping at least minNodes alive. */
  toRelease(alive: SeenNode[], now: number): number[] {
    const ids = new Set(alive.map((n) => n.id));
    for (const id of this.idleSince.keys()) if (!ids.has(id)) this.idleSince.delete(id);
    const release: number[] = [];
    let kept = alive.length;
    for (const node of alive) {
      if (node.busy || !this.idleSince.has(node.id)) { this.idleSince.set(node.id, now); continue; }
      if (kept > this.minNodes && node.releasable && now - this.idleSince.get(node.id)! >= this.idleTimeoutMs) {
        release.push(node.id);
        kept--;
      }
    }
    return release;
  }
}

/** How often idleness is checked: a quarter of the timeout, between 50 ms and 1 s. */
export function checkIntervalMs(idleTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, idleTimeoutMs / 4));
}

interface PlacedNode { cpus: number; readonly actorCpus: number; readonly workers: { size: number } }

/**
 * The node an actor needing `numCpus` goes to: the one its actors leave the most CPUs free (then the
 * one with the fewest workers), if that is at least numCpus; with `oversubscribe`, that node anyway.
 */
export function placeActor<N extends PlacedNode>(nodes: N[], numCpus: number, oversubscribe: boolean): N | undefined {
  let best: N | undefined;
  for (const node of nodes) {
    if (!best) { best = node; continue; }
    const free = node.cpus - node.actorCpus, bestFree = best.cpus - best.actorCpus;
    if (free > bestFree || (free === bestFree && node.workers.size < best.workers.size)) best = node;
  }
  return best && (oversubscribe || best.cpus - best.actorCpus >= numCpus) ? best : undefined;
}
