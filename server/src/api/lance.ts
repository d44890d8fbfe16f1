// Lance datasets (the columnar format of LanceDB, for embeddings and vector search): read one, or write
// a job's rows into one all or nothing.
import { lanceLocation, type LanceNearest } from "../io";
import { newOpId } from "../plan";
import { resolveUserPath } from "./paths";
import { Dataset } from "./dataset";

export interface LanceReadOptions {
  /** Only these columns are read. */
  columns?: string[];
  /** A Lance SQL predicate, e.g. "label = 'cat' AND score > 0.5", evaluated inside Lance. */
  filter?: string;
  /** The dataset's version to read (default: its latest when the job starts; every task reads that one). */
  version?: number;
  /** The k rows nearest to a vector, with their `_distance`, instead of a scan. */
  nearest?: LanceNearest;
  /** Exact number of read tasks (default: twice the CPU slots, at most one per row). */
  overrideNumBlocks?: number;
}

/** Rows of a Lance dataset, a folder `NAME.lance` on local disk. */
export function readLance(uri: string, options: LanceReadOptions = {}): Dataset {
  const { overrideNumBlocks, nearest, ...rest } = options;
  if (nearest && !(Array.isArray(nearest.vector) && Number.isInteger(nearest.k) && nearest.k > 0)) {
    throw new TypeError(`readLance: nearest needs { vector: number[], k: a positive integer }, got ${JSON.stringify(nearest)}`);
  }
  const source = { type: "lance" as const, uri: lanceLocation(resolveUserPath(uri), "readLance").uri, ...rest, ...(nearest ? { nearest } : {}) };
  return new Dataset({ id: newOpId(), kind: "read", name: "ReadLance", source, overrideNumBlocks });
}
