// Messages between the driver and its worker threads. Everything here is structured-clone data.
import type { ErroredRow, FinishedIds, SharedIds } from "../checkpoint";
import type { TaskRead, WriteResult } from "../io";
import type { ModuleRef } from "../plan";
import type { ExchangeMapSpec, ExchangeReduceSpec, MapOutput, SinkSpec, TransformSpec, UdfRef } from "../plan";

export interface BlockOrigin {
  /** The input file the block's rows came from, when there is one. */
  file?: string;
  /** Position of the block's first row in that file (or in the source). */
  rowOffset: number;
  /** False once a transform changed the row count: positions inside the block no longer map to the input. */
  exact?: boolean;
}

/** A read task of a datasource, or the blocks an upstream stage made. */
export type TaskInput =
  | ({ kind: "read" } & TaskRead)
  | { kind: "blocks"; blocks: Uint8Array[]; origins: BlockOrigin[] }
  /** A reduce task of an exchange: its partition's pieces from every map output. */
  | { kind: "exchange"; reduce: ExchangeReduceSpec };

/** Bytes of the blocks a task's input carries in its message (none for a read or a reduce: those it reads itself). */
export function inputBytes(input: TaskInput): number {
  return input.kind === "blocks" ? input.blocks.reduce((sum, ipc) => sum + ipc.byteLength, 0) : 0;
}

export interface TaskSpec {
  taskId: number;
  /** The stage's display name, e.g. "ReadParquet->Map(parse)". */
  stage: string;
  module?: ModuleRef;
  input: TaskInput;
  transforms: TransformSpec[];
  sink?: SinkSpec & { taskIndex: number };
  /** The task feeds an exchange: it partitions its output (see exec/exchange) and reports a "mapOutput". */
  exchangeMap?: ExchangeMapSpec;
  targetBlockBytes: number;
  /** Outputs an earlier attempt of this task already delivered; the retry drops that many. */
  skipOutputs: number;
  /** A retried checkpointed write: drop the rows this task already committed and number files after them. */
  continueFromCommits?: boolean;
  /** Output blocks the task may send before it waits for a credit (backpressure inside a task). */
  outputCredits: number;
  /** The column that identifies rows (a checkpointed job's idColumn): errors and errored rows name it. */
  idColumn?: string;
  /** IDs an earlier attempt committed: dropped as the input is read, before any UDF. Shared memory, not copied. */
  committedIds?: SharedIds;
  /** IDs of an earlier attempt's finished tasks, loaded (and dropped) only where a block's IDs reach into their range. */
  finishedIds?: FinishedIds;
}

export interface TaskErrorInfo {
  kind: "udf" | "input" | "internal";
  message: string;
  stack?: string;
  operator?: string;
  file?: string;
  /** Position of the failing row in its file (or source), when known. */
  row?: number;
  rowPreview?: string;
  /** The failing row as JSON, for debugging it: bigints as decimal strings, cut (ending in …) past 64 KiB. */
  rowInput?: string;
  /** The failing row's ID, when the job has an ID column. */
  id?: string;
  /** A reduce task could not fetch partitions from this node (it is lost): the task is retried as lost, once they are recomputed. */
  peerLost?: number;
}

/** What turns a worker into an actor: the class (found like any UDF) and its constructor's arguments. */
export interface ActorInit {
  stage: string;
  module?: ModuleRef;
  udf: UdfRef;
  constructorArgs: unknown[];
  /** Calls of the instance that may run at once, across all the actor's tasks. */
  maxConcurrency: number;
}

/**
 * What every message of a running task carries besides its own fields: the bytes the task holds, as the
 * growth of its worker isolate's external memory since the task started, its input included (its blocks'
 * ArrayBuffers, their IPC copies not yet sent, a decoder's wasm memory), measured as the message leaves.
 */
export interface TaskReport { held?: number }

export type WorkerMessage =
  | { type: "ready" }
  /** Answers "drain": no write this worker started can create a file any more. */
  | { type: "drained" }
  | { type: "constructed" }
  | { type: "constructFailed"; error: TaskErrorInfo }
  | { type: "output"; taskId: number; ipc: Uint8Array; rows: number; bytes: number; origin: BlockOrigin }
  /** What the datasink's write returned; idKeys: the committed file's IDs as 64-bit keys (idKeys()), for the driver's duplicate check. */
  | { type: "written"; taskId: number; result: WriteResult; committed: boolean; idKeys?: Uint32Array }
  /** Rows read (from a file, or made by a datasource without files); alreadyDone of them were committed by an earlier attempt and dropped. schema: its columns, "name: Type" each. */
  | { type: "inputRows"; taskId: number; rows: number; alreadyDone: number; file?: string; schema: string[] }
  /** A row a UDF failed on under onError: "skip". */
  | { type: "rowError"; taskId: number; row: ErroredRow }
  /** A write task's first block's schema (as IPC of no rows): the driver answers with the output's fixed schema. */
  | { type: "schema"; taskId: number; ipc: Uint8Array }
  /** A map task of an exchange is done partitioning: where its chunks are. */
  | { type: "mapOutput"; taskId: number; output: MapOutput }
  /** A reduce task fetched this many bytes of partitions from another node. */
  | { type: "moved"; taskId: number; bytes: number }
  /**
   * A write task has made all its blocks and only its last writes are still in flight (a file's sync
   * takes tens of milliseconds): its worker has room for another task meanwhile. "done" follows.
   */
  | { type: "flushing"; taskId: number }
  | { type: "done"; taskId: number; udfMs: number }
  | { type: "error"; taskId: number; error: TaskErrorInfo };

export type DriverMessage =
  | { type: "run"; task: TaskSpec }
  | { type: "construct"; actor: ActorInit }
  | { type: "cancel"; taskId: number }
  | { type: "credit"; taskId: number }
  /**
   * The schema every block of the task's output must have (the operator's, fixed by its first block);
   * fixedBy, for errors, when something else fixed it (a resume: the schema an earlier attempt recorded).
   */
  | { type: "schema"; taskId: number; ipc: Uint8Array; fixedBy?: string }
  /** Before the worker is ended for a job that ended: stop its uploads (see io's stopUploads), then answer "drained". */
  | { type: "drain" }
  /** The file formats a job reads or writes, sent as it starts: the worker loads their libraries before its first task needs them. */
  | { type: "prepare"; formats: string[] };
