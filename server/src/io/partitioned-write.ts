// partitionCols: one block written as one file per distinct combination of the partition columns'
// values, under hive-style folders `col=value/…` (values escaped as Hive does; null as Hive's default
// partition); the files leave the partition columns out, as readers add them back from the folders.
import { columnValues, takeRows, type Block } from "../block";
import { IoError } from "./errors";
import { fileSystemFor } from "./fs";
import type { Rename } from "./filename-provider";
import { HIVE_NULL } from "./prune";
import type { WriteFormat, WriteOptions } from "./types";
import { writeBlock } from "./write";

/** Characters Hive escapes in partition folder names (FileUtils.escapePathName), as %XX. */
const HIVE_ESCAPED = /[\x00-\x1f"#%'*/:=?\\\x7f{[\]^]/g;

export function escapePartitionValue(value: string): string {
  return value.replace(HIVE_ESCAPED, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

function partitionText(value: unknown): string {
  if (value === null || value === undefined) return HIVE_NULL;
  if (value instanceof Date) return value.toISOString();
  const text = String(value);
  return text === "" ? HIVE_NULL : escapePartitionValue(text);
}

/** nameFor: a filenameProvider's name for each partition's file, which it takes when the job succeeds (see filename-provider.ts). */
export async function writePartitioned(
  format: WriteFormat, block: Block, dir: string, fileName: string, options: WriteOptions,
  nameFor?: (part: Block, partition: Record<string, unknown>) => string,
): Promise<{ path: string; rows: number; bytes: number; renames?: Rename[] }> {
  const columns = options.partitionCols!;
  const names = block.schema.fields.map((f) => f.name);
  const missing = columns.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new IoError(`partitionCols: the rows have no column ${missing.map((c) => `'${c}'`).join(", ")}; their columns are ${names.map((c) => `'${c}'`).join(", ")}`);
  }
  if (columns.length === names.length) throw new IoError(`partitionCols: ${columns.join(", ")} are all the columns; a file needs at least one other`);
  const values = columns.map((c) => columnValues(block.getChild(c)!));
  const groups = new Map<string, number[]>();
  for (let row = 0; row < block.numRows; row++) {
    const folder = columns.map((c, i) => `${escapePartitionValue(c)}=${partitionText(values[i][row])}`).join("/");
    let rows = groups.get(folder);
    if (!rows) groups.set(folder, rows = []);
    rows.push(row);
  }
  const fs = fileSystemFor(dir, options.filesystem);
  const kept = names.filter((n) => !columns.includes(n));
  const renames: Rename[] = [];
  let first: string | undefined;
  let bytes = 0;
  for (const [folder, rows] of groups) {
    const part = (rows.length === block.numRows ? block : takeRows(block, rows)).select(kept);
    if (nameFor) {
      const partition = Object.fromEntries(columns.map((c, i) => [c, values[i][rows[0]] ?? null]));
      renames.push([`${folder}/${fileName}`, `${folder}/${nameFor(part, partition)}`]);
    }
    const written = await writeBlock(format, part, fs.join(dir, folder), fileName, options);
    first ??= written.path;
    bytes += written.bytes;
  }
  return { path: first ?? fs.join(dir, fileName), rows: block.numRows, bytes, ...(nameFor && { renames }) };
}

/**
 * Removes the files named prefix* (and their in-flight `.prefix*.tmp`) in every partition folder under dir
 * (a failed job's), and the folders it leaves empty. S3 lists a prefix's objects at every depth in one go.
 */
export async function removePartitionedFiles(dir: string, prefix: string, options: WriteOptions): Promise<void> {
  const fs = fileSystemFor(dir, options.filesystem);
  const isPartition = (folder: string) => /[^/]=[^/]*\/?$/.test(folder);
  const walk = async (folder: string): Promise<void> => {
    const subfolders: string[] = [];
    const doomed: string[] = [];
    for await (const page of fs.listDirectory(folder)) {
      subfolders.push(...page.directories.filter(isPartition));
      for (const file of page.files) {
        const inFolder = file.path.slice(0, file.path.lastIndexOf("/"));
        const name = file.path.slice(inFolder.length + 1);
        if (inFolder !== folder.replace(/\/+$/, "") && (name.startsWith(prefix) || (name.startsWith(`.${prefix}`) && name.endsWith(".tmp")))) doomed.push(file.path);
      }
    }
    await fs.deleteFiles(doomed);
    for (const sub of subfolders) {
      await walk(sub);
      await fs.deleteByPrefix(sub, prefix);
      await fs.removeEmptyFolder?.(sub);
    }
  };
  if ((await fs.stat(dir)) !== null) await walk(dir);
}
