import { type Schema, Table } from "apache-arrow";
import { type BatchFormat, type Block, type Columns, type Row, blockToColumns, blockToRows, concatBlocks, emptyBlock, sliceBlock } from "../block";
import { FileDatasink, LanceDatasink, describeFileSystem, lanceOutput, type LanceWriteOptions, sourceSchema, type Datasink, type FileSystem, type WriteFormat, type WriteMode, type WriteOptions } from "../io";
import { type ActorOptions, type AggregateFn, type ErrorPolicy, type LogicalOp, type SortKey, type MapOptions, type UdfFunction, newOpId, opsInOrder } from "../plan";
import { Count, Max, Mean, Min, Std, Sum } from "./aggregate";
import { type ExecutionResult, type ExecutionOptions, type ProgressSnapshot, execute } from "../exec";
import type { ModuleRef } from "../plan";
import { DataContext } from "./context";
import { resolveUserPath } from "./paths";

export type Batch = Columns | Row[] | Table;
export type RowFn<In = Row, Out = Row> = (row: In) => Out | Promise<Out>;

/** A class UDF: constructed once per actor, its `call` method applied to each row or batch. */
export type UdfClass = new (...args: never[]) => { call(input: never): unknown };

export interface IterBatchesOptions { batchSize?: number; batchFormat?: BatchFormat }

/** Where a dataset's UDFs come from when it was loaded from a pipeline file. */
export interface PlanOrigin { module: ModuleRef; positions: Map<LogicalOp, number> }

export interface SaveOptions {
  /** "append" (default) adds files beside existing ones; "overwrite" replaces the folder's files when the job succeeds (staged until then). */
  mode?: WriteMode;
  /** A configured file system (e.g. `new S3FileSystem({ endpoint })`); by default chosen by path. */
  filesystem?: FileSystem;
}

export interface RunOptions { onProgress?: (snapshot: ProgressSnapshot) => void; signal?: AbortSignal }

/**
 * A lazy, immutable description of a distributed computation over blocks of rows (Ray Data's Dataset).
 * Transformations return new Datasets; nothing runs until a consuming method is called.
 */
export class Dataset {
  private lastResult: ExecutionResult | undefined;

  constructor(readonly op: LogicalOp, readonly context: DataContext = DataContext.getCurrent(), private origin?: PlanOrigin) {}

  /** Ties this plan to the pipeline file it came from, so workers load its UDFs from that file. */
  static fromPipelineModule(dataset: Dataset, module: ModuleRef): Dataset {
    const positions = new Map(opsInOrder(dataset.op).map((op, i) => [op, i]));
    return new Dataset(dataset.op, dataset.context, { module, positions });
  }

  private derive(op: LogicalOp): Dataset {
    return new Dataset(op, this.context, this.origin);
  }

  /** The dataset that ends at `op`, one of this plan's operators ("run to here"); UDFs still load from the same file. */
  atOperator(op: LogicalOp): Dataset {
    if (!opsInOrder(this.op).includes(op)) throw new RangeError("atOperator: the operator is not part of this plan");
    return this.derive(op);
  }

  // ------------------------------------------------------------------ transformations

