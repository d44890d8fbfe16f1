// parquet-wasm, loaded where Parquet is first read or written: compiling its wasm costs ~35 ms of CPU in
// the CLI and again in every worker, which a job without Parquet need not pay.
import type * as ParquetWasm from "parquet-wasm";

let loaded: typeof ParquetWasm | undefined;
export const parquetWasm = (): typeof ParquetWasm => (loaded ??= require("parquet-wasm") as typeof ParquetWasm);
