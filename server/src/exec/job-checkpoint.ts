// A checkpointed job's checkpoint from open to close: it is opened (earlier attempts cleaned up and
// loaded) before anything is read, follows what tasks commit, and is finished or kept for a resume.
import type { Schema } from "apache-arrow";
import {
  SCHEMA_FILE, finishCheckpoint, prepareCheckpoint, recordErroredRows, recordOutputSchema, validateCheckpointPlan,
  type CheckpointSettings, type ErroredRow, type PreparedCheckpoint,
} from "../checkpoint";
import type { TaskInput } from "../cluster";
import { type LogicalOp, mayRepeatIds, opsInOrder } from "../plan";
import { CommitTracker } from "./commits";
import { ExecutionError } from "./errors";
import type { Sources } from "./lineage";
import { sourceSchema } from "../io";
import type { ReadSettings } from "./read-settings";
import type { JobOutput } from "./output";
import type { QueuedBlock, TaskOperator } from "./physical";
import type { CheckpointProgress } from "./progress";

type WriteOp = Extract<LogicalOp, { kind: "write" }>;

/** The task number under which the driver records errored rows in the checkpoint. */
const DRIVER_RECORDS = 999_999;

export class JobCheckpoint {
  readonly progress: CheckpointProgress;
  private commits?: CommitTracker;
  /** The output's schema as last recorded, and the recording in progress (answers to workers wait for it). */
  private recordedSchema?: Schema;
  private schemaRecording: Promise<void> = Promise.resolve();
  /** Rows skipped in stages that write no checkpointed files (an actor pool's): the driver records them. */
  private readonly erroredRowsToRecord: ErroredRow[] = [];

  private constructor(readonly settings: CheckpointSettings, readonly prepared: PreparedCheckpoint, private readonly write: WriteOp, private readonly fail: (error: Error) => void) {
    const { committedRowsAtStart, committedFilesAtStart, loadMs } = prepared;
    this.progress = {
      path: settings.checkpointPath, idsAtStart: committedRowsAtStart, filesAtStart: committedFilesAtStart,
      inputFilesSkipped: 0, rowsAlreadyDone: 0, filesCommitted: 0, rowsCommitted: 0, loadMs,
    };
  }

  /** Opens the checkpoint before anything is read: the ID column must be in the source, and earlier attempts are cleaned up and loaded. */
  static async open(
    settings: CheckpointSettings, write: WriteOp, writePrefix: string, blockBytes: number, output: JobOutput, fail: (error: Error) => void,
  ): Promise<JobCheckpoint> {
    const read = opsInOrder(write)[0];
    if (read.kind === "read") {
      const schema = await sourceSchema(read.source, blockBytes);
      validateCheckpointPlan(write, settings, schema?.fields.map((f) => f.name));
    }
    const prepared = await prepareCheckpoint(settings, write, writePrefix, (error) => fail(new ExecutionError(error.message)));
    output.adopt(prepared.overwrite);
    return new JobCheckpoint(settings, prepared, write, fail);
  }

  /** What read tasks skip: files earlier attempts consumed whole, or everything once the job had completed. */
  readSettings(): Pick<ReadSettings, "doneFiles" | "onFilesSkipped" | "nothingToRead" | "idColumn"> {
    return {
      doneFiles: { keys: this.prepared.doneFiles, paths: this.prepared.donePaths },
      onFilesSkipped: (n) => { this.progress.inputFilesSkipped += n; },
      nothingToRead: this.prepared.alreadyComplete,
      idColumn: this.settings.idColumn,
    };
  }

  /** Starts following the stages' commits; a resume's write starts from the schema earlier attempts committed files under. */
  track(stages: TaskOperator[]): void {
    const { spec, outputSchema } = this.prepared;
    this.commits = new CommitTracker(spec, {
      writeInReadTask: stages.some((op) => op.isSource && op.sink !== undefined),
      checkDuplicates: spec.checkDuplicateIds === true,
      mayRepeatIds: stages.some((op) => mayRepeatIds(op.transforms)),
    }, (error) => this.fail(error instanceof ExecutionError ? error : new ExecutionError(error.message)));
    if (!outputSchema) return;
    for (const op of stages) if (op.sink?.checkpoint) op.fixSchema(outputSchema);
    this.recordedSchema = outputSchema;
  }

  /** Who fixed the output's schema, for a write task whose rows do not fit it. */
  schemaFixedBy(): string | undefined {
    return this.prepared.outputSchema && `an earlier attempt of this job (recorded in ${this.settings.checkpointPath}/${SCHEMA_FILE})`;
  }

  /** Records the output's schema whenever it changes, so that no file is written under a schema a resume would not know. */
  recordSchema(schema: Schema): Promise<void> {
    if (schema !== this.recordedSchema) {
      this.recordedSchema = schema;
      this.schemaRecording = this.schemaRecording.then(() => recordOutputSchema(this.prepared.spec, schema));
    }
    return this.schemaRecording;
  }

  /** A task starts: the read tasks whose rows it carries. */
  launched(op: TaskOperator, taskIndex: number, input: TaskInput, inputBlocks: QueuedBlock[]): Sources | undefined {
    return this.commits?.launched(op.isSource, taskIndex, input, inputBlocks);
  }

  ended(op: TaskOperator, taskIndex: number, live: () => Iterable<Sources>): void {
    this.commits?.ended(op.isSource, taskIndex, live);
  }

  committed(rows: number, sources: Sources, path: string, outputPrefix: string, idKeys: Uint32Array | undefined): void {
    this.progress.filesCommitted++;
    this.progress.rowsCommitted += rows;
    this.commits?.committed(sources, path, outputPrefix, idKeys);
  }

  /** Rows of these read tasks will not all be committed (a failed task). */
  lost(sources: Sources): void {
    this.commits?.lost(sources);
  }

  /** A row was skipped; a task that writes a checkpointed sink records it itself, others' the driver records. */
  rowErrored(sources: Sources, row: ErroredRow, recordedByTask: boolean): void {
    this.commits?.lost(sources);
    if (!recordedByTask) this.erroredRowsToRecord.push(row);
  }

  /** Waits for the done records and duplicate checks under way. */
  async settle(): Promise<void> {
    await this.commits?.settle();
  }

  /** The job succeeded: the checkpoint is deleted (as configured) unless rows a resume has to write remain. */
  async finish(unfinishedRows: boolean): Promise<void> {
    this.progress.deleted = await finishCheckpoint(this.settings, this.prepared, this.write, unfinishedRows);
  }

  /** Whatever happened: records the rows the driver skipped and releases the lease; what failed is added to `problems`. */
  async close(problems: string[]): Promise<void> {
    await this.settle();
    if (this.erroredRowsToRecord.length > 0) {
      await recordErroredRows(this.prepared.spec, DRIVER_RECORDS, 0, this.erroredRowsToRecord)
        .catch((e: Error) => { problems.push(`recording the rows it skipped failed (a resume still processes them): ${e.message}`); });
    }
    // A lease not released goes stale: its process is gone once the job's is.
    await this.prepared.lease.release().catch(() => undefined);
  }
}
