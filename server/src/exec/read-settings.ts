// What a read stage needs of the job: slots and block size for planning, and the checkpoint's done input files.
import type { FileRef } from "../io";
import { doneKey } from "../checkpoint";

export interface ReadSettings {
  cpuSlots: number;
  targetBlockBytes: number;
  /** Read tasks were found by the background listing (or it ended, or failed). */
  onDiscovery: (error?: Error) => void;
  /** Input files a checkpoint says are consumed whole (by doneKey, and their paths): listed but not read. */
  doneFiles?: { keys: Set<string>; paths: Set<string> };
  onFilesSkipped?: (count: number) => void;
  /** A checkpoint says the job is already complete: the read produces nothing. */
  nothingToRead?: boolean;
  /** A checkpointed job's ID column. */
  idColumn?: string;
}

/** The listed files still to read, given the files a checkpoint says are done. */
export function unfinishedFiles(files: FileRef[], settings: ReadSettings): FileRef[] {
  const done = settings.doneFiles;
  if (!done || done.keys.size === 0) return files;
  const changed = files.find((f) => done.paths.has(f.path) && !done.keys.has(doneKey(f)));
  if (changed) {
    // Its rows may be in the output already, and its committed IDs are not loaded: reading it again could duplicate them.
    throw new Error(`input file ${changed.path} changed (size or etag) after an earlier attempt of this checkpointed job consumed it; ` +
      "restore it, or delete the checkpoint to start over");
  }
  const left = files.filter((f) => !done.keys.has(doneKey(f)));
  if (left.length < files.length) settings.onFilesSkipped?.(files.length - left.length);
  return left;
}
