// mode: "overwrite" replaces a folder's files only when the job succeeds. Everything a job needs for that
// lives beside the target, in `<parent>/.<name>.rdpipe-overwrite/` (hidden, so never read as output):
//   <job>.json       the job's marker: who owns it, and whether it is still writing or already swapping
//   <job>/           local disk: the staging folder the job writes into
//   <job>.previous/  local disk: the previous output, while the staging folder is renamed into place
// Local disk swaps by two renames. S3 has no rename: the job writes into the target (and its partition
// folders) under its own unique names, and only once every new object is committed deletes the objects
// that were there before, at any depth.
// Recovery (at the start of every job that writes to the folder): a swap that had begun is finished (the
// new output is complete, and on S3 part of the previous one may be gone); a dead job that was still
// writing has its files removed, leaving the previous output as it was — unless a checkpoint owns the
// staged files, in which case they wait for the checkpoint's resume.
import os from "node:os";
import path from "node:path";
import { fileSystemFor, isS3Path, type FileSystem, type FileSystemDescription } from "./fs";
import { applyRenames, type Rename } from "./filename-provider";
import { json, readJsonFile } from "./json-file";
import { isAliveHere, thisProcess, type ProcessIdentity } from "./process-identity";
import { pathError } from "./errors";

interface Marker extends ProcessIdentity {
  job: string;
  /** The checkpoint whose resume continues this job (its staged files are kept until then). */
  checkpoint?: string;
  state: "writing" | "swapping";
  /** The name prefixes of the job's files: on S3, what a failed job removes and a successful one keeps in the target. */
  prefixes: string[];
  /** Set when swapping: the job's files' filenameProvider names, which they take first (relative to where the job wrote). */
  renames?: Rename[];
}

/** Jobs of this process that own a marker: a marker naming this pid but none of these is a dead job's. */
const activeJobs = new Set<string>();

/** The folder a path is in (undefined for a file system's or bucket's root). */
function parentOf(file: string): string | undefined {
  if (!isS3Path(file)) {
    const resolved = path.resolve(file);
    return resolved === path.dirname(resolved) ? undefined : path.dirname(resolved);
  }
  const trimmed = file.replace(/\/+$/, "");
  return /^s3:\/\/[^/]+$/.test(trimmed) ? undefined : trimmed.slice(0, trimmed.lastIndexOf("/"));
}

/** The folder beside target holding the overwrite jobs' markers (and, locally, their staging folders). */
function sideFolder(fs: FileSystem, target: string): string {
  const parent = parentOf(target);
  if (parent === undefined) throw new Error(`mode "overwrite" needs an output folder inside another folder (or bucket), not ${target}`);
  const full = isS3Path(target) ? target.replace(/\/+$/, "") : path.resolve(target);
  return fs.join(parent, `.${full.slice(parent.length + 1)}.rdpipe-overwrite`);
}

/** A job's staged overwrite of one folder. */
export class OverwriteStage {
  private constructor(
    readonly target: string, readonly job: string, private readonly fs: FileSystem, private readonly marker: Marker,
  ) {}

  /**
   * The staged overwrite of target by job, whose files' names start with one of `prefixes` (nothing is
   * done yet: see begin). `checkpoint` keeps the staged files for that checkpoint's resume when the job fails.
   */
  static of(target: string, job: string, prefixes: string[], options: { filesystem?: FileSystemDescription; checkpoint?: string } = {}): OverwriteStage {
    const marker: Marker = { job, ...thisProcess(), checkpoint: options.checkpoint, state: "writing", prefixes };
    return new OverwriteStage(target, job, fileSystemFor(target, options.filesystem), marker);
  }

  private get side(): string { return sideFolder(this.fs, this.target); }
  private get markerPath(): string { return this.fs.join(this.side, `${this.job}.json`); }
  private get staging(): string { return this.fs.join(this.side, this.job); }
  private get previous(): string { return this.fs.join(this.side, `${this.job}.previous`); }

