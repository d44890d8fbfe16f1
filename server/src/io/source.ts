// How the engine drives datasources: the plan's description of a source, the datasource it stands
// for, its read tasks as they travel to workers (with the estimates they add up to), and a task's
// blocks in a worker.
import { Table, type Schema } from "apache-arrow";
import { blockFromRows, type Block } from "../block";
import type { Datasource, ReadContext, ReadOutput, ReadTask } from "./datasource";
import { FileDatasource, type FileSource } from "./file-datasource";
import { BlocksDatasource, RangeDatasource, blocksFromIPC, rangeBlocks, type BlocksInput, type RangeInput } from "./memory-datasource";
import { LanceDatasource, readLance, type LanceReadInput, type LanceSource } from "./lance";
import { readFileBlocks } from "./read";
import type { FileReadSpec } from "./types";

/** A plan's source: built-in kinds as plain data, or a user-defined datasource. */
export type SourceDef =
  | { type: "range"; n: number }
  | { type: "blocks"; blocks: Block[] }
  | FileSource
  | LanceSource
  | { type: "datasource"; datasource: Datasource };

/** Which datasource a worker reads a task with: a built-in kind, or a user-defined one by its read's position in the pipeline file's plan. */
export type DatasourceKey = "files" | "range" | "blocks" | "lance" | { position: number };

/** A read task as it travels to a worker. index: its place in the order the datasource planned it (errors name it). */
export interface TaskRead { source: DatasourceKey; index: number; task: ReadTask }

function datasourceOf(source: SourceDef): Datasource {
  switch (source.type) {
    case "range": return new RangeDatasource(source.n);
    case "blocks": return new BlocksDatasource(source.blocks);
    case "files": return new FileDatasource(source);
    case "lance": return new LanceDatasource(source);
    case "datasource": return source.datasource;
  }
}

/** The schema of a source's rows where its datasource knows it without reading rows (a Parquet footer). */
export async function sourceSchema(source: SourceDef, targetBlockBytes: number): Promise<Schema | undefined> {
  return datasourceOf(source).schema?.(targetBlockBytes);
}

/** What the driver learns of a read as it plans it: task count, and rows and in-memory bytes where known. */
export interface ReadEstimates { tasks: number; rows?: number; inMemoryBytes?: number }

/** Plans a source's read tasks in the driver, and adds up what they say of its size. */
export class ReadPlanner {
  private readonly datasource: Datasource;
  private readonly key: DatasourceKey;
  private tasks = 0;
  private rows: number | undefined = 0;
  private bytes: number | undefined = 0;

  /** position: the read's place in its pipeline file's plan, where a worker finds a user-defined datasource. */
  constructor(source: SourceDef, position: number | undefined, private readonly operator: string) {
    this.datasource = datasourceOf(source);
    if (source.type !== "datasource") this.key = source.type;
    else if (position !== undefined) this.key = { position };
    else {
      throw new Error(`${operator}: a user-defined datasource is read in workers, which find it by evaluating its pipeline file; ` +
        "define the pipeline in a *.rdpipe.ts file and run it (rdpipe run FILE)");
    }
  }

  async *plan(context: ReadContext): AsyncGenerator<TaskRead> {
    const tasks = typeof this.key === "object" ? this.userTasks(context) : this.datasource.getReadTasks(context);
    for await (const task of tasks) {
      const index = this.tasks++;
      if (typeof this.key === "object") this.check(task, index);
      const { numRows, sizeBytes } = task.metadata ?? {};
      this.rows = this.rows === undefined || numRows === undefined ? undefined : this.rows + numRows;
      this.bytes = this.bytes === undefined || sizeBytes === undefined ? undefined : this.bytes + sizeBytes;
      yield { source: this.key, index, task };
    }
  }

  /** Once planning has ended: the datasource's own estimates, else the sums of its tasks' metadata. */
  estimates(): ReadEstimates {
    const own = this.datasource.estimate?.();
    return { tasks: this.tasks, rows: own?.rows ?? this.rows, inMemoryBytes: own?.inMemoryBytes ?? this.bytes };
  }

  /** A user-defined datasource's tasks; its failure to plan them names it. */
  private async *userTasks(context: ReadContext): AsyncGenerator<ReadTask> {
    try {
      yield* this.datasource.getReadTasks(context);
    } catch (e) {
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw new Error(`${this.operator}: getReadTasks of datasource ${this.datasource.name} failed: ${message}`, { cause: e });
    }
  }

  /** A user-defined task must reach a worker: plain data in `input`. */
  private check(task: ReadTask, index: number): void {
    const where = `${this.operator}: read task ${index} of datasource ${this.datasource.name}`;
    if (task === null || typeof task !== "object" || !("input" in task)) {
      throw new TypeError(`${where}: getReadTasks yielded ${String(task)}, not a read task { input, metadata? }`);
    }
    try {
      structuredClone(task.input);
    } catch (e) {
      throw new TypeError(`${where}: its input cannot be sent to a worker (${(e as Error).message}); a read task's input must be plain data`);
    }
  }
}

/** A worker's built-in datasources: their reads need nothing but the task's input. */
const BUILTIN_READS = {
  files: (input: unknown) => readFileBlocks(input as FileReadSpec),
  range: (input: unknown) => rangeBlocks(input as RangeInput),
  blocks: (input: unknown) => blocksFromIPC(input as BlocksInput),
  lance: (input: unknown) => readLance(input as LanceReadInput),
};

export function builtinRead(kind: keyof typeof BUILTIN_READS): (input: unknown) => Iterable<ReadOutput> | AsyncIterable<ReadOutput> {
  return BUILTIN_READS[kind];
}

/** The files a file read task reads, as the checkpoint's duplicate check reads them again. */
export function fileReadSpecOf(read: TaskRead): FileReadSpec | undefined {
  return read.source === "files" ? (read.task.input as FileReadSpec) : undefined;
}

/** A block of a task as the worker reads it; rowOffset counts rows within the task where the datasource gave none. */
export interface TaskBlock { block: Block; file?: string; rowOffset: number; skipped?: string }

/** What a read yields, as blocks. */
export async function* taskBlocks(outputs: Iterable<ReadOutput> | AsyncIterable<ReadOutput>): AsyncGenerator<TaskBlock> {
  let rows = 0;
  for await (const output of outputs) {
    const item = Array.isArray(output) ? { block: blockFromRows(output) } : output instanceof Table ? { block: output } : output;
    if (!(item?.block instanceof Table)) {
      throw new TypeError(`read yielded ${describeValue(output)}; yield arrays of rows, Arrow tables, or { block: Table, file?, rowOffset? }`);
    }
    const rowOffset = item.rowOffset ?? rows;
    rows += item.block.numRows;
    const skipped = item.skipped === undefined ? {} : { skipped: item.skipped };
    yield item.file === undefined ? { block: item.block, rowOffset, ...skipped } : { block: item.block, file: item.file, rowOffset, ...skipped };
  }
}

function describeValue(value: unknown): string {
  if (value === null || typeof value !== "object") return String(value);
  return `an object with keys ${Object.keys(value).map((k) => `'${k}'`).join(", ") || "(none)"}`;
}