  /**
   * fn maps one row to one row; a class with a `call(row)` method runs in an actor pool (see ActorOptions).
   * `onError: "skip"` records rows fn throws on and goes on (see ErrorPolicy).
   */
  map<Out extends Row = Row>(fn: RowFn<Row, Out> | UdfClass, options: ErrorPolicy & ActorOptions = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "map", input: this.op, fn, options: checkErrorPolicy("map", options) });
  }

  flatMap<Out extends Row = Row>(fn: RowFn<Row, Iterable<Out>> | UdfClass, options: ErrorPolicy & ActorOptions = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "flatMap", input: this.op, fn, options: checkErrorPolicy("flatMap", options) });
  }

  filter(fn: RowFn<Row, boolean>, options: ErrorPolicy = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "filter", input: this.op, fn, options: checkErrorPolicy("filter", options) });
  }

  /**
   * fn receives a batch in `batchFormat` ("columns" by default: { name: array }) and returns one. A class
   * with a `call(batch)` method runs in an actor pool: one instance per actor, built once with fnConstructorArgs.
   */
  mapBatches(fn: UdfFunction, options: MapOptions = {}): Dataset {
    if (options.batchSize != null && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
      throw new RangeError(`mapBatches: batchSize must be a positive integer, got ${options.batchSize}`);
    }
    return this.derive({ id: newOpId(), kind: "mapBatches", input: this.op, fn, options: checkErrorPolicy("mapBatches", options) });
  }

  /** fn receives the batch as columns and returns the new column's values. */
  addColumn(column: string, fn: (batch: Columns) => ArrayLike<unknown>, options: ErrorPolicy = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "addColumn", input: this.op, column, fn, options: checkErrorPolicy("addColumn", options) });
  }

  selectColumns(columns: string | string[]): Dataset {
    return this.derive({ id: newOpId(), kind: "selectColumns", input: this.op, columns: [columns].flat() });
  }

  dropColumns(columns: string | string[]): Dataset {
    return this.derive({ id: newOpId(), kind: "dropColumns", input: this.op, columns: [columns].flat() });
  }

  renameColumns(mapping: Record<string, string>): Dataset {
    return this.derive({ id: newOpId(), kind: "renameColumns", input: this.op, mapping });
  }

  limit(n: number): Dataset {
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`limit: expected a non-negative integer, got ${n}`);
    return this.derive({ id: newOpId(), kind: "limit", input: this.op, n });
  }

  repartition(numBlocks: number): Dataset {
    if (!(Number.isInteger(numBlocks) && numBlocks > 0)) throw new RangeError(`repartition: expected a positive integer, got ${numBlocks}`);
    return this.derive({ id: newOpId(), kind: "repartition", input: this.op, numBlocks });
  }

  randomShuffle(options: { seed?: number } = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "randomShuffle", input: this.op, seed: options.seed });
  }

  sort(key: SortKey, options: { descending?: boolean | boolean[] } = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "sort", input: this.op, key, descending: options.descending ?? false });
  }

  groupBy(key: string | string[] | null): GroupedData {
    return new GroupedData(this.op, key === null ? [] : [key].flat(), (op) => this.derive(op));
  }

  /** Global aggregation: one row with one column per aggregation. */
  aggregate(...aggs: AggregateFn[]): Dataset {
    return this.groupBy(null).aggregate(...aggs);
  }

  union(...others: Dataset[]): Dataset {
    return this.derive({ id: newOpId(), kind: "union", inputs: [this.op, ...others.map((d) => d.op)] });
  }

  zip(other: Dataset): Dataset {
    return this.derive({ id: newOpId(), kind: "zip", inputs: [this.op, other.op] });
  }

  // ------------------------------------------------------------------ writes (lazy; `run()` executes)

  writeParquet(path: string, options: Omit<WriteOptions, "filesystem"> & SaveOptions = {}): Dataset { return this.write("parquet", path, options); }
  writeCsv(path: string, options: SaveOptions = {}): Dataset { return this.write("csv", path, options); }
  writeJson(path: string, options: SaveOptions = {}): Dataset { return this.write("json", path, options); }

  /** Writes every row into a Lance dataset (a folder NAME.lance), all or nothing. */
  writeLance(uri: string, options: LanceWriteOptions = {}): Dataset { return this.writeDatasink(new LanceDatasink(lanceOutput(resolveUserPath(uri), options))); }

  /** Writes every row to a Datasink: its `write` runs in the write tasks, `commit` once they all succeeded, `abort` if the job failed. */
  writeDatasink(datasink: Datasink): Dataset {
    if (typeof (datasink as Partial<Datasink> | null)?.write !== "function") throw new TypeError("writeDatasink: expected a Datasink, an object with a write(block, context) method");
    return this.derive({ id: newOpId(), kind: "write", input: this.op, datasink });
  }

  private write(format: WriteFormat, path: string, options: Omit<WriteOptions, "filesystem"> & SaveOptions): Dataset {
    const { mode = "append", filesystem, ...writeOptions } = options;
    return this.writeDatasink(new FileDatasink(format, resolveUserPath(path), mode, { ...writeOptions, filesystem: describeFileSystem(path, filesystem) }));
  }

  // ------------------------------------------------------------------ execution

  private start(root: LogicalOp, options: RunOptions = {}): AsyncGenerator<Block> & { result: Promise<ExecutionResult> } {
    const execOptions: ExecutionOptions = {
      module: this.origin?.module, positions: this.origin?.positions, onProgress: options.onProgress, signal: options.signal,
    };
    const execution = execute(root, this.context.execSettings(root), execOptions);
    execution.result.then((r) => { this.lastResult = r; }, () => undefined);
    return execution;
  }

  /** Executes the whole plan (a write writes); returns what it wrote and its stats. */
  async run(options: RunOptions = {}): Promise<ExecutionResult> {
    const execution = this.start(this.op, options);
    for await (const _ of execution) { /* outputs of a plan without a write are discarded */ }
    return execution.result;
  }

  async *iterBatches(options: IterBatchesOptions = {}): AsyncGenerator<Batch> {
    const format = options.batchFormat ?? "columns";
    const formatBlock = (block: Block): Batch =>
      format === "arrow" ? block : format === "rows" ? blockToRows(block) : blockToColumns(block);
    if (options.batchSize === undefined) {
      for await (const block of this.start(this.op)) if (block.numRows > 0) yield formatBlock(block);
      return;
    }
    const size = options.batchSize;
    let pending: Block[] = [];
    let pendingRows = 0;
    for await (const block of this.start(this.op)) {
      pending.push(block);
      pendingRows += block.numRows;
      while (pendingRows >= size) {
        const all = concatBlocks(pending);
        yield formatBlock(sliceBlock(all, 0, size));
        pending = [sliceBlock(all, size, all.numRows)];
        pendingRows -= size;
      }
    }
    if (pendingRows > 0) yield formatBlock(concatBlocks(pending));
  }

  async *iterRows(): AsyncGenerator<Row> {
    for await (const block of this.start(this.op)) yield* blockToRows(block);
  }

  private async collect(root: LogicalOp, options?: RunOptions): Promise<Block> {
    const blocks: Block[] = [];
    const execution = this.start(root, options);
    for await (const block of execution) blocks.push(block);
    this.lastResult = await execution.result;
    return concatBlocks(blocks);
  }

  private limitOp(n: number): LogicalOp {
    return this.limit(n).op;
  }

  async take(n = 20, options?: RunOptions): Promise<Row[]> {
    return blockToRows(await this.collect(this.limitOp(n), options));
  }

  async takeAll(limit?: number): Promise<Row[]> {
    const table = await this.toArrow();
    if (limit !== undefined && table.numRows > limit) {
      throw new RangeError(`takeAll: the dataset has more than ${limit} rows`);
    }
    return blockToRows(table);
  }

  async takeBatch(n = 20, options: { batchFormat?: BatchFormat } = {}): Promise<Batch> {
    const table = await this.collect(this.limitOp(n));
    const format = options.batchFormat ?? "columns";
    return format === "arrow" ? table : format === "rows" ? blockToRows(table) : blockToColumns(table);
  }

  async toArrow(options?: RunOptions): Promise<Table> {
    return this.collect(this.op, options);
  }

  async count(): Promise<number> {
    let rows = 0;
    for await (const block of this.start(this.op)) rows += block.numRows;
    return rows;
  }

  /**
   * The schema of the output. A bare Parquet read answers from a footer (and the metadata cache);
   * anything else executes until the first block arrives.
   */
  async schema(): Promise<Schema> {
    if (this.op.kind === "read") {
      const fromFooter = await sourceSchema(this.op.source, this.context.blockBytes());
      if (fromFooter) return fromFooter;
    }
    const execution = this.start(this.op);
    let schema: Schema | undefined;
    for await (const block of execution) {
      schema ??= block.schema;
      if (block.numRows > 0) { schema = block.schema; break; }
    }
    return schema ?? emptyBlock().schema;
  }

  async columns(): Promise<string[]> {
    return (await this.schema()).fields.map((f) => f.name);
  }

  async show(n = 20): Promise<void> {
    for (const row of await this.take(n)) console.log(formatRow(row));
  }

  /** Executes the plan and keeps the result in memory as a new Dataset. */
  async materialize(): Promise<Dataset> {
    const blocks = (await this.collect(this.op)).batches.map((b) => new Table(b));
    return new Dataset({ id: newOpId(), kind: "read", name: "FromBlocks", source: { type: "blocks", blocks } }, this.context);
  }

  /** The result of the last execution of this Dataset object, if it has run. */
  lastRun(): ExecutionResult | undefined {
    return this.lastResult;
  }

  /** Statistics of the last execution of this Dataset object (as Ray's ds.stats()). */
  stats(): string {
    return this.lastResult ? this.lastResult.statsText : "This dataset has not been executed yet.";
  }

  toString(): string {
    return `Dataset(${opsInOrder(this.op).map((op) => op.kind).join(" -> ")})`;
  }
}