  /** Where the job writes its files: the staging folder, or (S3) the target itself. */
  get writeTo(): string { return this.fs.renameFolder ? this.staging : this.target; }

  /** A path under writeTo as it is once the job has succeeded. */
  finalPath(file: string): string {
    return file.startsWith(`${this.writeTo}/`) ? this.fs.join(this.target, file.slice(this.writeTo.length + 1)) : file;
  }

  /** Starts (or, for a checkpoint's resume, takes over) the staged overwrite. Run recover first. */
  async begin(): Promise<this> {
    activeJobs.add(this.job);
    await this.writeMarker();
    // Made now, so that a job that writes no file still leaves the target empty.
    await this.fs.makeFolder?.(this.staging);
    return this;
  }

  /** The job succeeded: its files take their filenameProvider names (renames) and its output replaces the target's (safe to repeat after a crash). */
  async commit(renames: Rename[] = []): Promise<void> {
    activeJobs.add(this.job);
    try {
      this.marker.state = "swapping";
      this.marker.renames = renames.length > 0 ? renames : undefined;
      await this.writeMarker();
      await this.finishSwap();
    } catch (e) {
      throw pathError(this.target, e, "the new output is complete, but replacing the previous output with it failed; the next job that writes to this folder finishes the swap");
    } finally {
      activeJobs.delete(this.job);
    }
  }

  /** The job failed: its files go (a checkpointed job's stay for its resume) and the target is as before. */
  async abort(): Promise<void> {
    try {
      if (!this.marker.checkpoint) await this.discard();
    } finally {
      // A marker of this process that no active job owns is a dead job's: the next run cleans up what this could not.
      activeJobs.delete(this.job);
    }
  }

  private async writeMarker(): Promise<void> {
    await this.fs.write(this.markerPath, json(this.marker));
  }

  /** Renames the staging folder into place (locally) or deletes what is not the job's (S3); safe to repeat. */
  private async finishSwap(): Promise<void> {
    const fs = this.fs;
    if (this.marker.renames && (await fs.stat(this.writeTo)) !== null) await applyRenames(fs, this.writeTo, this.marker.renames);
    if (fs.renameFolder) {
      if ((await fs.stat(this.staging)) !== null) {
        if ((await fs.stat(this.target)) !== null && (await fs.stat(this.previous)) === null) await fs.renameFolder(this.target, this.previous);
        await fs.renameFolder(this.staging, this.target);
      }
      await fs.deleteByPrefix(this.previous, "");
    } else {
      const renamed = new Set(this.marker.renames?.map(([, to]) => to));
      await fs.deleteFiles(await this.filesUnder((name, relative) => !this.isJobs(name) && !renamed.has(relative)));
    }
    await this.removeMarker();
  }

  /** Removes the job's files: the staging folder, or (S3) its objects in the target. */
  private async discard(): Promise<void> {
    if (this.fs.renameFolder) await this.fs.deleteByPrefix(this.staging, "");
    else await this.fs.deleteFiles(await this.filesUnder((name) => this.isJobs(name)));
    await this.removeMarker();
  }

  /** Whether a file (by its name, without folders; an in-flight `.name.tmp` too) is one of the job's. */
  private isJobs(name: string): boolean {
    const base = name.startsWith(".") && name.endsWith(".tmp") ? name.slice(1, -4) : name;
    return this.marker.prefixes.some((prefix) => base.startsWith(prefix));
  }

  /** The files anywhere under the target (partitionCols' folders too; S3 lists them flat) whose names (and paths below it) pass. */
  private async filesUnder(pass: (name: string, relative: string) => boolean): Promise<string[]> {
    const found: string[] = [];
    if ((await this.fs.stat(this.target)) === null) return found;
    const root = this.target.replace(/\/+$/, "");
    const walk = async (dir: string): Promise<void> => {
      for await (const page of this.fs.listDirectory(dir)) {
        for (const file of page.files) if (pass(file.path.slice(file.path.lastIndexOf("/") + 1), file.path.slice(root.length + 1))) found.push(file.path);
        for (const sub of page.directories) await walk(sub);
      }
    };
    await walk(this.target);
    return found;
  }

