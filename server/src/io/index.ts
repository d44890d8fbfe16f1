// Files in and out: listing (with hive partitions), per-format readers that stream Arrow blocks,
// footer metadata, and atomic single-file writers.
export {
  IoError,
  type FileFormat, type FileRef, type ReadOptions, type FileReadSpec, type SourceBlock, type WriteFormat, type WriteOptions,
} from "./types";
export { isIgnoredName, listFiles } from "./files";
export { fileMetadata, readFileBlocks } from "./read";
export { writeBlock, fileExtension, removeWrittenFiles } from "./write";