export class GroupedData {
  constructor(private readonly input: LogicalOp, private readonly keys: string[], private readonly derive: (op: LogicalOp) => Dataset) {}

  aggregate(...aggs: AggregateFn[]): Dataset {
    if (aggs.length === 0) throw new RangeError("aggregate: pass at least one aggregation, e.g. rd.Count()");
    return this.derive({ id: newOpId(), kind: "aggregate", input: this.input, keys: this.keys, aggs });
  }

  count(): Dataset { return this.aggregate(Count()); }
  sum(on: string | string[]): Dataset { return this.aggregate(...[on].flat().map((c) => Sum(c))); }
  min(on: string | string[]): Dataset { return this.aggregate(...[on].flat().map((c) => Min(c))); }
  max(on: string | string[]): Dataset { return this.aggregate(...[on].flat().map((c) => Max(c))); }
  mean(on: string | string[]): Dataset { return this.aggregate(...[on].flat().map((c) => Mean(c))); }
  std(on: string | string[], options: { ddof?: number } = {}): Dataset { return this.aggregate(...[on].flat().map((c) => Std(c, options))); }
}

function checkErrorPolicy<T extends ErrorPolicy>(method: string, options: T): T {
  if (options.onError !== undefined && options.onError !== "fail" && options.onError !== "skip") {
    throw new RangeError(`${method}: onError must be "fail" or "skip", got ${JSON.stringify(options.onError)}`);
  }
  const budget = options.maxErroredRows;
  if (budget !== undefined && !(Number.isInteger(budget) && budget >= 0)) {
    throw new RangeError(`${method}: maxErroredRows must be a non-negative integer, got ${budget}`);
  }
  if (budget !== undefined && options.onError !== "skip") throw new RangeError(`${method}: maxErroredRows needs onError: "skip"`);
  return options;
}

export function formatRow(row: Row): string {
  return `{${Object.entries(row).map(([k, v]) => `${k}: ${formatValue(v)}`).join(", ")}}`;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value && typeof value === "object") return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v));
  return String(value);
}
