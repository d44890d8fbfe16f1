import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

/** Lines of a text file without their terminators (\n or \r\n); a final newline adds no empty line. */
export async function* fileLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    yield* lines;
  } finally {
    lines.close();
    stream.destroy();
  }
}
