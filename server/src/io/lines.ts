import { createInterface } from "node:readline";
import type { FileSystem } from "./fs";

/** Lines of a text file without their terminators (\n or \r\n) or a leading byte order mark; a final newline adds no empty line. */
export async function* fileLines(fs: FileSystem, path: string): AsyncGenerator<string> {
  const stream = fs.readStream(path);
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
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
    for await (const chunk of stream as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    stream.destroy();
  }
}
