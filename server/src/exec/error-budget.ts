// How many failures a job tolerates: rows skipped under onError "skip" (per operator's maxErroredRows)
// and blocks whose task failed (DataContext.maxErroredBlocks).
import type { ErroredRow } from "../checkpoint";
import type { TaskFailure } from "../cluster";
import { ExecutionError } from "./errors";

/** Errored rows an ExecutionResult keeps in memory. */
const ERRORED_ROWS_KEPT = 100;

export class ErrorBudget {
  /** The first rows UDFs failed on. */
  readonly sample: ErroredRow[] = [];
  private readonly keys = new Set<string>();
  private readonly byOperator = new Map<string, number>();
  private erroredBlocks = 0;

  constructor(private readonly rowBudgets: Map<string, number>, private readonly maxErroredBlocks: number) {}

  /** Rows skipped so far (each once, however often retries report it). */
  get rows(): number { return this.keys.size; }

  /** Rows or blocks were lost this run: a resume still has rows to write. */
  get anyErrored(): boolean { return this.keys.size > 0 || this.erroredBlocks > 0; }

  /** Counts a row skipped under onError: "skip"; past its operator's maxErroredRows, the error that fails the job. */
  rowErrored(row: ErroredRow): ExecutionError | undefined {
    // A retried task reports again the rows it skips again.
    const key = JSON.stringify(row.id !== undefined ? [row.operator, row.id, row.file] : [row.operator, row.file, row.row, row.input]);
    if (this.keys.has(key)) return undefined;
    this.keys.add(key);
    if (this.sample.length < ERRORED_ROWS_KEPT) this.sample.push(row);
    const count = (this.byOperator.get(row.operator) ?? 0) + 1;
    this.byOperator.set(row.operator, count);
    const budget = this.rowBudgets.get(row.operator) ?? Infinity;
    if (count <= budget) return undefined;
    return new ExecutionError(`${row.operator}: ${count} rows errored, more than its maxErroredRows (${budget}); the last: ${row.error}`,
      { kind: "udf", operator: row.operator, file: row.file, row: row.row, id: row.id === undefined ? undefined : String(row.id), message: row.error, stack: row.stack, rowPreview: row.input, rowInput: row.input });
  }

  /** Counts a block whose task failed with an application error; past maxErroredBlocks, the error that fails the job. */
  blockErrored(failure: TaskFailure): ExecutionError | undefined {
    this.erroredBlocks++;
    const max = this.maxErroredBlocks;
    return max >= 0 && this.erroredBlocks > max ? new ExecutionError(failure.message, failure.info) : undefined;
  }
}
