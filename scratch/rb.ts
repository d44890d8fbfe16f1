import pl from "nodejs-polars";
import { tableFromIPC, tableToIPC, Table, vectorFromArray, Utf8, Int64 } from "apache-arrow";
import { readParquet } from "parquet-wasm";
const t = new Table({ id: vectorFromArray([1n, 2n], new Int64()), s: vectorFromArray(["a", null], new Utf8()) });
const ipc = tableToIPC(t, "stream");
const bytes = pl.readIPCStream(Buffer.from(ipc.buffer, ipc.byteOffset, ipc.byteLength)).writeParquet({ compression: "snappy" });
const back = tableFromIPC(readParquet(new Uint8Array(bytes)).intoIPCStream());
console.log(back.schema.fields.map((f) => `${f.name}:${f.type}`), back.getChild("s")?.toArray?.());
try { console.log(back.getChild("s")!.get(0), back.getChild("s")!.get(1)); } catch (e) { console.log("get fails", (e as Error).message); }
