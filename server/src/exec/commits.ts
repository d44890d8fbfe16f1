// What the driver of a checkpointed job follows as tasks commit: the duplicate-ID check over every
// committed output file, and — when an actor pool runs between the read and the write — which input
// files are consumed whole (see ./lineage), recorded as done so that a resume does not read them.
import { fileReadSpecOf, type FileReadSpec } from "../io";
import type { TaskInput } from "../cluster";
import { IdKeyTable, describeDuplicate, recordDoneReads, type CheckedOutput, type CheckpointSpec } from "../checkpoint";
import { InputLineage, type Sources } from "./lineage";

export class CommitTracker {
  private readonly lineage?: InputLineage;
  private readonly keys?: IdKeyTable;
  /** Output files committed in this run, numbered as the key table knows them. */
  private readonly outputs: { path: string; sources: Sources }[] = [];
  private readonly readSpecs = new Map<number, FileReadSpec>();
  private readonly pending = new Set<Promise<void>>();
  /** Keys met twice, to confirm as duplicate IDs (see checkSuspects). */
  private readonly suspects: { key: { low: number; high: number }; outputs: [CheckedOutput, CheckedOutput] }[] = [];
  private checkingSuspects = false;
  private duplicateFound = false;

  constructor(
    private readonly spec: CheckpointSpec,
    options: { writeInReadTask: boolean; checkDuplicates: boolean; mayRepeatIds: boolean },
    private readonly fail: (error: Error) => void,
  ) {
    if (!options.writeInReadTask) this.lineage = new InputLineage();
    if (options.checkDuplicates) this.keys = new IdKeyTable();
    this.collapseRuns = options.mayRepeatIds;
  }

  private readonly collapseRuns: boolean;

  /** A task starts: the read tasks whose rows it carries (a read task carries its own). */
  launched(isRead: boolean, taskIndex: number, input: TaskInput, inputBlocks: { sources?: Sources }[]): Sources {
    if (!isRead) return InputLineage.union(inputBlocks);
    if (input.kind === "read") {
      const spec = fileReadSpecOf(input);
      if (spec) this.readSpecs.set(taskIndex, spec);
      const files = input.task.metadata?.inputFiles;
      if (files) this.lineage?.readStarted(taskIndex, files);
    }
    return [taskIndex];
  }

  /** A task committed an output file; its IDs' keys are checked against every other committed row's. */
  committed(sources: Sources, path: string, outputPrefix: string, idKeys: Uint32Array | undefined): void {
    this.lineage?.written(sources, outputPrefix);
    if (!this.keys || !idKeys) return;
    const file = this.outputs.push({ path, sources }) - 1;
    for (let hit = this.keys.add(idKeys, file, this.collapseRuns); hit; hit = this.keys.add(idKeys, file, this.collapseRuns, hit.next)) {
      if (!this.duplicateFound) this.suspects.push({ key: hit, outputs: [this.checked(hit.firstFile), this.checked(file)] });
    }
    if (this.suspects.length > 0 && !this.checkingSuspects) this.track(this.checkSuspects());
  }

  /**
   * Confirms repeated keys one at a time (a key is a hash: it may be two IDs) until one is a duplicate ID,
   * which fails the job: one error is all the job needs, and an input of thousands of duplicates must not
   * start thousands of reads of its files at once.
   */
  private async checkSuspects(): Promise<void> {
    this.checkingSuspects = true;
    try {
      for (let suspect = this.suspects.shift(); suspect && !this.duplicateFound; suspect = this.suspects.shift()) {
        const message = await describeDuplicate(this.spec, suspect.key, suspect.outputs);
        if (!message) continue;
        this.duplicateFound = true;
        this.suspects.length = 0;
        this.fail(new Error(message));
      }
    } finally {
      this.checkingSuspects = false;
    }
  }

  private checked(file: number): CheckedOutput {
    const { path, sources } = this.outputs[file];
    return { path, inputs: sources.map((s) => this.readSpecs.get(s)).filter((s) => s !== undefined) };
  }

  /** Rows of these read tasks will not all be committed (an errored row, a failed task): their files are not done. */
  lost(sources: Sources): void {
    this.lineage?.lose(sources);
  }

  /**
   * A task's last attempt ended. `live` lists the sources of every block still queued and task still
   * running or waiting for a retry: a read task none of them carries has all its rows committed.
   */
  ended(isRead: boolean, taskIndex: number, live: () => Iterable<Sources>): void {
    if (!this.lineage) return;
    if (isRead) this.lineage.readEnded(taskIndex);
    for (const done of this.lineage.takeDone(live())) {
      this.track(recordDoneReads(this.spec, done.readIndex, done.files, done.outputs));
    }
  }

  private track(work: Promise<void>): void {
    const settled = work.catch((e: Error) => this.fail(e)).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  /** Waits for the done records and duplicate checks under way. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
