// The file sinks (writeParquet, writeCsv, writeJson): one file per block, written atomically (see
// FileSystem.write), named after the job so that a failed job's files can be found and removed; mode
// "overwrite" stages the job's files beside the folder until the job succeeds (io/overwrite.ts).
import type { Block } from "../block";
import type { Datasink, WriteContext, WriteResult } from "./datasink";
import {
  applyRenames, occupiedTarget, renameCollisions, providerName, rebuildProvider, renamedPath, type FilenameProvider, type Rename,
} from "./filename-provider";
import { OverwriteStage, firstMissingFolder, removeEmptyFolders } from "./overwrite";
import { IoError, errorMessage } from "./errors";
import { isIgnoredName } from "./files";
import { fileSystemFor, type FileSystemDescription } from "./fs";
import type { WriteFormat, WriteOptions } from "./types";
import { removePartitionedFiles, writePartitioned } from "./partitioned-write";
import { fileExtension, removeWrittenFiles, writeBlock } from "./write";

/**
 * "append" adds files beside existing ones; "overwrite" replaces the folder's files when the job succeeds;
 * "error" fails before reading anything when the folder holds files; "ignore" then writes nothing.
 */
export type WriteMode = "append" | "overwrite" | "error" | "ignore";

export const WRITE_MODES: WriteMode[] = ["append", "overwrite", "error", "ignore"];

/** A file write as plain data: what a checkpoint records, and what a worker rebuilds the sink from. */
export interface FileOutput {
  format: WriteFormat;
  path: string;
  mode: WriteMode;
  options: WriteOptions;
}

/** A file write's result: with a filenameProvider, the renames its files take when the job succeeds. */
export interface FileWriteResult extends WriteResult {
  renames?: Rename[];
}

interface FileJob {
  /** The first folder of the output's path that did not exist: a failed job removes what it made, up to it. */
  createdFrom?: string;
  stage?: OverwriteStage;
  /** A checkpointed job's stage is its checkpoint's to commit, and its committed files stay for a resume. */
  checkpointed: boolean;
  /** mode "ignore" found the folder holding files: the job writes nothing. */
  ignored?: boolean;
}

export class FileDatasink implements Datasink, FileOutput {
  readonly name: string;
  /** Per running job: a plan may run more than once, and its sink is part of the plan. */
  private readonly jobs = new Map<string, FileJob>();

  /**
   * provider: the live filenameProvider (on the driver, and in a worker that evaluated the pipeline file);
   * else a worker rebuilds it from `options.providerSource` when it first writes.
   */
  constructor(readonly format: WriteFormat, readonly path: string, readonly mode: WriteMode, readonly options: WriteOptions, private provider?: FilenameProvider) {
    this.name = `Write${format[0].toUpperCase()}${format.slice(1)}`;
  }

  /** The live filenameProvider, as constructed in the pipeline file. */
  get filenameProvider(): FilenameProvider | undefined {
    return this.provider;
  }

  get rowsPerWrite(): { min?: number; max?: number } {
    return { min: this.options.minRowsPerFile, max: this.options.maxRowsPerFile };
  }

  start(jobId: string): Promise<void> {
    return this.startJob(jobId, false);
  }

  /**
   * Before the job reads anything: finishes what earlier overwrite jobs of the folder left, and stages
   * this job's overwrite — unless the job is checkpointed, whose checkpoint owns the stage (see adopt).
   */
  async startJob(jobId: string, checkpointed: boolean, resuming = false): Promise<void> {
    const { filesystem } = this.options;
    // A resumed checkpointed job finds its own earlier files there: the check is the first attempt's.
    const existing = (this.mode === "error" || this.mode === "ignore") && !resuming ? await someFiles(this.path, filesystem) : [];
    if (existing.length > 0 && this.mode === "error") {
      throw new IoError(`${this.name} to ${this.path}: mode "error" and the folder is not empty (it holds ${existing.join(", ")}); nothing was read`);
    }
    const createdFrom = await firstMissingFolder(this.path, filesystem);
    await OverwriteStage.recover(this.path, filesystem);
    const stage = this.mode === "overwrite" && !checkpointed ? await OverwriteStage.of(this.path, jobId, [`${jobId}_`], { filesystem }).begin() : undefined;
    this.jobs.set(jobId, { createdFrom, stage, checkpointed, ignored: existing.length > 0 });
  }

