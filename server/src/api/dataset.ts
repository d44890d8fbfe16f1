import { type Schema, Table } from "apache-arrow";
import { type BatchFormat, type Block, type Columns, type Row, anySeed, blockToRows, concatBlocks, emptyBlock } from "../block";
import { LanceDatasink, SqlDatasink, lanceOutput, type LanceWriteOptions, sourceSchema, type ConnectionFactory, type Datasink, type ImageWriteOptions, type WriteFormat, type WriteOptions } from "../io";
import { type ActorOptions, type AggregateFn, type ErrorPolicy, type JoinOptions, type LogicalOp, type SortKey, type MapOptions, type UdfFunction, explainPlan, newOpId, opsInOrder } from "../plan";
import { type ColumnAggregateOptions, Count, Max, Mean, Min, Std, Sum } from "./aggregate";
import { type ExecutionResult, type ExecutionOptions, type ProgressSnapshot, execute } from "../exec";
import type { ModuleRef } from "../plan";
import type { PlanExplanation } from "../contract";
import { DataContext } from "./context";
import { batchesFrom, formatBatch, type Batch, type DataIterator, type IterBatchesOptions } from "./batches";
import { checkTestSize, split, splitAt, splitProportionately, trainTestSplit } from "./splits";
import { streamingSplit } from "./streaming-split";
import { checkImageWriteOptions } from "./images";
import { checkGroupFunction, checkKeys, checkSort } from "./keys";
import { joinOp } from "./join";
import { checkErrorPolicy, checkSeed } from "./checks";
import { formatRow } from "./format";
import { resolveUserPath } from "./paths";
import { Expr, filterExprOp, selectOp, withColumnOp } from "./expressions";
import { blockTotals, countFromMetadata, planExplanation, planInputFiles } from "./inspect";
import { summarize, type ColumnSummary } from "./summary";
import { fileDatasink, type SaveOptions } from "./write-options";

export type { Batch, IterBatchesOptions } from "./batches";
export type RowFn<In = Row, Out = Row> = (row: In) => Out | Promise<Out>;

/** A class UDF: constructed once per actor, its `call` method applied to each row or batch. */
export type UdfClass = new (...args: never[]) => { call(input: never): unknown };


