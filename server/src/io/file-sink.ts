// The file sinks (writeParquet, writeCsv, writeJson): one file per block, written atomically (see
// FileSystem.write), named after the job so that a failed job's files can be found and removed; mode
// "overwrite" stages the job's files beside the folder until the job succeeds (io/overwrite.ts).
import type { Block } from "../block";
import type { Datasink, WriteContext, WriteResult } from "./datasink";
import { OverwriteStage, firstMissingFolder, removeEmptyFolders } from "./overwrite";
import { errorMessage } from "./errors";
import type { WriteFormat, WriteOptions } from "./types";
import { fileExtension, removeWrittenFiles, writeBlock } from "./write";

export type WriteMode = "append" | "overwrite";

/** A file write as plain data: what a checkpoint records, and what a worker rebuilds the sink from. */
export interface FileOutput {
  format: WriteFormat;
  path: string;
  /** "append" adds files beside existing ones; "overwrite" replaces the folder's files when the job succeeds. */
  mode: WriteMode;
  options: WriteOptions;
}

interface FileJob {
  /** The first folder of the output's path that did not exist: a failed job removes what it made, up to it. */
  createdFrom?: string;
  stage?: OverwriteStage;
  /** A checkpointed job's stage is its checkpoint's to commit, and its committed files stay for a resume. */
  checkpointed: boolean;
}

export class FileDatasink implements Datasink, FileOutput {
  readonly name: string;
  /** Per running job: a plan may run more than once, and its sink is part of the plan. */
  private readonly jobs = new Map<string, FileJob>();

  constructor(readonly format: WriteFormat, readonly path: string, readonly mode: WriteMode, readonly options: WriteOptions) {
    this.name = `Write${format[0].toUpperCase()}${format.slice(1)}`;
  }

  start(jobId: string): Promise<void> {
    return this.startJob(jobId, false);
  }

  /**
   * Before the job reads anything: finishes what earlier overwrite jobs of the folder left, and stages
   * this job's overwrite — unless the job is checkpointed, whose checkpoint owns the stage (see adopt).
   */
  async startJob(jobId: string, checkpointed: boolean): Promise<void> {
    const { filesystem } = this.options;
    const createdFrom = await firstMissingFolder(this.path, filesystem);
    await OverwriteStage.recover(this.path, filesystem);
    const stage = this.mode === "overwrite" && !checkpointed ? await OverwriteStage.of(this.path, jobId, [`${jobId}_`], { filesystem }).begin() : undefined;
    this.jobs.set(jobId, { createdFrom, stage, checkpointed });
  }

  /** A checkpointed job's stage, which its checkpoint commits; none once an earlier attempt swapped it in. */
  adopt(jobId: string, stage: OverwriteStage | undefined): void {
    this.job(jobId).stage = stage;
  }

  /** What the job's write tasks write: into the staging folder while an overwrite is staged. */
  outputOf(jobId: string): FileOutput {
    const { format, mode, options } = this;
    return { format, path: this.jobs.get(jobId)?.stage?.writeTo ?? this.path, mode, options };
  }

  async write(block: Block, context: WriteContext): Promise<WriteResult> {
    return writeBlock(this.format, block, this.path, `${context.name}${fileExtension(this.format)}`, this.options);
  }

  /** A plain job's staged output replaces the folder's (a checkpointed one's was, by its checkpoint); results name the files where they are now. */
  async commit(results: WriteResult[], jobId: string): Promise<WriteResult[]> {
    const { stage, checkpointed } = this.job(jobId);
    this.jobs.delete(jobId);
    if (!checkpointed) await stage?.commit();
    return stage ? results.map((result) => ({ ...result, path: stage.finalPath(result.path) })) : results;
  }

  /** The job's files go (a checkpoint keeps its committed ones), its staged overwrite too, and the folders it made if they are empty. */
  async abort(jobId: string): Promise<void> {
    const { createdFrom, stage, checkpointed } = this.job(jobId);
    const writeTo = this.outputOf(jobId).path;
    this.jobs.delete(jobId);
    const problems: string[] = [];
    if (!checkpointed) {
      await removeWrittenFiles(writeTo, jobId, this.options.filesystem).catch((e: unknown) => {
        problems.push(`removing the files it wrote failed, so files named ${jobId}* may remain in ${writeTo}: ${errorMessage(e)}`);
      });
    }
    try {
      await stage?.abort();
      if (createdFrom) await removeEmptyFolders(this.path, createdFrom, this.options.filesystem);
    } catch (e) {
      problems.push(`undoing its output failed: ${errorMessage(e)}`);
    }
    if (problems.length > 0) throw new Error(problems.join("; "));
  }

  private job(jobId: string): FileJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`${this.name} to ${this.path}: job ${jobId} was not started`);
    return job;
  }
}
