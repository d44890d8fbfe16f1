import type { CheckpointBackendKind, CheckpointSettings } from "../checkpoint";
import { describeFileSystem, type FileSystem } from "../io";
import { resolveUserPath } from "./paths";

/** How checkpoint records are stored (Ray's CheckpointBackend): one Parquet file of IDs per output file, or one ID per line. */
export const CheckpointBackend = { BATCH: "batch", ROW: "row" } as const;

export interface CheckpointOptions {
  /** The column that identifies each row; it must be unique and reach the write unchanged. */
  idColumn: string;
  /** Where the checkpoint lives: a folder on a shared file system (relative to the pipeline file), or s3://bucket/prefix. */
  checkpointPath: string;
  /** Remove the checkpoint when the job succeeds (default true, as in Ray); kept while errored rows wait for a resume. */
  deleteCheckpointOnSuccess?: boolean;
  /** The file system for the checkpoint (e.g. an S3FileSystem with other credentials); by default chosen by path. */
  overrideFilesystem?: FileSystem;
  /** "batch" (default) or "row". */
  overrideBackend?: CheckpointBackendKind;
  /**
   * Write every row even when its ID is not unique (default false: an ID committed twice in one run
   * fails the job, naming the ID and the files that hold it).
   */
  allowDuplicateIds?: boolean;
}

/** Job-level checkpointing, set on `DataContext.getCurrent().checkpointConfig` before the dataset is built. */
export class CheckpointConfig {
  readonly idColumn: string;
  readonly checkpointPath: string;
  readonly deleteCheckpointOnSuccess: boolean;
  readonly overrideFilesystem?: FileSystem;
  readonly overrideBackend: CheckpointBackendKind;
  readonly allowDuplicateIds: boolean;

  constructor(options: CheckpointOptions) {
    if (typeof options?.idColumn !== "string" || options.idColumn === "") throw new TypeError("CheckpointConfig: idColumn must name a column");
    if (typeof options.checkpointPath !== "string" || options.checkpointPath === "") throw new TypeError("CheckpointConfig: checkpointPath is required");
    const backend = options.overrideBackend ?? "batch";
    if (backend !== "batch" && backend !== "row") throw new TypeError(`CheckpointConfig: overrideBackend must be "batch" or "row", got ${JSON.stringify(backend)}`);
    this.idColumn = options.idColumn;
    this.checkpointPath = resolveUserPath(options.checkpointPath);
    this.deleteCheckpointOnSuccess = options.deleteCheckpointOnSuccess ?? true;
    this.overrideFilesystem = options.overrideFilesystem;
    this.overrideBackend = backend;
    this.allowDuplicateIds = options.allowDuplicateIds ?? false;
  }

  settings(): CheckpointSettings {
    return {
      idColumn: this.idColumn, checkpointPath: this.checkpointPath, deleteCheckpointOnSuccess: this.deleteCheckpointOnSuccess,
      filesystem: describeFileSystem(this.checkpointPath, this.overrideFilesystem), backend: this.overrideBackend,
      allowDuplicateIds: this.allowDuplicateIds,
    };
  }
}
