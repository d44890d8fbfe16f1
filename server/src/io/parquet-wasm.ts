// parquet-wasm, loaded where Parquet is first read or written: compiling its wasm costs ~35 ms of CPU in
// the CLI and again in every worker, which a job without Parquet need not pay.
import { debuglog } from "node:util";
import type * as ParquetWasm from "parquet-wasm";

let loaded: typeof ParquetWasm | undefined;
export const parquetWasm = (): typeof ParquetWasm => (loaded ??= require("parquet-wasm") as typeof ParquetWasm);

/** Loads the libraries the formats need (a worker told what its job reads and writes, before its first task). */
export function loadFormatLibraries(formats: readonly string[]): void {
  if (formats.includes("parquet") && !loaded) {
    parquetWasm();
    debuglog("rdpipe")("parquet-wasm loaded before the job's first task");
  }
}
