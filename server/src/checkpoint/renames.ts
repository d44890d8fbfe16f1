// With a filenameProvider, a checkpointed job's files keep their job names (which a resume finds and
// reconciles them by) until its last attempt succeeds, and then take the provider's names (see
// io/filename-provider.ts). The names are recorded in the checkpoint (store.ts: names/), so the files of
// every attempt are renamed, and a run after a crash among the renames finishes them.
import { IoError, applyRenames, fileSystemFor, json, occupiedTarget, renameCollisions, type FileOutput, type FileSystem, type Rename } from "../io";
import { attemptStarts, markers, readNames } from "./store";

/** Whether the renames began: a committed file may be under its provider's name. */
export async function renamesBegan(fs: FileSystem, root: string): Promise<boolean> {
  return (await fs.stat(fs.join(root, markers.outputRenamed))) !== null;
}

/**
 * The committed output files (by name) of which a file is under its provider's name in writeTo, once the
 * renames began: they are there, though not under the name their commit records give.
 */
export async function renamedOutputs(fs: FileSystem, root: string, writeTo: string, write: FileOutput, committed: Set<string>): Promise<Set<string>> {
  const found = new Set<string>();
  if (!(await renamesBegan(fs, root))) return found;
  const outputFs = fileSystemFor(writeTo, write.options.filesystem);
  // A name is the first file's to claim it: a later one that repeats it was never renamed (renameOutput uncommits it).
  const claimed = new Set<string>();
  for (const [from, to] of await namesInAttemptOrder(fs, root, committed)) {
    if (claimed.has(to)) continue;
    claimed.add(to);
    if ((await outputFs.stat(outputFs.join(writeTo, to))) !== null) found.add(from.slice(from.lastIndexOf("/") + 1));
  }
  return found;
}

/**
 * The renames of the committed files, the earlier attempts' first: a name one repeats is the later file's
 * fault, and that file (never renamed) is the one uncommitted.
 */
async function namesInAttemptOrder(fs: FileSystem, root: string, committed: Set<string>): Promise<Rename[]> {
  const starts = await attemptStarts(fs, root);
  const startOf = ([from]: Rename) => starts.get(from.slice(from.lastIndexOf("/") + 1).split("_")[0]) ?? Infinity;
  return (await readNames(fs, root, committed)).sort((a, b) => startOf(a) - startOf(b) || 0);
}

/**
 * The last attempt succeeded: checks the provider's names of every committed file (unique; appending, no
 * file there already), marks that the renames began, and renames (unless an overwrite's swap does that,
 * from the renames returned). A name that cannot be taken fails the job, and `uncommit` makes the file
 * that asked for it uncommitted, so that a run with a mended provider writes its rows again.
 */
export async function renameOutput(
  fs: FileSystem, root: string, writeTo: string, write: FileOutput, committed: Set<string>, staged: boolean,
  uncommit: (outputNames: Set<string>) => Promise<void>,
): Promise<Rename[]> {
  const renames = await namesInAttemptOrder(fs, root, committed);
  if (renames.length === 0) return renames;
  const outputFs = fileSystemFor(writeTo, write.options.filesystem);
  const sink = `Write${write.format[0].toUpperCase()}${write.format.slice(1)}`;
  const began = await renamesBegan(fs, root);
  // Once the renames began, a provider's name that is taken is taken by the file itself (S3 renames by copying).
  const collisions = renameCollisions(renames, sink, writeTo);
  const occupied = collisions.length > 0 || staged || began ? undefined : await occupiedTarget(outputFs, writeTo, renames, sink);
  const problems = occupied ? [occupied] : collisions;
  if (problems.length > 0) {
    await uncommit(new Set(problems.map(({ from }) => from.slice(from.lastIndexOf("/") + 1))));
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more like it)` : "";
    throw new IoError(`${problems[0].error.message}${more}; ${problems.length > 1 ? "those files are" : "that file is"} uncommitted again: mend the filenameProvider and run the job again to write their rows`);
  }
  if (!began) await fs.write(fs.join(root, markers.outputRenamed), json({}));
  if (!staged) await applyRenames(outputFs, writeTo, renames);
  return renames;
}
