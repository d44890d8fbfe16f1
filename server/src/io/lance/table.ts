// Where a Lance dataset lives and how its Arrow data crosses to and from @lancedb/lancedb. The library is
// loaded only by jobs that use Lance. Its apache-arrow peer may be another build than ours, so data
// crosses as Arrow IPC bytes, never as shared Arrow objects.
import { basename, dirname } from "node:path";
import { type RecordBatch, tableFromIPC } from "apache-arrow";
import type { Block } from "../../block";
import { IoError } from "../errors";

type LanceModule = typeof import("@lancedb/lancedb");
export type LanceConnection = Awaited<ReturnType<LanceModule["connect"]>>;
export type LanceTable = Awaited<ReturnType<LanceConnection["openTable"]>>;

/** A Lance dataset's folder (`…/name.lance`) as lancedb sees it: a database folder and a table name. */
export interface LanceLocation { uri: string; database: string; table: string }

export function lanceLocation(uri: string, operator: string): LanceLocation {
  if (!uri.endsWith(".lance") || basename(uri) === ".lance") {
    throw new TypeError(`${operator}: a Lance dataset is a folder named NAME.lance, got ${JSON.stringify(uri)}`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new TypeError(`${operator}: only Lance datasets on local disk are supported, got ${uri}`);
  return { uri, database: dirname(uri), table: basename(uri, ".lance") };
}

let lance: Promise<LanceModule> | undefined;

export async function connect(location: LanceLocation): Promise<LanceConnection> {
  process.env.LANCE_LOG ??= "error"; // its warnings (e.g. "No existing dataset … it will be created") are not the user's concern
  lance ??= import("@lancedb/lancedb").catch((e) => {
    lance = undefined;
    throw (e as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND"
      ? new IoError(`${location.uri}: Lance datasets need the npm package @lancedb/lancedb where rdpipe runs (npm install @lancedb/lancedb@0.31.0)`, { cause: e })
      : e;
  });
  return (await lance).connect(location.database);
}

/** The dataset's table, or undefined when there is none. */
export async function tableIfExists(db: LanceConnection, location: LanceLocation): Promise<LanceTable | undefined> {
  const names = await db.tableNames();
  return names.includes(location.table) ? db.openTable(location.table) : undefined;
}

export async function openExisting(location: LanceLocation, operator: string): Promise<LanceTable> {
  const table = await tableIfExists(await connect(location), location);
  if (!table) throw new IoError(`${operator}: ${location.uri}: no Lance dataset there`);
  return table;
}

/** lancedb's own apache-arrow: the one its objects are made with (ours only when npm shares one copy). */
function lanceArrow(): typeof import("apache-arrow") {
  return require(require.resolve("apache-arrow", { paths: [dirname(require.resolve("@lancedb/lancedb"))] }));
}

/** A record batch lancedb produced, as one of our blocks. */
export function blockFromLance(batch: unknown): Block {
  const arrow = lanceArrow();
  return tableFromIPC(arrow.tableToIPC(new arrow.Table(batch as RecordBatch), "stream"));
}

/** IPC bytes of an empty table with lancedb's schema, for our apache-arrow to read. */
export function emptyBlockOfLance(schema: unknown): Uint8Array {
  const arrow = lanceArrow();
  return arrow.tableToIPC(new arrow.Table(schema as never), "stream");
}

/** Arrow IPC bytes as a table of lancedb's apache-arrow. */
export function lanceTableOf(ipc: Uint8Array): unknown {
  return lanceArrow().tableFromIPC(ipc);
}
