// Writing a Lance dataset all or nothing: write tasks stage their blocks as Arrow IPC files beside the
// dataset; the driver's commit adds them to the table in order and, should any step fail, restores the
// version that was there before (or removes a dataset the job created). Abort removes the staged files.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { tableToIPC } from "apache-arrow";
import type { Block } from "../../block";
import type { Datasink, WriteContext, WriteResult } from "../datasink";
import { IoError, errorMessage } from "../errors";
import { fileSystemFor } from "../fs";
import { connect, lanceLocation, lanceTableOf, tableIfExists, type LanceLocation, type LanceTable } from "./table";
import { withVectorColumns } from "./vectors";

/** "create" fails when the dataset exists; "append" adds to it (creating it if missing); "overwrite" replaces its rows. */
export type LanceWriteMode = "create" | "append" | "overwrite";

export interface LanceOutput {
  uri: string;
  mode: LanceWriteMode;
  /** List<number> columns written as FixedSizeList<Float32>, the type Lance's vector search uses (default ["vector"]). */
  vectorColumns: string[];
}

const OPERATOR = "WriteLance";

export interface LanceWriteOptions {
  /** "append" (default) adds rows, creating the dataset if missing; "create" fails if it exists; "overwrite" replaces its rows. */
  mode?: LanceWriteMode;
  /** Columns of number arrays written as FixedSizeList<Float32> for vector search (default ["vector"]). */
  vectorColumns?: string[];
}

/** A write's options with their defaults, checked. */
export function lanceOutput(uri: string, options: LanceWriteOptions = {}): LanceOutput {
  const { mode = "append", vectorColumns = ["vector"] } = options;
  if (!["create", "append", "overwrite"].includes(mode)) throw new TypeError(`${OPERATOR}: mode must be "create", "append" or "overwrite", got ${JSON.stringify(mode)}`);
  return { uri, mode, vectorColumns };
}

export class LanceDatasink implements Datasink {
  readonly name = OPERATOR;
  private readonly location: LanceLocation;

  constructor(readonly output: LanceOutput) {
    this.location = lanceLocation(output.uri, OPERATOR);
  }

  async start(): Promise<void> {
    if (this.output.mode !== "create") return;
    if (await tableIfExists(await connect(this.location), this.location)) {
      throw new IoError(`${OPERATOR}: ${this.output.uri} already exists (mode "create"); write with mode "append" or "overwrite"`);
    }
  }

  async write(block: Block, context: WriteContext): Promise<WriteResult> {
    const staged = join(this.stagingFolder(context.jobId), `${context.name}.arrow`);
    const bytes = tableToIPC(withVectorColumns(block, this.output.vectorColumns, OPERATOR), "file");
    await fileSystemFor(staged).write(staged, [bytes]);
    return { path: staged, rows: block.numRows, bytes: bytes.byteLength };
  }

  async commit(results: WriteResult[], jobId: string): Promise<WriteResult[]> {
    const db = await connect(this.location);
    const existing = await tableIfExists(db, this.location);
    if (existing && this.output.mode === "create") throw new IoError(`${OPERATOR}: ${this.output.uri} was created while the job ran (mode "create")`);
    const before = existing ? await existing.version() : undefined;
    const staged = [...results].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    let table: LanceTable | undefined = existing;
    try {
      for (let i = 0; i < staged.length; i++) {
        const data = lanceTableOf(await fileSystemFor(staged[i].path).readAll(staged[i].path)) as never;
        if (!table) table = await db.createTable(this.location.table, data);
        else await table.add(data, { mode: i === 0 && this.output.mode === "overwrite" ? "overwrite" : "append" });
      }
      if (staged.length === 0 && table && this.output.mode === "overwrite") await table.delete("true");
    } catch (e) {
      await this.restore(before, table).catch((undo) => {
        throw new IoError(`${OPERATOR}: ${this.output.uri}: the commit failed (${errorMessage(e)}) and so did restoring version ${before} (${errorMessage(undo)})`, { cause: e });
      });
      throw new IoError(`${OPERATOR}: ${this.output.uri}: the commit failed, the dataset is as it was before: ${errorMessage(e)}`, { cause: e });
    } finally {
      await rm(this.stagingFolder(jobId), { recursive: true, force: true });
    }
    return staged.map((r) => ({ ...r, path: this.output.uri }));
  }

  async abort(jobId: string): Promise<void> {
    await rm(this.stagingFolder(jobId), { recursive: true, force: true });
  }

  /** What the dataset was before the commit: its earlier version, or nothing. */
  private async restore(before: number | undefined, table: LanceTable | undefined): Promise<void> {
    if (!table) return;
    if (before === undefined) {
      await (await connect(this.location)).dropTable(this.location.table);
      return;
    }
    await table.checkout(before);
    await table.restore();
  }

  private stagingFolder(jobId: string): string {
    return join(this.location.database, `.rdpipe-staging-${this.location.table}-${jobId}`);
  }
}
