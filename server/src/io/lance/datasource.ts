// Reading a Lance dataset: the driver pins the dataset's version and cuts its rows (those the filter
// keeps) into offset ranges, one read task each; a worker streams its range's record batches.
import { type Schema, tableFromIPC } from "apache-arrow";
import type { Datasource, ReadContext, ReadOutput, ReadTask } from "../datasource";
import { IoError, errorMessage } from "../errors";
import { blockFromLance, emptyBlockOfLance, lanceLocation, openExisting } from "./table";

/** A nearest-neighbour query: the k rows whose `column` (default: the table's one vector column) is closest to `vector`. */
export interface LanceNearest { vector: number[]; k: number; column?: string }

/** A plan's Lance read, as plain data. */
export interface LanceSource {
  type: "lance";
  uri: string;
  columns?: string[];
  /** A Lance SQL predicate, e.g. "year >= 2020 AND label = 'cat'", evaluated by Lance (it skips data it can). */
  filter?: string;
  /** A version of the dataset to read (default: the latest when the job starts). */
  version?: number;
  nearest?: LanceNearest;
}

export interface LanceReadInput extends Omit<LanceSource, "type" | "version"> { version: number; offset: number; limit: number }

const OPERATOR = "ReadLance";

export class LanceDatasource implements Datasource<LanceReadInput> {
  readonly name = "Lance";

  constructor(private readonly source: LanceSource) {}

  async *getReadTasks(context: ReadContext): AsyncGenerator<ReadTask<LanceReadInput>> {
    const { type: _, version: wanted, ...query } = this.source;
    const table = await named(this.source.uri, async () => {
      const opened = await openExisting(lanceLocation(this.source.uri, OPERATOR), OPERATOR);
      if (wanted !== undefined) await opened.checkout(wanted);
      return opened;
    });
    // Every task reads the version the job started with, whatever is written to the dataset meanwhile.
    const version = await table.version();
    if (query.nearest) {
      yield { input: { ...query, version, offset: 0, limit: query.nearest.k }, metadata: { numRows: query.nearest.k } };
      return;
    }
    const rows = await named(this.source.uri, () => table.countRows(query.filter));
    const tasks = Math.max(1, Math.min(context.overrideNumBlocks ?? context.parallelism, rows));
    for (let i = 0; i < tasks; i++) {
      const offset = Math.floor((rows * i) / tasks), end = Math.floor((rows * (i + 1)) / tasks);
      yield { input: { ...query, version, offset, limit: end - offset }, metadata: { numRows: end - offset } };
    }
  }

  read(input: LanceReadInput): AsyncIterable<ReadOutput> {
    return readLance(input);
  }

  async schema(): Promise<Schema | undefined> {
    const table = await openExisting(lanceLocation(this.source.uri, OPERATOR), OPERATOR);
    const schema = tableFromIPC(emptyBlockOfLance(await table.schema())).schema;
    return this.source.columns ? schema.select(this.source.columns) : schema;
  }
}

export async function* readLance(input: LanceReadInput): AsyncGenerator<ReadOutput> {
  if (input.limit === 0) return;
  const table = await named(input.uri, async () => {
    const opened = await openExisting(lanceLocation(input.uri, OPERATOR), OPERATOR);
    await opened.checkout(input.version);
    return opened;
  });
  let query;
  if (input.nearest) {
    const { vector, k, column } = input.nearest;
    query = table.query().nearestTo(vector).limit(k);
    if (column) query = query.column(column);
  } else {
    query = table.query().offset(input.offset).limit(input.limit);
  }
  if (input.filter) query = query.where(input.filter);
  if (input.columns) query = query.select(input.nearest && !input.columns.includes("_distance") ? [...input.columns, "_distance"] : input.columns);
  const batches = query[Symbol.asyncIterator]();
  while (true) {
    const next = await named(input.uri, () => batches.next());
    if (next.done) return;
    const block = blockFromLance(next.value);
    if (block.numRows > 0) yield block;
  }
}

/** Lance's failures name the dataset. */
async function named<T>(uri: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof IoError || e instanceof TypeError) throw e;
    throw new IoError(`${OPERATOR}: ${uri}: ${errorMessage(e)}`, { cause: e });
  }
}
