// The baseline for the overhead bench: the same libraries the engine uses, driven by hand in one
// thread, with no engine in between (read row group → Arrow → add column → Parquet → file).
import fs from "node:fs";
import path from "node:path";
import {
  Field, Float64, RecordBatch, Schema, Struct, Table, makeData, tableFromIPC, tableFromJSON, tableToIPC,
} from "apache-arrow";
import { Compression, ParquetFile, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";

/** Adds total = price * qty to every record batch, zero-copy on the inputs (typed-array views). */
export function addTotal(table: Table): Table {
  const totalField = new Field("total", new Float64(), true);
  const schema = new Schema([...table.schema.fields, totalField]);
  const batches = table.batches.map((batch) => {
    const n = batch.numRows;
    const price = batch.getChild("price")!.toArray() as Float64Array;
    const qty = batch.getChild("qty")!.toArray() as Int32Array;
    const total = new Float64Array(n);
    for (let i = 0; i < n; i++) total[i] = price[i] * qty[i];
    const totalData = makeData({ type: new Float64(), length: n, nullCount: 0, data: total });
    const struct = makeData({
      type: new Struct(schema.fields), length: n, nullCount: 0, children: [...batch.data.children, totalData],
    });
    return new RecordBatch(schema, struct);
  });
  return new Table(schema, batches);
}

/**
 * The naive row loop a user would write with the same libraries: each row as a plain object (toJSON),
 * the row UDF, and the rows back to Arrow with tableFromJSON.
 */
export function rowLoop(fn: (row: Record<string, unknown>) => Record<string, unknown>): (table: Table) => Table {
  return (table) => {
    const out: Record<string, unknown>[] = [];
    for (const row of table) out.push(fn(row!.toJSON() as Record<string, unknown>));
    return tableFromJSON(out);
  };
}

/** Reads every row group of every file, adds `total`, writes one Parquet file per row group. Returns rows written. */
export async function runLoop(files: string[], outDir: string, transform: (table: Table) => Table = addTotal): Promise<number> {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  let rows = 0;
  let fileIndex = 0;
  for (const file of files) {
    const pf = await ParquetFile.fromFile(await fs.openAsBlob(file));
    try {
      const meta = pf.metadata();
      const groups = meta.numRowGroups();
      meta.free();
      for (let i = 0; i < groups; i++) {
        const wasmIn = await pf.read({ rowGroups: [i], batchSize: 65536 });
        const table = transform(tableFromIPC(wasmIn.intoIPCStream()));
        const props = new WriterPropertiesBuilder().setCompression(Compression.SNAPPY).setDictionaryEnabled(false).build();
        const bytes = writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), props);
        await fs.promises.writeFile(path.join(outDir, `loop_${String(fileIndex).padStart(4, "0")}_${String(i).padStart(4, "0")}.parquet`), bytes);
        rows += table.numRows;
      }
    } finally {
      pf.free();
    }
    fileIndex++;
  }
  return rows;
}
