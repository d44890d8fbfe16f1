// The public API: what a pipeline file gets from `import * as rd from "rdpipe"`.
import type { Table } from "apache-arrow";
import { blockFromRows, sliceBlock, type Row } from "../block";
import { FILE_FORMAT_NAMES, describeFileSystem, isS3Path, type Datasource, type FileFormat, type FileSystem, type ImageReadOptions, type ReadOptions } from "../io";
import { newOpId, type SourceDef } from "../plan";
import { resolveUserPath } from "./paths";
import { Dataset } from "./dataset";
import { checkImageReadOptions } from "./images";

export { DataContext } from "./context";
export { CheckpointConfig, CheckpointBackend, type CheckpointOptions } from "./checkpoint";
export type { ErrorPolicy } from "../plan";
export { S3FileSystem, type FileSystem, type S3Options } from "../io";
export type { Datasource, FileRef, ReadBlock, ReadContext, ReadEstimate, ReadOutput, ReadTask, ReadTaskMetadata } from "../io";
export type { Datasink, FilenameDetails, FilenameProvider, WriteContext, WriteResult } from "../io";
export type { ResourceLimits } from "./context";
export { readSql, sqlite, postgres } from "./sql";
export type { ImageFormat, ImageMode, ImageReadOptions, ImageWriteOptions } from "../io";
export { SqlRowError, type BetterSqlite3Database, type ConnectionFactory, type SqlColumn, type SqlConnection, type SqlReadOptions, type SqlRows, type SqlType, type SqlValue, type SqliteOptions, type PgConfig } from "../io";
export { Dataset, GroupedData } from "./dataset";
export { readLance, type LanceReadOptions } from "./lance";
export type { LanceWriteOptions } from "../io";
export type { Batch, RowFn, UdfClass, IterBatchesOptions, RunOptions } from "./dataset";
export { DataIterator } from "./batches";
export type { ActorOptions, JoinOptions, JoinType, MapOptions } from "../plan";
export {
  BacklogActorPoolAutoscaler, QueuedWorkClusterAutoscaler, type ActorPoolAutoscaler, type ActorPoolUsage, type ClusterAutoscaler, type ClusterUsage,
} from "../exec";
export { Cluster, CommandNodeProvider, LocalNodeProvider, type CommandNodeProviderOptions, type ClusterOptions, type NodeProvider, type LaunchedNode, type HeadAddress, type NodeInfo, type TlsFiles } from "../cluster";
export { Count, Sum, Min, Max, Mean, Std, customAggregate } from "./aggregate";
export { Expr, StringFunctions, col, lit, type ExprLike } from "./expressions";
export type { ColumnSummary } from "./summary";
export type { SaveOptions } from "./write-options";
export type { CastType } from "../plan";
export { AbsMax, Quantile, Unique, CountDistinct, AsList, ApproximateQuantile, ApproximateTopK, builtinAggregate } from "./aggregate-more";
export type { AggregateFn } from "../plan";
export type { ExecutionResult, ProgressSnapshot } from "../exec";
export type { Block, Row, Columns, BatchFormat } from "../block";

export interface FileReadOptions {
  /** "hive" (default) turns key=value directories into columns; null ignores them. */
  partitioning?: "hive" | null;
  /** Adds a `path` column with each row's file. */
  includePaths?: boolean;
  /** Only files with these extensions are read. */
  fileExtensions?: string[];
  /** Only these columns are read. */
  columns?: string[];
  /** Exact number of read tasks (also turns off the accelerated metadata path, as in RayTurbo). */
  overrideNumBlocks?: number;
  /** A configured file system (e.g. `new S3FileSystem({ endpoint, region, credentials })`); by default chosen by path. */
  filesystem?: FileSystem;
}

export interface CsvReadOptions extends FileReadOptions {
  delimiter?: string;
  /** Whether the first line names the columns (default true). */
  header?: boolean;
}