/** Where a dataset's UDFs come from when it was loaded from a pipeline file. */
export interface PlanOrigin { module: ModuleRef; positions: Map<LogicalOp, number> }

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

  /** Keeps the rows where fn returns true, or (an expression, evaluated vectorized and pushed into reads) where it is true. */
  filter(fn: RowFn<Row, boolean> | Expr, options: ErrorPolicy = {}): Dataset {
    if (fn instanceof Expr) return this.derive(filterExprOp(this.op, fn));
    return this.derive({ id: newOpId(), kind: "filter", input: this.op, fn, options: checkErrorPolicy("filter", options) });
  }

  /** Adds (or replaces) the column `name` with an expression's values: `ds.withColumn("total", rd.col("price").mul(rd.col("qty")))`. */
  withColumn(name: string, expr: Expr): Dataset { return this.derive(withColumnOp(this.op, name, expr)); }

  /** Only these columns and expressions, in this order: `ds.select("id", rd.col("price").mul(2).alias("double"))`. */
  select(...exprs: (Expr | string)[]): Dataset { return this.derive(selectOp(this.op, exprs.flat())); }

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

  /**
   * numBlocks blocks: the rows in order, cut into blocks of nearly equal row counts (default); shuffled
   * at random (`shuffle: true`); or by a hash of `keys`, so that rows with equal keys share a block.
   */
  repartition(numBlocks: number, options: { shuffle?: boolean; keys?: string | string[] } = {}): Dataset {
    if (!(Number.isInteger(numBlocks) && numBlocks > 0)) throw new RangeError(`repartition: expected a positive integer, got ${numBlocks}`);
    const keys = options.keys === undefined ? undefined : [options.keys].flat();
    if (keys) checkKeys(this.op, keys, `Repartition(${numBlocks})`);
    return this.derive({ id: newOpId(), kind: "repartition", input: this.op, numBlocks, shuffle: options.shuffle, keys });
  }

  randomShuffle(options: { seed?: number } = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "randomShuffle", input: this.op, seed: options.seed });
  }

  /** Keeps each row with probability `fraction`, streaming (no shuffle); with a seed, the same rows every run. */
  randomSample(fraction: number, options: { seed?: number } = {}): Dataset {
    if (!(typeof fraction === "number" && fraction >= 0 && fraction <= 1)) throw new RangeError(`randomSample: fraction must be between 0 and 1, got ${fraction}`);
    return this.derive({ id: newOpId(), kind: "randomSample", input: this.op, fraction, seed: checkSeed("randomSample", options.seed) ?? anySeed() });
  }

  /** The blocks in a random order (rows stay in their blocks); with a seed, the same order every run. A barrier: it waits for its whole input. */
  randomizeBlockOrder(options: { seed?: number } = {}): Dataset {
    return this.derive({ id: newOpId(), kind: "randomizeBlockOrder", input: this.op, seed: checkSeed("randomizeBlockOrder", options.seed) ?? anySeed() });
  }

  sort(key: SortKey, options: { descending?: boolean | boolean[] } = {}): Dataset {
    checkSort(this.op, [key].flat(), options.descending ?? false);
    return this.derive({ id: newOpId(), kind: "sort", input: this.op, key, descending: options.descending ?? false });
  }

  groupBy(key: string | string[] | null): GroupedData {
    if (key !== null) checkKeys(this.op, [key].flat(), `groupBy(${[key].flat().join(", ")})`);
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

  /**
   * Joins this dataset (the left side) with `right` on key columns, as Ray Data's join: joinType "inner",
   * "left_outer", "right_outer", "full_outer", "left_semi", "right_semi", "left_anti" or "right_anti".
   * Null keys never match; clashing column names get leftSuffix / rightSuffix (see JoinOptions).
   */
  join(right: Dataset, options: JoinOptions): Dataset {
    return this.derive(joinOp(this.op, right.op, options));
  }

  // ------------------------------------------------------------------ writes (lazy; `run()` executes)

  writeParquet(path: string, options: Omit<WriteOptions, "filesystem" | "providerSource"> & SaveOptions = {}): Dataset { return this.write("parquet", path, options); }
  writeCsv(path: string, options: SaveOptions = {}): Dataset { return this.write("csv", path, options); }
  writeJson(path: string, options: SaveOptions = {}): Dataset { return this.write("json", path, options); }

  /** Writes every row into a Lance dataset (a folder NAME.lance), all or nothing. */
  writeLance(uri: string, options: LanceWriteOptions = {}): Dataset { return this.writeDatasink(new LanceDatasink(lanceOutput(resolveUserPath(uri), options))); }

  /** Writes every row to a Datasink: its `write` runs in the write tasks, `commit` once they all succeeded, `abort` if the job failed. */
  writeDatasink(datasink: Datasink): Dataset {
    if (typeof (datasink as Partial<Datasink> | null)?.write !== "function") throw new TypeError("writeDatasink: expected a Datasink, an object with a write(block, context) method");
    return this.derive({ id: newOpId(), kind: "write", input: this.op, datasink });
  }

  /** Each row's image in its own file, `format` (png, jpeg, webp, tiff) encoded from `column` (raw pixels as readImages gives, or image bytes). */
  writeImages(path: string, options: ImageWriteOptions & SaveOptions): Dataset {
    const { mode, filesystem, ...image } = options;
    return this.write("images", path, { mode, filesystem, image: checkImageWriteOptions(image) });
  }

  /** Inserts every row with insertSql, its parameters the row's values in column order, one transaction per block (Ray Data's write_sql). */
  writeSql(insertSql: string, connectionFactory: ConnectionFactory): Dataset {
    return this.writeDatasink(new SqlDatasink(insertSql, connectionFactory));
  }

  private write(format: WriteFormat, path: string, options: Omit<WriteOptions, "filesystem"> & SaveOptions): Dataset {
    return this.writeDatasink(fileDatasink(format, path, options));
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

  /** The rows in batches: sized, with the last partial one dropped, locally shuffled, prefetched, as the options ask. */
  async *iterBatches(options: IterBatchesOptions = {}): AsyncGenerator<Batch> {
    yield* batchesFrom(this.start(this.op), options);
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
    return formatBatch(await this.collect(this.limitOp(n)), options.batchFormat);
  }

  async toArrow(options?: RunOptions): Promise<Table> {
    return this.collect(this.op, options);
  }

  /** The distinct values of a column (nulls included), in no particular order; computed on the exchange as a groupBy. */
  async unique(column: string): Promise<unknown[]> {
    const groups = await this.selectColumns([column]).groupBy(column).count().selectColumns([column]).toArrow();
    return blockToRows(groups).map((row) => row[column]);
  }

  /** Ray's ds.sum(col): the value (null when the column has no non-null value); for a list of columns, one object keyed "sum(col)". */
  async sum(on: string | string[], options: ColumnAggregateOptions = {}): Promise<unknown> { return this.aggregateValue(on, (c) => Sum(c, options)); }
  async min(on: string | string[], options: ColumnAggregateOptions = {}): Promise<unknown> { return this.aggregateValue(on, (c) => Min(c, options)); }
  async max(on: string | string[], options: ColumnAggregateOptions = {}): Promise<unknown> { return this.aggregateValue(on, (c) => Max(c, options)); }
  async mean(on: string | string[], options: ColumnAggregateOptions = {}): Promise<unknown> { return this.aggregateValue(on, (c) => Mean(c, options)); }
  async std(on: string | string[], options: ColumnAggregateOptions & { ddof?: number } = {}): Promise<unknown> { return this.aggregateValue(on, (c) => Std(c, options)); }

  private async aggregateValue(on: string | string[], aggregation: (column: string) => AggregateFn): Promise<unknown> {
    const aggs = [on].flat().map(aggregation);
    const [row] = await this.aggregate(...aggs).takeAll();
    return typeof on === "string" ? row[aggs[0].name] : row;
  }

  /** Answered from Parquet footers (no data read) when nothing between the reads and here changes the row count. */
  async count(): Promise<number> {
    const known = await countFromMetadata(this.op, this.context.blockBytes());
    if (known !== undefined) return known;
    let rows = 0;
    for await (const block of this.start(this.op)) rows += block.numRows;
    return rows;
  }

  /** The logical plan, the optimized plan, the fused stages and what the optimizer pushed into the reads. */
  explain(): string { return explainPlan(this.op, this.origin?.positions); }
  /** explain() in parts, with the hive folders a pushed filter prunes (a listing): what the job panel's Plan section shows. */
  explainParts(): Promise<PlanExplanation> { return planExplanation(this.op, this.origin?.positions); }
  /** The files the reads read (after hive-partition pruning); nothing else is read. */
  inputFiles(): Promise<string[]> { return planInputFiles(this.op); }
  /** Executes the plan: the number of (non-empty) blocks it outputs. */
  async numBlocks(): Promise<number> { return (await blockTotals(this.start(this.op))).blocks; }
  /** Executes the plan: the in-memory size of its output in bytes. */
  async sizeBytes(): Promise<number> { return (await blockTotals(this.start(this.op))).bytes; }
  /** Executes the plan: per column, count, nulls, min, max, mean and std (numbers), approximate distinct count. */
  summary(): Promise<ColumnSummary[]> { return summarize(this.start(this.op)); }

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
    return this.fromBlocks((await this.collect(this.op)).batches.map((b) => new Table(b)));
  }

  /** This dataset executed with its blocks in input order (what a split cuts, what a seeded shuffle must see): its context with preserveOrder set. */
  private inOrder(): Dataset {
    return new Dataset(this.op, Object.assign(Object.create(DataContext.prototype) as DataContext, this.context, { preserveOrder: true }), this.origin);
  }

  private fromBlocks(blocks: Block[]): Dataset {
    return new Dataset({ id: newOpId(), kind: "read", name: "FromBlocks", source: { type: "blocks", blocks } }, this.context);
  }

  // ------------------------------------------------------------------ splits (executed with blocks in input order; each part materialized)

  /** n parts of nearly equal rows; `equal`: exactly equal, the few rows left over dropped. */
  split(n: number, options: { equal?: boolean } = {}): Promise<Dataset[]> {
    return split(() => this.inOrder().toArrow(), (b) => this.fromBlocks(b), n, options);
  }

  /** Parts cut at row positions: [0, i0), [i0, i1), …, [ik, end). */
  splitAt(indices: number[]): Promise<Dataset[]> {
    return splitAt(() => this.inOrder().toArrow(), (b) => this.fromBlocks(b), indices);
  }

  /** A part per proportion (e.g. [0.2, 0.3]) and one with the rest. */
  splitProportionately(proportions: number[]): Promise<Dataset[]> {
    return splitProportionately(() => this.inOrder().toArrow(), (b) => this.fromBlocks(b), proportions);
  }

  /** [train, test]: testSize a proportion or a row count; `shuffle` (with `seed`: the same way every run) shuffles the rows first. */
  trainTestSplit(testSize: number, options: { shuffle?: boolean; seed?: number } = {}): Promise<[Dataset, Dataset]> {
    checkTestSize(testSize);
    const source = options.shuffle ? this.randomShuffle({ seed: options.seed }) : this;
    return trainTestSplit(() => source.inOrder().toArrow(), (b) => this.fromBlocks(b), testSize);
  }

  /**
   * n iterators over one execution, for n consumers that read concurrently (Ray Data's streaming_split):
   * no row goes to two of them, a consumer that falls behind holds the others back, `equal` gives each
   * the same number of rows. Iterating them again runs the dataset again (an epoch).
   */
  streamingSplit(n: number, options: { equal?: boolean } = {}): DataIterator[] {
    return streamingSplit(() => this.start(this.op), n, options);
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

  /**
   * fn gets each group whole as one batch (`batchFormat` "columns" by default, "rows" or "arrow") and
   * returns a batch. A class with a `call(batch)` method is built once per worker with fnConstructorArgs.
   */
  mapGroups(fn: ((batch: Batch) => Batch | Promise<Batch>) | UdfClass, options: { batchFormat?: BatchFormat; fnConstructorArgs?: unknown[] } = {}): Dataset {
    checkGroupFunction(fn);
    return this.derive({ id: newOpId(), kind: "mapGroups", input: this.input, keys: this.keys, fn, options });
  }
}
