import { Binary, makeData, makeVector } from "apache-arrow";
import { blockFromColumns } from "../block";
import { columnsToRead } from "./columns";
import type { FileSystem } from "./fs";
import type { FileBlock, FileRef, FormatReadOptions } from "./types";

/** One row per file, its whole content in a Binary column `bytes`. */
export async function* readBinaryBlocks(file: FileRef, fs: FileSystem, options: FormatReadOptions): AsyncGenerator<FileBlock> {
  columnsToRead(["bytes"], options.columns, file.path, options.optionalColumns);
  const content = await fs.readAll(file.path);
  const bytes = makeVector(makeData({
    type: new Binary(), length: 1, nullCount: 0, valueOffsets: new Int32Array([0, content.length]), data: content,
  }));
  yield { block: blockFromColumns({ bytes }), rowOffset: 0 };
}
