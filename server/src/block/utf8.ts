// Utf8 columns to and from JS strings in one pass over the data buffer: one TextDecoder call for a
// column's bytes, then each value a substring of it (the offsets give where); one TextEncoder call for
// a column's strings joined, when they are ASCII (byte offsets are then character offsets).
import { Utf8, makeData, makeVector, type Data, type Vector } from "apache-arrow";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** True when row i of data is null (validity bit clear). */
export function isNullAt(data: Data, i: number): boolean {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return false;
  const bit = data.offset + i;
  return (data.nullBitmap[bit >> 3] & (1 << (bit & 7))) === 0;
}

/** A Utf8 chunk (32-bit offsets) decoded into into[at..at+length). */
export function decodeUtf8Into(data: Data<Utf8>, into: unknown[], at: number): void {
  const n = data.length;
  const offsets = data.valueOffsets;
  const bytes = data.values;
  const base = offsets[0];
  const end = offsets[n];
  const text = decoder.decode(bytes.subarray(base, end));
  if (text.length === end - base) {
    for (let i = 0; i < n; i++) into[at + i] = text.substring(offsets[i] - base, offsets[i + 1] - base);
  } else if (!substringsByCharOffsets(text, bytes, offsets, n, into, at)) {
    // Not valid UTF-8 (the decoder's replacement characters shift offsets): value by value.
    for (let i = 0; i < n; i++) into[at + i] = decoder.decode(bytes.subarray(offsets[i], offsets[i + 1]));
  }
  if (data.nullCount > 0) for (let i = 0; i < n; i++) if (isNullAt(data, i)) into[at + i] = null;
}

/** Values as substrings of text, counting UTF-16 units byte by byte; false when the counts do not add up. */
function substringsByCharOffsets(text: string, bytes: Uint8Array, offsets: Int32Array, n: number, into: unknown[], at: number): boolean {
  let chars = 0;
  let b = offsets[0];
  for (let i = 0; i < n; i++) {
    const start = chars;
    const end = offsets[i + 1];
    for (; b < end; b++) {
      const c = bytes[b];
      if ((c & 0xc0) !== 0x80) chars += c >= 0xf0 ? 2 : 1;
    }
    into[at + i] = text.substring(start, chars);
  }
  return chars === text.length;
}

/** Builds a Utf8 column directly (vectorFromArray would make a slow Dictionary column). */
export function utf8Vector(values: ArrayLike<string | null | undefined>): Vector<Utf8> {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  let nullBitmap: Uint8Array | undefined;
  let nullCount = 0;
  const parts = new Array<string>(n);
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const s = values[i];
    if (s === null || s === undefined) {
      nullBitmap ??= new Uint8Array(((n + 7) >> 3)).fill(0xff);
      nullBitmap[i >> 3] &= ~(1 << (i & 7));
      nullCount++;
      parts[i] = "";
    } else {
      parts[i] = typeof s === "string" ? s : String(s);
      chars += parts[i].length;
    }
    offsets[i + 1] = chars;
  }
  let bytes: Uint8Array = encoder.encode(parts.join(""));
  // Not all ASCII: byte offsets differ from character offsets, so each value is encoded in turn.
  if (bytes.length !== chars) bytes = encodeEach(parts, offsets);
  const data = makeData({ type: new Utf8(), length: n, nullCount, nullBitmap, valueOffsets: offsets, data: bytes });
  return makeVector(data);
}

function encodeEach(parts: string[], offsets: Int32Array): Uint8Array {
  let bytes = new Uint8Array(Math.max(64, parts.length * 16));
  let pos = 0;
  for (let i = 0; i < parts.length; i++) {
    const needed = pos + parts[i].length * 3;
    if (needed > bytes.length) {
      const grown = new Uint8Array(Math.max(needed, bytes.length * 2));
      grown.set(bytes.subarray(0, pos));
      bytes = grown;
    }
    pos += encoder.encodeInto(parts[i], bytes.subarray(pos)).written;
    offsets[i + 1] = pos;
  }
  return bytes.subarray(0, pos);
}