  /** Whether the job is to write nothing (mode "ignore" and files in the folder). */
  ignores(jobId: string): boolean {
    return this.job(jobId).ignored === true;
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

  async write(block: Block, context: WriteContext): Promise<FileWriteResult> {
    const extension = fileExtension(this.format);
    const fileName = `${context.name}${extension}`;
    if (this.options.providerSource) this.provider ??= rebuildProvider(this.options.providerSource, this.name);
    const provider = this.provider;
    // Asked before the file is written: a name it refuses fails the write, not the commit.
    const nameFor = provider && ((part: Block, partition?: Record<string, unknown>) =>
      providerName(provider, this.name, part, context, { extension, ...(partition && { partition }) }));
    if (this.options.partitionCols?.length) return writePartitioned(this.format, block, this.path, fileName, this.options, nameFor);
    const renames: Rename[] | undefined = nameFor && [[fileName, nameFor(block)]];
    const written = await writeBlock(this.format, block, this.path, fileName, this.options);
    return renames ? { ...written, renames } : written;
  }

  /**
   * A plain job's files take their filenameProvider names and its staged output replaces the folder's (a
   * checkpointed one's did, by its checkpoint); results name the files where they are now. Names that
   * collide fail the job before any file is renamed, and its files go (so do renamed ones, when a rename fails).
   */
  async commit(results: FileWriteResult[], jobId: string): Promise<WriteResult[]> {
    const { stage, checkpointed } = this.job(jobId);
    const writeTo = this.outputOf(jobId).path;
    const fs = fileSystemFor(writeTo, this.options.filesystem);
    const renames = results.flatMap((result) => result.renames ?? []);
    if (!checkpointed && renames.length > 0) {
      const problem = renameCollisions(renames, this.name, writeTo)[0] ?? (stage ? undefined : await occupiedTarget(fs, writeTo, renames, this.name));
      const undo = async (renamed: string[]) => {
        await fs.deleteFiles(renamed).catch(() => undefined);
        await this.abort(jobId).catch(() => undefined);
      };
      if (problem) {
        await undo([]);
        throw problem.error;
      }
      // Appending, no name was taken before: whatever is under one now is this job's.
      if (!stage) await applyRenames(fs, writeTo, renames).catch(async (e: unknown) => {
        await undo(renames.filter(([from, to]) => from !== to).map(([, to]) => fs.join(writeTo, to)));
        throw e;
      });
    }
    this.jobs.delete(jobId);
    if (!checkpointed) await stage?.commit(renames);
    const renamed = new Map(renames);
    return results.map(({ renames: _, ...result }) => {
      const path = renamed.size > 0 ? renamedPath(fs, writeTo, result.path, renamed) : result.path;
      return { ...result, path: stage ? stage.finalPath(path) : path };
    });
  }

  /** The job's files go (a checkpoint keeps its committed ones), its staged overwrite too, and the folders it made if they are empty. */
  async abort(jobId: string): Promise<void> {
    const { createdFrom, stage, checkpointed } = this.job(jobId);
    const writeTo = this.outputOf(jobId).path;
    this.jobs.delete(jobId);
    const problems: string[] = [];
    if (!checkpointed) {
      const remove = async () => {
        if (this.options.partitionCols?.length) await removePartitionedFiles(writeTo, jobId, this.options);
        await removeWrittenFiles(writeTo, jobId, this.options.filesystem);
      };
      await remove().catch((e: unknown) => {
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

/** Up to three visible files (not hidden, not temporary) anywhere under dir; none when it does not exist. */
async function someFiles(dir: string, filesystem?: FileSystemDescription): Promise<string[]> {
  const fs = fileSystemFor(dir, filesystem);
  if ((await fs.stat(dir)) === null) return [];
  const found: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for await (const page of fs.listDirectory(folder)) {
      for (const file of page.files) if (found.length < 3 && !isIgnoredName(file.path.slice(file.path.lastIndexOf("/") + 1))) found.push(file.path);
      for (const sub of page.directories) if (found.length < 3 && !isIgnoredName(sub.replace(/\/+$/, "").slice(sub.replace(/\/+$/, "").lastIndexOf("/") + 1))) await walk(sub);
    }
  };
  await walk(dir);
  return found;
}
