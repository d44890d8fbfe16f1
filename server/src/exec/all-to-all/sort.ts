// Sort: a stable multi-key sort of the whole input, by typed index arrays (radix or counting sort).
import { DataType, type Vector } from "apache-arrow";
import { type Block, BlockError, blockBytes, columnValues, concatBlocks, takeRows, takeVector } from "../../block";
import type { SortKey } from "../../plan";
import { compareScalars, countingSort, identityIndices, requireColumn, splitEvenly } from "./rows";

/** Stable sort by key columns; nulls (and NaN, just before them) come last in either direction. */
export function sortBlocks(blocks: Block[], key: SortKey, descending: boolean | boolean[] = false): Block[] {
  const { all, order } = sortOrder(blocks, key, descending);
  if (!order) return [all];
  return splitEvenly(takeRows(all, order), Math.max(1, blocks.length));
}

/**
 * The rows sorted as sortBlocks sorts them, gathered one piece of about `targetBytes` at a time: the
 * sorted copy is never whole beside the input.
 */
export function* sortedPieces(blocks: Block[], key: SortKey, descending: boolean[], targetBytes: number): Iterable<Block> {
  const { all, order } = sortOrder(blocks.splice(0), key, descending);
  if (!order) return;
  const rowsPerPiece = Math.max(1, Math.floor((all.numRows * targetBytes) / Math.max(1, blockBytes(all))));
  for (let start = 0; start < order.length; start += rowsPerPiece) yield takeRows(all, order.subarray(start, start + rowsPerPiece));
}

/** The blocks as one, and the order of its rows by the keys (none for a block without columns). */
function sortOrder(blocks: Block[], key: SortKey, descending: boolean | boolean[]): { all: Block; order?: Uint32Array } {
  const keys = typeof key === "string" ? [key] : key;
  if (keys.length === 0) throw new BlockError("sort needs at least one key column");
  const directions = Array.isArray(descending) ? descending : keys.map(() => descending);
  if (directions.length !== keys.length) {
    throw new BlockError(`sort got ${keys.length} key column(s) but ${directions.length} descending flag(s)`);
  }
  const all = concatBlocks(blocks);
  if (all.numRows === 0 && all.numCols === 0) return { all };
  const vectors = keys.map((name) => requireColumn(all, name, "sort"));
  // Least significant key first: each pass is stable, so it keeps the order later keys set among equals.
  let order = identityIndices(all.numRows);
  for (let k = keys.length - 1; k >= 0; k--) order = sortRowsByKey(order, keys[k], vectors[k], directions[k]);
  return { all, order };
}

/**
 * Stably reorders `rows` by one key column, NaN then nulls last. Without a comparator: numbers go
 * through a radix sort, other values through ranks and a counting sort, both far faster than
 * Array#sort with a comparator on a million rows.
 */
function sortRowsByKey(rows: Uint32Array, column: string, vector: Vector, descending: boolean): Uint32Array {
  if (!isSortable(vector.type)) throw new BlockError(`sort: column '${column}' has type ${vector.type}, which cannot be a sort key`);
  const words = typedSortWords(rows, vector);
  if (words) return radixSortByWords(rows, words, descending);
  const values = columnValues(vector);
  const valued: number[] = [], nans: number[] = [], nulls: number[] = [];
  let onlyNumbers = true;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i], v = values[row];
    if (v === null) nulls.push(row);
    else if (v !== v) nans.push(row);
    else {
      valued.push(row);
      if (typeof v !== "number" && typeof v !== "boolean") onlyNumbers = false;
    }
  }
  const valuedRows = Uint32Array.from(valued);
  const sorted = onlyNumbers ? radixSortByNumber(valuedRows, values, descending) : sortByRank(valuedRows, values, descending);
  const out = new Uint32Array(rows.length);
  out.set(sorted);
  out.set(nans, sorted.length);
  out.set(nulls, sorted.length + nans.length);
  return out;
}

function isSortable(type: DataType): boolean {
  const isString = (t: DataType) => DataType.isUtf8(t) || DataType.isLargeUtf8(t);
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isBool(type) || isString(type) ||
    DataType.isTimestamp(type) || DataType.isDate(type) || (DataType.isDictionary(type) && isString(type.dictionary));
}

