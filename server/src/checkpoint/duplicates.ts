// Duplicate IDs: every committed output file's IDs are sent to the driver as 64-bit keys (integer IDs
// as their bits, other IDs hashed), which meets each key once (./keyset). A key met in a second place
// is verified against the commit records (a hash may collide) and reported with the output files and
// the input files that hold the ID.
import { DataType, type Vector } from "apache-arrow";
import { fileSystemFor, readFileBlocks, type FileReadSpec, type FileRef } from "../io";
import { committedOutputName, dirs, listEntries, readCommittedIds, type CheckpointSpec } from "./store";

/** An ID column's values as 64-bit keys, two uint32 (low, high) per row: integers exactly, others hashed. */
export function idKeys(column: Vector): Uint32Array {
  const keys = new Uint32Array(column.length * 2);
  const type = column.type as DataType;
  let at = 0;
  let row = 0;
  for (const data of column.data) {
    const values = data.values as ArrayLike<number | bigint> & ArrayBufferView;
    if (DataType.isInt(type) && (values instanceof BigInt64Array || values instanceof BigUint64Array)) {
      keys.set(new Uint32Array(values.buffer, values.byteOffset, data.length * 2), at);
      at += data.length * 2;
    } else if (DataType.isInt(type)) {
      for (let i = 0; i < data.length; i++) {
        const value = Number(values[i]);
        keys[at++] = value >>> 0;
        keys[at++] = value < 0 ? 0xffffffff : 0;
      }
    } else if (DataType.isUtf8(type)) {
      const offsets = data.valueOffsets as Int32Array;
      const bytes = data.values as Uint8Array;
      for (let i = 0; i < data.length; i++) at = hashBytes(bytes, offsets[i], offsets[i + 1], keys, at);
    } else {
      for (let i = 0; i < data.length; i++) at = valueKey(column.get(row + i), keys, at);
    }
    row += data.length;
  }
  return keys;
}

/** One ID value's key, as idKeys makes it from a column of its type (row-backend records hold values). */
function valueKey(value: unknown, out: Uint32Array, at: number): number {
  const integer = typeof value === "bigint" ? value : typeof value === "number" && Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (integer !== undefined) {
    const bits = BigInt.asUintN(64, integer);
    out[at] = Number(bits & 0xffffffffn);
    out[at + 1] = Number(bits >> 32n);
    return at + 2;
  }
  const text = Buffer.from(typeof value === "string" ? value : JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
  return hashBytes(text, 0, text.length, out, at);
}

/** Two 32-bit FNV-1a lanes with different seeds over bytes[start, end). */
function hashBytes(bytes: Uint8Array, start: number, end: number, out: Uint32Array, at: number): number {
  let a = 0x811c9dc5, b = 0x01000193 ^ (end - start);
  for (let i = start; i < end; i++) {
    a = Math.imul(a ^ bytes[i], 0x01000193);
    b = Math.imul(b ^ bytes[i], 0x5bd1e995);
  }
  out[at] = a >>> 0;
  out[at + 1] = (b ^ (b >>> 13)) >>> 0;
  return at + 2;
}

/** An output file as the duplicate check knows it: its path, and the input files its rows may come from. */
export interface CheckedOutput { path: string; inputs: FileReadSpec[] }

/**
 * The message for a key met twice, after checking the commit records of both output files: the ID, the
 * output files, and the input files that hold it. Undefined when the key was a hash collision.
 */
export async function describeDuplicate(
  spec: CheckpointSpec, key: { low: number; high: number }, outputs: [CheckedOutput, CheckedOutput],
): Promise<string | undefined> {
  const fs = fileSystemFor(spec.path, spec.filesystem);
  const records = await listEntries(fs, spec.path, dirs.committed);
  const found: unknown[][] = [];
  for (const output of outputs) {
    const name = output.path.slice(output.path.lastIndexOf("/") + 1);
    const record = records.find((r) => committedOutputName(r) === name);
    if (!record) return undefined;
    const { column, values } = await readCommittedIds(fs, record);
    found.push(column ? matching(column, key) : (values ?? []).filter((v) => sameKey(v, key)));
  }
  const same = outputs[0].path === outputs[1].path;
  const times = (v: unknown, list: unknown[]) => list.filter((w) => String(w) === String(v)).length;
  const id = found[0].find((v) => times(v, found[1]) >= (same ? 2 : 1));
  if (id === undefined) return undefined;
  const [first, second] = outputs.map((o) => o.path).sort();
  const outputsText = same ? `twice in ${first}` : `in ${first} and ${second}`;
  const inputs = (await inputFilesHolding(spec.idColumn, id, [...outputs[0].inputs, ...outputs[1].inputs]))
    .sort((a, b) => (a.file === b.file ? a.row - b.row : a.file < b.file ? -1 : 1)).map((at) => `${at.file} (row ${at.row})`);
  const inputsText = inputs.length === 0 ? "" : inputs.length === 1 ? `, from input file ${inputs[0]}` : `, from input files ${inputs.join(" and ")}`;
  return `duplicate ID ${String(id)} in column '${spec.idColumn}': written ${outputsText}${inputsText}. ` +
    "IDs must be unique across the input of a checkpointed job; remove the duplicate, or set CheckpointConfig allowDuplicateIds: true to write every row";
}

function matching(column: Vector, key: { low: number; high: number }): unknown[] {
  const keys = idKeys(column);
  const out: unknown[] = [];
  for (let i = 0; i < column.length; i++) if (keys[i * 2] === key.low && keys[i * 2 + 1] === key.high) out.push(column.get(i));
  return out;
}

function sameKey(value: unknown, key: { low: number; high: number }): boolean {
  const keys = new Uint32Array(2);
  valueKey(value, keys, 0);
  return keys[0] === key.low && keys[1] === key.high;
}

/** Where in the input files a value of the ID column occurs. */
async function inputFilesHolding(idColumn: string, id: unknown, specs: FileReadSpec[]): Promise<{ file: string; row: number }[]> {
  const seen = new Set<string>();
  const out: { file: string; row: number }[] = [];
  for (const spec of specs) {
    const files = spec.files.filter((f: FileRef) => !seen.has(f.path));
    files.forEach((f) => seen.add(f.path));
    if (files.length === 0) continue;
    for await (const { block, file, rowOffset } of readFileBlocks({ ...spec, files })) {
      const column = block.getChild(idColumn);
      for (let i = 0; column && i < column.length; i++) {
        if (String(column.get(i)) === String(id)) out.push({ file, row: rowOffset + i });
      }
    }
  }
  return out;
}
