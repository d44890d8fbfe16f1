// The Datasource seam (Ray Data's Datasource): the driver plans read tasks, as a stream, with what it
// knows of their size; a worker reads one task into blocks. Files, range and in-memory blocks are the
// built-in cases (./file-datasource, ./memory-datasource); a pipeline file can define its own.
import type { Schema, Table } from "apache-arrow";
import type { Block, Row } from "../block";
import type { FileRef } from "./types";

/** What the driver knows of a read task before it runs (Ray's BlockMetadata); each field where known. */
export interface ReadTaskMetadata {
  numRows?: number;
  /** The size of its rows in memory. */
  sizeBytes?: number;
  /**
   * The input files it reads whole. A checkpointed job records them as done once the task's rows are
   * committed; a resume then leaves them out (see ReadContext.unfinishedFiles).
   */
  inputFiles?: FileRef[];
}

export interface ReadTask<Input = unknown> {
  /** What `read` gets in a worker. It is copied there, so plain data: a key range, a list of files, a query. */
  input: Input;
  metadata?: ReadTaskMetadata;
}

/** What the driver tells a datasource as it plans. */
export interface ReadContext {
  /** Read tasks wanted: overrideNumBlocks when the pipeline set it, else twice the CPU slots. */
  parallelism: number;
  /** Set when the pipeline fixed the number of read tasks (rd.readDatasource's overrideNumBlocks). */
  overrideNumBlocks?: number;
  /** Blocks should hold at most about this many bytes. */
  targetBlockBytes: number;
  /** The tasks feed a barrier (an exchange): tasks of even size matter, not the first rows coming early. */
  evenTasks?: boolean;
  /**
   * The last Parquet files may be read by several tasks each, a range of row groups apiece, each range
   * starting at a multiple of `rowMultiple` rows (so that batch UDFs see the batches a whole file gives).
   * Unset where files are counted done whole, or no split keeps the batches.
   */
  splitFiles?: { rowMultiple: number };
  /**
   * The files still to read: an earlier attempt of a checkpointed job may have consumed some. Throws when
   * such a file changed since, since reading it again could write its rows twice.
   */
  unfinishedFiles(files: FileRef[]): FileRef[];
}

/** A block and where its rows come from; without a file, rowOffset counts rows within the task. */
export interface ReadBlock {
  block: Block;
  /** The input file its rows were read from: errors and the checkpoint's records name it. */
  file?: string;
  /** The position of its first row in that file (or in the task). */
  rowOffset?: number;
  /**
   * Set when the read left an input out (e.g. an undecodable image under onError "skip"): why. The block's
   * rows (none, usually) are ignored; the input is recorded as an errored row of the read, naming `file`.
   */
  skipped?: string;
}

/** What `read` yields: rows, an Arrow table, or a block that says where its rows come from. */
export type ReadOutput = Row[] | Table | ReadBlock;

/** Estimates known once every read task is planned, where the tasks' metadata does not add up to them. */
export interface ReadEstimate { rows?: number; inMemoryBytes?: number }

/**
 * A source of rows (Ray Data's Datasource). A user-defined one lives in a pipeline file: workers evaluate
 * that file to find it, so its tasks' inputs are all a worker gets from the driver.
 */
export interface Datasource<Input = unknown> {
  /** Names the read operator ("Read" + name) in progress, stats and errors. */
  readonly name: string;
  /** The read tasks, in the driver. Tasks start while this goes on yielding, so a long listing can stream. */
  getReadTasks(context: ReadContext): Iterable<ReadTask<Input>> | AsyncIterable<ReadTask<Input>>;
  /** One task's rows, in a worker. */
  read(input: Input): Iterable<ReadOutput> | AsyncIterable<ReadOutput>;
  /** Called once getReadTasks has ended; by default the sums of the tasks' metadata, where every task gives it. */
  estimate?(): ReadEstimate | undefined;
  /** The rows' schema without reading rows, where the datasource knows it cheaply (e.g. from a Parquet footer). */
  schema?(targetBlockBytes: number): Promise<Schema | undefined>;
}
