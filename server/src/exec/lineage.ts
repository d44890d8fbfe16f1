// Which input files of a checkpointed job are consumed whole when its read and its write run in different
// stages (an actor pool between them): the read task that read them has ended, and no queued block and no
// running task still carries rows that came from it. The worker of a fused read → write task knows this
// by itself; here the driver follows each read task's rows through the queues and the pool.
import type { DoneFile } from "../checkpoint";

interface Read {
  files: DoneFile[];
  /** A row of it errored, or a task holding its rows failed: not done (a resume reads its files again). */
  lost: boolean;
  /** The prefixes of the write tasks' output files that hold its rows. */
  outputs: Set<string>;
}

/** Read task indices, as carried by queued blocks and running tasks. */
export type Sources = readonly number[];

export class InputLineage {
  private readonly reads = new Map<number, Read>();
  /** Read tasks that ended and wait until no block or task carries their rows. */
  private readonly ended = new Set<number>();

  readStarted(readIndex: number, files: DoneFile[]): void {
    this.reads.set(readIndex, { files, lost: false, outputs: new Set() });
  }

  /** The sources of a task's output: those of its input blocks (or the read itself). */
  static union(blocks: { sources?: Sources }[]): Sources {
    const all = new Set<number>();
    for (const block of blocks) for (const source of block.sources ?? []) all.add(source);
    return [...all];
  }

  written(sources: Sources, outputPrefix: string): void {
    for (const source of sources) this.reads.get(source)?.outputs.add(outputPrefix);
  }

  /** Rows of these sources are not committed: an errored row (its file is not exact once blocks merge) or a failed task. */
  lose(sources: Sources): void {
    for (const source of sources) {
      const read = this.reads.get(source);
      if (read) read.lost = true;
    }
  }

  readEnded(readIndex: number): void {
    if (this.reads.has(readIndex)) this.ended.add(readIndex);
  }

  /**
   * The ended reads none of `live` (the sources of every queued block and running or retried task)
   * carries, with their files and output prefixes; a lost one is dropped.
   */
  takeDone(live: Iterable<Sources>): { readIndex: number; files: DoneFile[]; outputs: string[] }[] {
    if (this.ended.size === 0) return [];
    const carried = new Set<number>();
    for (const sources of live) for (const source of sources) carried.add(source);
    const done: { readIndex: number; files: DoneFile[]; outputs: string[] }[] = [];
    for (const readIndex of this.ended) {
      if (carried.has(readIndex)) continue;
      this.ended.delete(readIndex);
      const read = this.reads.get(readIndex)!;
      this.reads.delete(readIndex);
      if (!read.lost) done.push({ readIndex, files: read.files, outputs: [...read.outputs] });
    }
    return done;
  }
}
