// The folder a job writes: overwrite staged beside it (io/overwrite.ts), and on failure the folders the
// job made removed again, so that a failed job leaves the output's parent as it found it.
import { OverwriteStage, firstMissingFolder, removeEmptyFolders } from "../io";
import type { LogicalOp, PhysicalOp } from "../plan";

type WriteOp = Extract<LogicalOp, { kind: "write" }>;

export class JobOutput {
  private constructor(
    private readonly write: WriteOp, private readonly createdFrom: string | undefined, private stage: OverwriteStage | undefined,
    /** A checkpointed job's stage is committed by its checkpoint, between its own markers. */
    private readonly commitsHere: boolean,
  ) {}

  /**
   * Before the job reads anything: finishes what earlier overwrite jobs of the folder left, and stages
   * this job's overwrite — unless the job is checkpointed, whose checkpoint owns the stage (see adopt).
   */
  static async open(write: WriteOp, job: string, checkpointed: boolean): Promise<JobOutput> {
    const { filesystem } = write.options;
    const createdFrom = await firstMissingFolder(write.path, filesystem);
    await OverwriteStage.recover(write.path, filesystem);
    const stage = write.mode === "overwrite" && !checkpointed ? await OverwriteStage.of(write.path, job, [`${job}_`], { filesystem }).begin() : undefined;
    return new JobOutput(write, createdFrom, stage, !checkpointed);
  }

  /** A checkpointed job's stage, which its checkpoint commits; none once an earlier attempt swapped it in. */
  adopt(stage: OverwriteStage | undefined): void {
    this.stage = stage;
  }

  /** Points the plan's write at the folder the job writes into. */
  redirect(root: PhysicalOp): void {
    if ((root.kind === "read" || root.kind === "map") && root.sink) root.sink.path = this.stage?.writeTo ?? this.write.path;
  }

  /** The job succeeded: a plain job's staged output replaces the folder's (a checkpointed one's was, by its checkpoint). */
  async succeeded(): Promise<void> {
    if (this.commitsHere) await this.stage?.commit();
  }

  /** A written file's path once the job has succeeded. */
  finalPath(file: string): string {
    return this.stage?.finalPath(file) ?? file;
  }

  /** The job failed: its staged files go (a checkpoint keeps its own), and so do the folders it made if they are empty. */
  async failed(): Promise<void> {
    await this.stage?.abort();
    if (this.createdFrom) await removeEmptyFolders(this.write.path, this.createdFrom, this.write.options.filesystem);
  }
}
