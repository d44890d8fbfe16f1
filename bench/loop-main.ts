// The hand loops as a process of their own, so they are timed whole-process like `rdpipe run`.
// Usage: node loop-main.cjs batch|rows <outDir> <file>...
import { addTotal, rowLoop, runLoop } from "./loop";
import { addTotalRow } from "./row-udf";

const [mode, outDir, ...files] = process.argv.slice(2);
runLoop(files, outDir, mode === "rows" ? rowLoop(addTotalRow) : addTotal).then(
  (rows) => process.stdout.write(`ROWS ${rows}\n`),
  (e) => { process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`); process.exit(1); },
);
