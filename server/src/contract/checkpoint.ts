// A job's checkpoint contents (GET /jobs/:id/checkpoint and /checkpoint/{ids,rows,errors}), one page each.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Every checkpoint view is one page: `offset` and `limit` as asked (or defaulted), `total` items in all. */
export interface Page { offset: number; limit: number; total: number }

/** The largest `limit` a checkpoint view accepts; the default is CHECKPOINT_PAGE_DEFAULT. */
export const CHECKPOINT_PAGE_MAX = 1000;
export const CHECKPOINT_PAGE_DEFAULT = 100;

export interface CheckpointManifestInfo { idColumn: string; output: { path: string; format: string }; createdAt: string }

/** GET /jobs/:id/checkpoint: the checkpoint's totals; the page is of committed output files, each with its ID count. */
export interface CheckpointSummaryResponse extends Page {
  type: "checkpoint";
  jobId: string;
  path: string;
  manifest?: CheckpointManifestInfo;
  /** Attempts that have run on this checkpoint (output file prefixes). */
  attempts: string[];
  committedIds: number;
  /** Input files earlier attempts consumed whole (a resume does not read them again). */
  doneFiles: number;
  /** Errored rows whose IDs are still uncommitted (a resume processes exactly these). */
  erroredRows: number;
  files: { output: string; ids: number }[];
}

/** GET /jobs/:id/checkpoint/ids: committed IDs in commit-record order, as strings (IDs may exceed 2^53). */
export interface CheckpointIdsResponse extends Page { type: "checkpointIds"; jobId: string; ids: string[] }

/**
 * GET /jobs/:id/checkpoint/rows: rows of the committed output files, each with its file. Values are JSON:
 * 64-bit integers as decimal strings, dates as ISO strings, binary values as "<N bytes>".
 */
export interface CheckpointRowsResponse extends Page { type: "checkpointRows"; jobId: string; rows: { file: string; row: Record<string, JsonValue> }[] }

/**
 * A row a UDF failed on under onError: "skip", as recorded beside the checkpoint. On the wire its `Id`
 * is JSON (64-bit integers as strings); the engine records the ID value itself.
 */
export interface ErroredRow<Id = JsonValue> {
  id: Id;
  operator: string;
  file?: string;
  /** Position of the row in its input file, when known. */
  row?: number;
  /** The row the UDF got, as JSON (bigints as strings; long values cut). */
  input: string;
  error: string;
  stack?: string;
  at: string;
}

export type CheckpointErroredRow = ErroredRow<JsonValue>;

/** GET /jobs/:id/checkpoint/errors: errored rows that no later attempt committed. */
export interface CheckpointErrorsResponse extends Page { type: "checkpointErrors"; jobId: string; rows: CheckpointErroredRow[] }

export type CheckpointView = CheckpointSummaryResponse | CheckpointIdsResponse | CheckpointRowsResponse | CheckpointErrorsResponse;

/** The views of a job's checkpoint: GET /jobs/:id/checkpoint and /checkpoint/{ids,rows,errors}. */
export type CheckpointViewName = "summary" | "ids" | "rows" | "errors";

/** The response `type` each checkpoint view answers with. */
export const CHECKPOINT_VIEW_RESPONSE = {
  summary: "checkpoint", ids: "checkpointIds", rows: "checkpointRows", errors: "checkpointErrors",
} as const satisfies Record<CheckpointViewName, CheckpointView["type"]>;
