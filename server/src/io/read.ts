// Worker-side reading of one read task's files, and the driver's fallback metadata path.
import type { Schema } from "apache-arrow";
import { describeSchema, splitBlockBySize } from "../block";
import { readBinaryBlocks } from "./binary";
import { projectBlock, withConstantColumns } from "./columns";
import { readCsvBlocks } from "./csv";
import { readJsonBlocks } from "./json";
import { parquetFileMetadata, readParquetBlocks } from "./parquet";
import { readTextBlocks } from "./text";
import {
  IoError, errorMessage, type FileFormat, type FileReadSpec, type FileRef, type FormatReader, type SourceBlock,
} from "./types";

const READERS: Record<FileFormat, FormatReader> = {
  parquet: readParquetBlocks,
  csv: readCsvBlocks,
  json: readJsonBlocks,
  text: readTextBlocks,
  binary: readBinaryBlocks,
};

export async function fileMetadata(format: FileFormat, file: FileRef): Promise<{ rows?: number; inMemoryBytes?: number; schema?: Schema }> {
  if (format === "parquet") return parquetFileMetadata(file);
  // Decoded text is about as large as the file; rows are unknown without reading it.
  return { inMemoryBytes: file.size };
}

export async function* readFileBlocks(spec: FileReadSpec): AsyncGenerator<SourceBlock> {
  const { columns, includePaths = false, targetBlockBytes, csv } = spec.options;
  const read = READERS[spec.format];
  let first: { file: string; schema: string } | null = null;
  for (const file of spec.files) {
    const partition = file.partition ?? {};
    const isAdded = (name: string) => name in partition || (includePaths && name === "path");
    const constants: [string, string][] = Object.entries(partition).filter(([key]) => !columns || columns.includes(key));
    if (includePaths) constants.push(["path", file.path]);
    const fileColumns = columns?.filter((name) => !isAdded(name));
    const outputColumns = columns && includePaths && !columns.includes("path") ? [...columns, "path"] : columns;
    try {
      for await (const { block, rowOffset } of read(file, { columns: fileColumns?.length ? fileColumns : undefined, csv })) {
        if (block.numRows === 0) continue;
        const output = projectBlock(withConstantColumns(block, constants), outputColumns);
        const schema = describeSchema(output.schema);
        first ??= { file: file.path, schema };
        if (schema !== first.schema) {
          throw new IoError(`columns differ across files: ${file.path} has {${schema}} but ${first.file} has {${first.schema}}`);
        }
        let pieceOffset = rowOffset;
        for (const piece of splitBlockBySize(output, targetBlockBytes)) {
          yield { block: piece, file: file.path, rowOffset: pieceOffset };
          pieceOffset += piece.numRows;
        }
      }
    } catch (e) {
      throw e instanceof IoError ? e : new IoError(`${file.path}: ${errorMessage(e)}`);
    }
  }
}
