import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

/** Lines of a text file without their terminators (\n or \r\n) or a leading byte order mark; a final newline adds no empty line. */
export async function* fileLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: "utf8" });
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
