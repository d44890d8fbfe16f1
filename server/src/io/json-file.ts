// Small JSON files (checkpoint records, overwrite markers, the lease): their bytes, and reading one back.
import type { FileSystem } from "./fs";
import { pathError } from "./errors";

/** A value as the chunks FileSystem.write takes (bigints as decimal strings). */
export const json = (value: unknown) => [Buffer.from(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)))];

export async function readJsonFile<T>(fs: FileSystem, file: string): Promise<T> {
  const text = Buffer.from(await fs.readAll(file)).toString("utf8");
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw pathError(file, e, "not valid JSON");
  }
}
