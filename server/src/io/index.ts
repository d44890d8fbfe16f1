// Data in and out: datasources (files of every format, range, in-memory blocks, user-defined ones),
// datasinks (files of every format, user-defined ones), listing (with hive partitions), per-format
// readers that stream Arrow blocks, footer metadata, and atomic single-file writers.
export type { FileFormat, FileRef, ReadOptions, FileReadSpec, SourceBlock, WriteFormat, WriteOptions } from "./types";
export type { ImageFormat, ImageMode, ImageReadOptions, ImageWriteOptions } from "./types";
export { IoError, errorMessage, pathError } from "./errors";
export { isIgnoredName, listFiles, streamFiles } from "./files";
export { S3FileSystem, describeFileSystem, fileSystemFor, isS3Path, stopUploads, type FileSystem, type FileSystemDescription, type S3Options } from "./fs";
export { assertSameFileSchema, fileMetadata, parquetReadSchema, readFileBlocks } from "./read";
export { MetadataCache, metadataCacheDir, type FileMetadata } from "./metadata-cache";
export { writeBlock, fileExtension, removeWrittenFiles } from "./write";
export { datasinkName, type Datasink, type WriteContext, type WriteResult } from "./datasink";
export { FileDatasink, WRITE_MODES, type FileOutput, type FileWriteResult, type WriteMode } from "./file-sink";
export {
  applyRenames, describeProvider, isFilenameProvider, occupiedTarget, renameCollisions,
  type FilenameDetails, type FilenameProvider, type ProviderSource, type Rename, type RenameProblem,
} from "./filename-provider";
export { builtinDatasink, builtinSinkSpec, type BuiltinSinkSpec } from "./builtin-sinks";
export { OverwriteStage } from "./overwrite";
export { json, readJsonFile } from "./json-file";
export type { Datasource, ReadBlock, ReadContext, ReadEstimate, ReadOutput, ReadTask, ReadTaskMetadata } from "./datasource";
export { FILE_FORMAT_NAMES } from "./file-datasource";
export { ReadPlanner, builtinRead, fileReadSpecOf, sourceFiles, sourceFooterRows, sourceSchema, taskBlocks, type SourceDef, type TaskBlock, type TaskRead } from "./source";
export { HIVE_NULL, mayMatch, partitionStats, pruneText, type ColumnStats, type PrunePredicate, type PruneValue } from "./prune";
export { isAliveHere, thisProcess, type ProcessIdentity } from "./process-identity";
export { LanceDatasink, lanceLocation, lanceOutput, type LanceNearest, type LanceOutput, type LanceSource, type LanceWriteMode, type LanceWriteOptions } from "./lance";
export {
  SqlDatasink, SqlDatasource, SqlRowError, asSqlConnection, postgresFactory, sqliteFactory, type BetterSqlite3Database, type ConnectionFactory,
  type PgClient, type PgConfig, type SqlColumn, type SqlConnection, type SqlReadOptions, type SqlRows, type SqlType, type SqlValue, type SqliteOptions,
} from "./sql";
export { loadFormatLibraries } from "./parquet-wasm";
