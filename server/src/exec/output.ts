// The job's output, through its Datasink: started before the job reads anything, committed once every
// write succeeded, aborted when the job failed. In a checkpointed job the checkpoint owns a file write's
// overwrite stage (see adopt).
import { FileDatasink, builtinSinkSpec, datasinkName, errorMessage, type Datasink, type OverwriteStage, type WriteResult } from "../io";
import type { LogicalOp, PhysicalOp } from "../plan";

type WriteOp = Extract<LogicalOp, { kind: "write" }>;

export class JobOutput {
  private constructor(private readonly sink: Datasink, private readonly job: string) {}

  /** resuming: a checkpointed job's later attempt (its earlier files are in the folder). */
  static async open(write: WriteOp, job: string, checkpointed: boolean, resuming = false): Promise<JobOutput> {
    const sink = write.datasink;
    if (sink instanceof FileDatasink) await sink.startJob(job, checkpointed, resuming);
    else await sink.start?.(job);
    return new JobOutput(sink, job);
  }

  /** Whether the job writes nothing (a file write's mode "ignore" found files): nothing is read either. */
  get ignored(): boolean {
    return this.sink instanceof FileDatasink && this.sink.ignores(this.job);
  }

  /** A checkpointed job's stage, which its checkpoint commits; none once an earlier attempt swapped it in. */
  adopt(stage: OverwriteStage | undefined): void {
    (this.sink as FileDatasink).adopt(this.job, stage);
  }

  /** Points the plan's write tasks at the sink as the job started it (a file write's staging folder). */
  redirect(root: PhysicalOp): void {
    if ((root.kind === "read" || root.kind === "map" || root.kind === "exchange") && root.sink) root.sink.datasink.builtin = builtinSinkSpec(this.sink, this.job);
  }

  /** Every write succeeded: the sink commits them. Returns the results as they stand once committed. */
  async succeeded(results: WriteResult[]): Promise<WriteResult[]> {
    return (await this.sink.commit?.(results, this.job)) ?? results;
  }

  /** The job failed: the sink removes what it wrote. */
  async failed(results: WriteResult[], error: Error): Promise<void> {
    try {
      await this.sink.abort?.(this.job, results, error);
    } catch (e) {
      throw new Error(`undoing its output (${datasinkName(this.sink)}) failed: ${errorMessage(e)}`, { cause: e });
    }
  }
}
