// Datasink: where a job's rows go (Ray Data's Datasink). The driver starts it, write tasks in workers
// each write blocks to it, and the driver commits it once every write succeeded, or aborts it.
import type { Block } from "../block";

/** What one write made: where the block went (a file, an object, a table), its rows and bytes. */
export interface WriteResult {
  path: string;
  rows: number;
  bytes: number;
}

/** What a write task tells the sink about the block it writes. */
export interface WriteContext {
  /** Unique to this run of the job: name what it writes after it, so that abort can find it. */
  jobId: string;
  /** The write task's number in the job, from 0. */
  taskIndex: number;
  /** The block's number within its task, from 0. */
  blockIndex: number;
  /**
   * A name for what this write makes: unique in the job, and the same when a retried task writes the
   * block again. The file sinks write `<name><extension>`.
   */
  name: string;
}

/**
 * Writes a job's rows somewhere: implement it in a pipeline file and pass it to `ds.writeDatasink(sink)`.
 * The object is built again in every worker from the pipeline file, so `write` must not rely on state
 * that `start` set on the driver; what one job writes is told apart by `context.jobId`.
 */
export interface Datasink<R extends WriteResult = WriteResult> {
  /** The write's name in progress and errors (default: "Write" and the class name without "Datasink"). */
  readonly name?: string;
  /** Rows per write: write tasks join smaller blocks up to `min` rows (the last may hold fewer) and cut blocks at `max`. */
  readonly rowsPerWrite?: { min?: number; max?: number };
  /** On the driver, before anything is read. */
  start?(jobId: string): void | Promise<void>;
  /** In a worker: writes one block (every block of a job has one schema); the result must be structured-cloneable. */
  write(block: Block, context: WriteContext): R | Promise<R>;
  /**
   * On the driver, once, after every write succeeded, with every write's result. May return the results
   * as they stand once committed (a file sink's staged paths become final). When it throws the job fails,
   * and abort is not called: a commit cut short is the sink's to finish or undo.
   */
  commit?(results: R[], jobId: string): void | R[] | Promise<void | R[]>;
  /**
   * On the driver, when the job failed or was cancelled, after every write task has stopped: removes
   * what this job wrote (results holds the writes the driver heard of; a write cut short may have left
   * more), leaving what was there before intact.
   */
  abort?(jobId: string, results: R[], error: Error): void | Promise<void>;
}

/** A sink's display name, e.g. "WriteParquet". */
export function datasinkName(sink: Datasink): string {
  if (sink.name) return sink.name;
  const className = Object.getPrototypeOf(sink)?.constructor?.name as string | undefined;
  return `Write${className && className !== "Object" ? className.replace(/Datasink$/, "") : "Datasink"}`;
}