  private async removeMarker(): Promise<void> {
    await this.fs.deleteFiles([this.markerPath]);
    await this.fs.removeEmptyFolder?.(this.side);
  }

  /**
   * Finishes what dead overwrite jobs of target left: a swap that had begun is completed; the files of a
   * job that was still writing are removed (kept while a checkpoint that still exists owns them).
   */
  static async recover(target: string, filesystem?: FileSystemDescription): Promise<void> {
    const fs = fileSystemFor(target, filesystem);
    let side: string;
    try {
      side = sideFolder(fs, target);
    } catch {
      return; // a folder that cannot be overwritten has nothing to recover
    }
    try {
      if ((await fs.stat(side)) === null) return;
      for await (const page of fs.listDirectory(side)) {
        for (const file of page.files) {
          const name = file.path.slice(file.path.lastIndexOf("/") + 1);
          if (name.startsWith(".") || !name.endsWith(".json")) continue;
          const marker = await readMarker(fs, file.path);
          if (!marker || isAlive(marker)) continue;
          const stage = new OverwriteStage(target, marker.job, fs, marker);
          if (marker.state === "swapping") await stage.finishSwap();
          else if (!marker.checkpoint || (await checkpointGone(marker.checkpoint, filesystem))) await stage.discard();
        }
      }
    } catch (e) {
      throw pathError(side, e, "cannot recover an earlier overwrite");
    }
  }
}

/**
 * Whether the checkpoint owning a dead job's staged files is gone (deleted by hand: nothing will resume
 * them). It may be on another file system than the output (a local checkpoint of an S3 output); when it
 * cannot be reached, the files are kept: a resume may still need them.
 */
async function checkpointGone(checkpoint: string, outputFilesystem?: FileSystemDescription): Promise<boolean> {
  try {
    return (await fileSystemFor(checkpoint, outputFilesystem).stat(checkpoint)) === null;
  } catch {
    return false;
  }
}

async function readMarker(fs: FileSystem, file: string): Promise<Marker | undefined> {
  try {
    return await readJsonFile<Marker>(fs, file);
  } catch {
    return undefined; // removed since it was listed
  }
}

/** Whether the job that wrote a marker may still be running: one of another host always may (it is left alone). */
function isAlive(marker: Marker): boolean {
  if (marker.host === os.hostname() && marker.pid === process.pid) return activeJobs.has(marker.job);
  return isAliveHere(marker) ?? true;
}

/**
 * The topmost folder on the way to dir that does not exist yet (undefined when dir exists, or on S3):
 * what a failed job removes again, if it is still empty, so that it leaves the parent as it found it.
 */
export async function firstMissingFolder(dir: string, filesystem?: FileSystemDescription): Promise<string | undefined> {
  const fs = fileSystemFor(dir, filesystem);
  if (!fs.removeEmptyFolder) return undefined;
  let missing: string | undefined;
  for (let current: string | undefined = path.resolve(dir); current !== undefined && (await fs.stat(current)) === null; current = parentOf(current)) {
    missing = current;
  }
  return missing;
}

/** Removes dir and its parents up to `upTo` (a firstMissingFolder), as far as they are empty. */
export async function removeEmptyFolders(dir: string, upTo: string, filesystem?: FileSystemDescription): Promise<void> {
  const fs = fileSystemFor(dir, filesystem);
  for (let current: string | undefined = path.resolve(dir); current !== undefined && current.length >= upTo.length; current = parentOf(current)) {
    if (!(await fs.removeEmptyFolder?.(current))) return;
  }
}
