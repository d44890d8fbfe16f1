// The options of writeParquet/writeCsv/writeJson, checked before anything runs, and the file sink they make.
import {
  FileDatasink, WRITE_MODES, describeFileSystem, describeProvider, isFilenameProvider, type FileSystem, type FilenameProvider, type WriteFormat, type WriteMode,
  type WriteOptions,
} from "../io";
import { resolveUserPath } from "./paths";

export interface SaveOptions {
  /**
   * "append" (default) adds files beside existing ones; "overwrite" replaces the folder's files when the job
   * succeeds (staged until then); "error" fails before reading anything when the folder holds files;
   * "ignore" then writes nothing (and reads nothing).
   */
  mode?: WriteMode;
  /** A configured file system (e.g. `new S3FileSystem({ endpoint })`); by default chosen by path. */
  filesystem?: FileSystem;
  /** Hive-style folders `col=value/` by these columns (values escaped, null as __HIVE_DEFAULT_PARTITION__); the files leave them out. */
  partitionCols?: string[];
  /** Each write task joins blocks until a file holds at least this many rows (its last file may hold fewer). */
  minRowsPerFile?: number;
  /** No file holds more rows than this. */
  maxRowsPerFile?: number;
  /**
   * Names each file (Ray Data's FilenameProvider): an instance of a class with getFilenameForBlock(block,
   * writeUuid, taskIndex, blockIndex, { extension, partition }). Files take these names when the job succeeds.
   */
  filenameProvider?: FilenameProvider;
}

const positiveInteger = (n: unknown) => Number.isInteger(n) && (n as number) > 0;

export function fileDatasink(format: WriteFormat, path: string, options: Omit<WriteOptions, "filesystem" | "providerSource"> & SaveOptions): FileDatasink {
  const { mode = "append", filesystem, filenameProvider, ...writeOptions } = options;
  const method = `write${format[0].toUpperCase()}${format.slice(1)}`;
  if (!WRITE_MODES.includes(mode)) throw new RangeError(`${method}: mode must be one of ${WRITE_MODES.map((m) => `"${m}"`).join(", ")}, got ${JSON.stringify(mode)}`);
  const { partitionCols, minRowsPerFile, maxRowsPerFile } = writeOptions;
  if (partitionCols !== undefined && !(Array.isArray(partitionCols) && partitionCols.length > 0 && partitionCols.every((c) => typeof c === "string" && c !== ""))) {
    throw new TypeError(`${method}: partitionCols must be a non-empty list of column names`);
  }
  for (const [name, value] of [["minRowsPerFile", minRowsPerFile], ["maxRowsPerFile", maxRowsPerFile]] as const) {
    if (value !== undefined && !positiveInteger(value)) throw new RangeError(`${method}: ${name} must be a positive integer, got ${value}`);
  }
  if (minRowsPerFile !== undefined && maxRowsPerFile !== undefined && minRowsPerFile > maxRowsPerFile) {
    throw new RangeError(`${method}: minRowsPerFile (${minRowsPerFile}) is above maxRowsPerFile (${maxRowsPerFile})`);
  }
  if (filenameProvider !== undefined && (!isFilenameProvider(filenameProvider) || format === "images")) {
    throw new TypeError(format === "images" ? `${method}: filenameProvider names block files; writeImages writes a file per row`
      : `${method}: filenameProvider must be an object with a getFilenameForBlock(block, writeUuid, taskIndex, blockIndex, details) method`);
  }
  const provided = filenameProvider && { providerSource: describeProvider(filenameProvider) };
  return new FileDatasink(format, resolveUserPath(path), mode, { ...writeOptions, ...provided, filesystem: describeFileSystem(path, filesystem) }, filenameProvider);
}
