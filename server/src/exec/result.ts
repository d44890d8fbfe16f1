import type { ErroredRow } from "../checkpoint";
import type { WriteResult } from "../io";
import type { LogicalOp, ModuleRef } from "../plan";
import type { ProgressSnapshot } from "./progress";

export interface ExecutionOptions {
  module?: ModuleRef;
  positions?: Map<LogicalOp, number>;
  onProgress?: (snapshot: ProgressSnapshot) => void;
  signal?: AbortSignal;
}

/** What one write made (for a file write: the file). */
export type WrittenFile = WriteResult;

export interface ExecutionResult {
  rowsOut: number;
  written: WrittenFile[];
  durationMs: number;
  progress: ProgressSnapshot;
  /** The most bytes blocks held at once: queued blocks, and what running tasks' workers reported holding. */
  peakMemoryBytes: number;
  /** The most the memory budget counted at once: queued blocks and a fixed reservation per running task. */
  peakReservedBytes: number;
  /** Bytes of exchange partitions that reached the driver process (on a cluster none do: they move node to node). */
  exchangeBytesViaDriver: number;
  statsText: string;
  /** The first rows UDFs failed on under onError: "skip" (all of them are beside the checkpoint, when there is one). */
  erroredRows: ErroredRow[];
}
