import { createInterface } from "node:readline";
import { Transform, pipeline } from "node:stream";
import type { FileSystem } from "./fs";
import { IoError } from "./errors";

/**
 * The file's bytes, unchanged, failing at the first byte that is not UTF-8 with an error naming the
 * file and line: text must not pass with U+FFFD in place of what the file held.
 */
export function strictUtf8(path: string): Transform {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let line = 1;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        const bad = firstInvalidByte(chunk);
        return done(new IoError(`${path}: line ${line + newlines(chunk, bad)}: not valid UTF-8 (byte 0x${chunk[bad]?.toString(16) ?? "??"}); save the file as UTF-8`));
      }
      line += newlines(chunk, chunk.length);
      done(null, chunk);
    },
    flush(done) {
      try {
        decoder.decode();
        done();
      } catch {
        done(new IoError(`${path}: line ${line}: not valid UTF-8 (the file ends inside a character)`));
      }
    },
  });
}

function newlines(bytes: Buffer, end: number): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at >= 0 && at < end; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}

/** Where in the chunk decoding first fails (found by halving: only on an error). */
function firstInvalidByte(chunk: Buffer): number {
  let good = 0, bad = chunk.length;
  while (bad - good > 1) {
    const mid = (good + bad) >> 1;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(chunk.subarray(0, mid), { stream: true });
      good = mid;
    } catch {
      bad = mid;
    }
  }
  return good;
}

/** Lines of a text file without their terminators (\n or \r\n) or a leading byte order mark; a final newline adds no empty line. */
export async function* fileLines(fs: FileSystem, path: string): AsyncGenerator<string> {
  const stream = fs.readStream(path);
  const lines = createInterface({ input: pipeline(stream, strictUtf8(path), () => undefined), crlfDelay: Infinity });
  let first = true;
  try {
    for await (const line of lines) {
      yield first ? line.replace(/^\uFEFF/, "") : line;
      first = false;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** A text file as decoded UTF-8 pieces. */
export async function* fileText(fs: FileSystem, path: string): AsyncGenerator<string> {
  const stream = fs.readStream(path);
  const decoder = new TextDecoder();
  try {
    for await (const chunk of pipeline(stream, strictUtf8(path), () => undefined) as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    stream.destroy();
  }
}
