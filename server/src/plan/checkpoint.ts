import type { FileSystemDescription } from "../io";

export type CheckpointBackendKind = "batch" | "row";

/** What a write task needs to commit its output: plain data, sent to workers. */
export interface CheckpointSpec {
  path: string;
  idColumn: string;
  backend: CheckpointBackendKind;
  filesystem?: FileSystemDescription;
  /** This attempt's output file prefix. */
  attempt: string;
  /** Each committed file's IDs go to the driver, which fails the job on an ID met twice. */
  checkDuplicateIds?: boolean;
}