function readFiles(format: FileFormat, paths: string | string[], options: FileReadOptions, extra: Partial<ReadOptions> = {}): Dataset {
  const list = [paths].flat();
  if (list.length === 0 || list.some((p) => typeof p !== "string" || p === "")) {
    throw new TypeError(`Read${FILE_FORMAT_NAMES[format]}: expected a path or a list of paths, got ${JSON.stringify(paths)}`);
  }
  const source: SourceDef = {
    type: "files", format, paths: list.map(resolveUserPath), fileExtensions: options.fileExtensions,
    partitioning: options.partitioning === undefined ? "hive" : options.partitioning,
    options: { columns: options.columns, includePaths: options.includePaths, filesystem: describeFileSystem(list.find(isS3Path) ?? list[0], options.filesystem), ...extra },
  };
  return new Dataset({ id: newOpId(), kind: "read", name: `Read${FILE_FORMAT_NAMES[format]}`, source, overrideNumBlocks: options.overrideNumBlocks });
}

export const readParquet = (paths: string | string[], options: FileReadOptions = {}) => readFiles("parquet", paths, options);
export const readCsv = (paths: string | string[], options: CsvReadOptions = {}) =>
  readFiles("csv", paths, options, { csv: { delimiter: options.delimiter, header: options.header } });
/** JSON Lines files, or files holding one JSON array of objects. */
export const readJson = (paths: string | string[], options: FileReadOptions = {}) => readFiles("json", paths, options);
/** One row per line, in a column `text`. */
export const readText = (paths: string | string[], options: FileReadOptions = {}) => readFiles("text", paths, options);
/** One row per file, in a column `bytes`. */
export const readBinaryFiles = (paths: string | string[], options: FileReadOptions = {}) => readFiles("binary", paths, options);
/** One row per image file: raw pixels in `image` (height × width × channels bytes) with `height`, `width`, `channels`. */
export const readImages = (paths: string | string[], options: FileReadOptions & ImageReadOptions = {}) =>
  readFiles("images", paths, options, { image: checkImageReadOptions(options) });

/**
 * Rows from a datasource (Ray Data's read_datasource): its read tasks are planned here and read in
 * workers, which find the datasource by evaluating the pipeline file, so define it in a *.rdpipe.ts file.
 */
export function readDatasource(datasource: Datasource, options: { overrideNumBlocks?: number } = {}): Dataset {
  const problem = datasource === null || typeof datasource !== "object" ? `got ${String(datasource)}`
    : typeof datasource.getReadTasks !== "function" || typeof datasource.read !== "function" ? "it needs getReadTasks and read methods"
    : typeof datasource.name !== "string" || datasource.name === "" ? "it needs a name" : undefined;
  if (problem) throw new TypeError(`readDatasource: expected a Datasource; ${problem}`);
  const { overrideNumBlocks } = options;
  if (overrideNumBlocks !== undefined && !(Number.isInteger(overrideNumBlocks) && overrideNumBlocks > 0)) {
    throw new RangeError(`readDatasource: overrideNumBlocks must be a positive integer, got ${overrideNumBlocks}`);
  }
  return new Dataset({ id: newOpId(), kind: "read", name: `Read${datasource.name}`, source: { type: "datasource", datasource }, overrideNumBlocks });
}

/** Integers 0..n-1 in one column `id`. */
export function range(n: number, options: { overrideNumBlocks?: number } = {}): Dataset {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`range: expected a non-negative integer, got ${n}`);
  return new Dataset({ id: newOpId(), kind: "read", name: "ReadRange", source: { type: "range", n }, overrideNumBlocks: options.overrideNumBlocks });
}

/** A dataset of in-memory items; items that are not objects become rows { item }. */
export function fromItems(items: unknown[], options: { overrideNumBlocks?: number } = {}): Dataset {
  if (!Array.isArray(items)) throw new TypeError("fromItems: expected an array");
  const rows: Row[] = items.map((item) =>
    item !== null && typeof item === "object" && !Array.isArray(item) && !(item instanceof Date) ? (item as Row) : { item });
  const numBlocks = options.overrideNumBlocks ?? Math.min(rows.length, 16);
  const perBlock = Math.max(1, Math.ceil(rows.length / Math.max(1, numBlocks)));
  // One block first, then slices: every block has every key any item has (null where an item lacks it), in one schema.
  const all = blockFromRows(rows);
  const blocks = [];
  for (let start = 0; start < rows.length; start += perBlock) blocks.push(sliceBlock(all, start, Math.min(rows.length, start + perBlock)));
  return new Dataset({ id: newOpId(), kind: "read", name: "FromItems", source: { type: "blocks", blocks } });
}

export function fromArrow(tables: Table | Table[]): Dataset {
  return new Dataset({ id: newOpId(), kind: "read", name: "FromArrow", source: { type: "blocks", blocks: [tables].flat() } });
}

