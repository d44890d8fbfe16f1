import { blockFromColumns, utf8Vector } from "../block";
import { columnsToRead } from "./columns";
import type { FileSystem } from "./fs";
import { fileLines } from "./lines";
import { LINES_PER_BLOCK, type FileBlock, type FileRef, type FormatReadOptions } from "./types";

/** One row per line, in a Utf8 column `text`. */
export async function* readTextBlocks(file: FileRef, fs: FileSystem, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  columnsToRead(["text"], options.columns, file.path, options.optionalColumns);
  let pending: string[] = [];
  let rowOffset = 0;
  const buildBlock = (): FileBlock => {
    const block = { block: blockFromColumns({ text: utf8Vector(pending) }), rowOffset };
    rowOffset += pending.length;
    pending = [];
    return block;
  };
  for await (const line of fileLines(fs, file.path)) {
    pending.push(line);
    if (pending.length >= LINES_PER_BLOCK) yield buildBlock();
  }
  if (pending.length > 0) yield buildBlock();
}
