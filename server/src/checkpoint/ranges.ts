// The range of IDs a finished task committed, kept in its done record. A resume does not load those IDs
// (their input files are not read again), yet a row of another file may carry one of them (a file added
// since): a read task loads a finished task's IDs only for blocks whose IDs reach into its range.
import { DataType, type Vector } from "apache-arrow";
import { fileSystemFor, type FileSystemDescription } from "../io";
import type { IdRange, SharedIds } from "./idset";
import { loadCommittedIds, type FileEntry } from "./store";

/** The IDs of one finished task: their range (undefined: not known, so any block may hold them) and commit records. */
export interface FinishedTaskIds { range?: IdRange; records: FileEntry[] }

/** What read tasks of a resume need to drop the IDs of finished tasks where a block reaches into them. */
export interface FinishedIds { filesystem?: FileSystemDescription; tasks: FinishedTaskIds[] }

/** The range of a column's IDs; undefined for an empty column or IDs neither integers nor strings. */
export function idRange(column: Vector): IdRange | undefined {
  const type = column.type as DataType;
  let min: bigint | string | undefined, max: bigint | string | undefined;
  for (const data of column.data) {
    if (data.length === 0) continue;
    const values = data.values as ArrayLike<number | bigint> & ArrayBufferView;
    let part: [bigint | string, bigint | string];
    if (DataType.isInt(type) && (values instanceof BigInt64Array || values instanceof BigUint64Array)) part = int64Range(values, data.length);
    else if (DataType.isInt(type)) {
      let low = Number(values[0]), high = low;
      for (let i = 1; i < data.length; i++) { const v = Number(values[i]); if (v < low) low = v; else if (v > high) high = v; }
      part = [BigInt(low), BigInt(high)];
    } else if (DataType.isUtf8(type)) part = utf8Range(data.values as Uint8Array, data.valueOffsets as Int32Array, data.length);
    else return undefined;
    if (min === undefined || before(part[0], min)) min = part[0];
    if (max === undefined || before(max, part[1])) max = part[1];
  }
  if (min === undefined || max === undefined) return undefined;
  return { kind: typeof min === "bigint" ? "int" : "string", min: String(min), max: String(max) };
}

/** Both ranges; undefined (not known) when either is. */
export function widen(a: IdRange | undefined, b: IdRange | undefined): IdRange | undefined {
  if (!a || !b || a.kind !== b.kind) return undefined;
  const value = (s: string) => (a.kind === "int" ? BigInt(s) : s);
  return { kind: a.kind, min: before(value(b.min), value(a.min)) ? b.min : a.min, max: before(value(a.max), value(b.max)) ? b.max : a.max };
}

/** Whether two ranges share any ID (ranges of different kinds, or not known, may). */
export function overlaps(a: IdRange | undefined, b: IdRange | undefined): boolean {
  if (!a || !b || a.kind !== b.kind) return true;
  const value = (s: string) => (a.kind === "int" ? BigInt(s) : s);
  return !before(value(a.max), value(b.min)) && !before(value(b.max), value(a.min));
}

function before(a: bigint | string, b: bigint | string): boolean {
  if (typeof a === "bigint" && typeof b === "bigint") return a < b;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b))) < 0;
}

/** Compared as (high word signed, low word unsigned): no BigInt per value. */
function int64Range(values: BigInt64Array | BigUint64Array, length: number): [bigint, bigint] {
  const words = new Uint32Array(values.buffer, values.byteOffset, length * 2);
  const signBit = values instanceof BigInt64Array ? 0x80000000 : 0; // flipped, the high word of a signed value orders as unsigned
  let low = 0, top = 0;
  let lowHigh = (words[1] ^ signBit) >>> 0, lowWord = words[0], topHigh = lowHigh, topWord = lowWord;
  for (let i = 1; i < length; i++) {
    const high = (words[i * 2 + 1] ^ signBit) >>> 0, word = words[i * 2];
    if (high < lowHigh || (high === lowHigh && word < lowWord)) { low = i; lowHigh = high; lowWord = word; }
    else if (high > topHigh || (high === topHigh && word > topWord)) { top = i; topHigh = high; topWord = word; }
  }
  return [BigInt(values[low]), BigInt(values[top])];
}

function utf8Range(bytes: Uint8Array, offsets: Int32Array, length: number): [string, string] {
  const less = (i: number, j: number) => Buffer.compare(bytes.subarray(offsets[i], offsets[i + 1]), bytes.subarray(offsets[j], offsets[j + 1])) < 0;
  let low = 0, top = 0;
  for (let i = 1; i < length; i++) { if (less(i, low)) low = i; else if (less(top, i)) top = i; }
  const text = (i: number) => Buffer.from(bytes.subarray(offsets[i], offsets[i + 1])).toString("utf8");
  return [text(low), text(top)];
}

/** Loaded finished tasks' IDs, by their first record (a worker keeps them for the tasks of one resume). */
const loaded = new Map<string, Promise<SharedIds>>();

/** The IDs of the finished tasks whose range a block's IDs reach into. */
export async function finishedIdsFor(finished: FinishedIds, column: Vector): Promise<SharedIds[]> {
  const range = idRange(column);
  const sets: SharedIds[] = [];
  for (const task of finished.tasks) {
    if (task.records.length === 0 || !overlaps(task.range, range)) continue;
    const key = task.records[0].path;
    let ids = loaded.get(key);
    if (!ids) {
      if (loaded.size > 256) loaded.clear();
      ids = loadCommittedIds(fileSystemFor(key, finished.filesystem), task.records).then((r) => r.ids);
      loaded.set(key, ids);
    }
    sets.push(await ids);
  }
  return sets;
}