/** LSD radix sort (4 passes of 16 bits) of rows by the IEEE-754 bits of their values, made order-preserving. */
function radixSortByNumber(rows: Uint32Array, values: unknown[], descending: boolean): Uint32Array {
  const n = rows.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = Number(values[rows[i]]);
  return radixSortByWords(rows, orderedFloatWords(keys), descending);
}

/**
 * Order-preserving key words (low, high unsigned 32-bit halves) of the rows' values, read from the
 * column's typed arrays: int64 exactly as its two words, other numbers as float64 bits. Undefined
 * (sort by decoded values) for other types and for columns with nulls or NaN, which go last.
 */
function typedSortWords(rows: Uint32Array, vector: Vector): Uint32Array | undefined {
  const type = vector.type;
  if (vector.nullCount > 0 || !(DataType.isInt(type) || (DataType.isFloat(type) && type.precision !== 0))) return undefined;
  const values = takeVector(vector, rows).data[0].values as Float64Array;
  const n = rows.length;
  if (DataType.isInt(type) && type.bitWidth === 64) {
    const source = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
    const words = new Uint32Array(2 * n);
    const sign = type.isSigned ? 0x80000000 : 0;
    for (let i = 0; i < n; i++) {
      words[2 * i] = source[2 * i];
      words[2 * i + 1] = source[2 * i + 1] ^ sign;
    }
    return words;
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v !== v) return undefined;
    keys[i] = v;
  }
  return orderedFloatWords(keys);
}

/** The float64 keys' bits as unsigned words that order as the numbers do (-0 as 0), in place. */
function orderedFloatWords(keys: Float64Array): Uint32Array {
  // Little-endian (every platform Node runs on): word 2i is the low half of keys[i], 2i+1 the high half.
  const words = new Uint32Array(keys.buffer);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === 0) keys[i] = 0; // -0 equals 0
    const negative = (words[2 * i + 1] & 0x80000000) !== 0;
    words[2 * i] = negative ? ~words[2 * i] : words[2 * i];
    words[2 * i + 1] = negative ? ~words[2 * i + 1] : words[2 * i + 1] | 0x80000000;
  }
  return words;
}

/** Stable LSD radix sort of `rows` by their key words (word pair i is rows[i]'s): 4 passes of 16 bits, a pass whose digits are all equal skipped. */
function radixSortByWords(rows: Uint32Array, words: Uint32Array, descending: boolean): Uint32Array {
  const n = rows.length;
  if (descending) for (let i = 0; i < words.length; i++) words[i] = ~words[i];
  let positions = identityIndices(n);
  const digits = new Uint32Array(n);
  for (let pass = 0; pass < 4; pass++) {
    const word = pass >> 1, shift = (pass & 1) * 16;
    let allSame = true;
    for (let i = 0; i < n; i++) {
      digits[i] = (words[2 * i + word] >>> shift) & 0xffff;
      if (digits[i] !== digits[0]) allSame = false;
    }
    if (!allSame) positions = countingSort(positions, digits, 0x10000).sorted;
  }
  for (let i = 0; i < n; i++) positions[i] = rows[positions[i]];
  return positions;
}

/** Counting sort by each value's rank among the distinct values (strings; int64 beyond 2^53). */
function sortByRank(rows: Uint32Array, values: unknown[], descending: boolean): Uint32Array {
  const distinct = [...new Set(Array.from(rows, (row) => values[row]))];
  const needsCodePointOrder = distinct.some((v) => typeof v === "string" && NON_BMP_OR_HIGH_CODE_UNIT.test(v));
  if (typeof distinct[0] === "string" && !needsCodePointOrder) distinct.sort(); // default order: UTF-16 code units
  else distinct.sort(compareScalars);
  if (descending) distinct.reverse();
  const rankOf = new Map<unknown, number>();
  for (let i = 0; i < distinct.length; i++) rankOf.set(distinct[i], i);
  const ranks = new Uint32Array(values.length);
  for (let i = 0; i < rows.length; i++) ranks[rows[i]] = rankOf.get(values[rows[i]])!;
  return countingSort(rows, ranks, distinct.length).sorted;
}

const NON_BMP_OR_HIGH_CODE_UNIT = /[\uD800-\uFFFF]/;
