// A user-defined Datasink (README, "Writing to your own sink"): each block becomes a JSON Lines file,
// hidden (".pending-…") until the job commits; a failed job's pending files are removed, and what
// earlier jobs wrote stays. samples/datasink.rdpipe.ts uses it.
import fs from "node:fs";
import path from "node:path";
import type * as rd from "rdpipe";

export class JsonLinesDatasink implements rd.Datasink {
  constructor(readonly dir: string) {}

  start() {
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** In a worker: one block, one pending file named after the job (context.name starts with context.jobId). */
  write(block: rd.Block, context: rd.WriteContext): rd.WriteResult {
    const lines = block.toArray().map((row) => `${JSON.stringify(row.toJSON(), (_, v) => (typeof v === "bigint" ? Number(v) : v))}\n`);
    const file = path.join(this.dir, `.pending-${context.name}.jsonl`);
    fs.writeFileSync(file, lines.join(""));
    return { path: file, rows: lines.length, bytes: fs.statSync(file).size };
  }

  /** On the driver, once every write succeeded: the files become visible, and a manifest lists them. */
  commit(results: rd.WriteResult[], jobId: string) {
    const committed = results.map((result) => {
      const file = path.join(this.dir, path.basename(result.path).slice(".pending-".length));
      fs.renameSync(result.path, file);
      return { ...result, path: file };
    });
    fs.writeFileSync(path.join(this.dir, `_manifest-${jobId}.json`), JSON.stringify(committed));
    return committed;
  }

  /** On the driver, when the job failed: its pending files go. */
  abort(jobId: string) {
    for (const name of fs.readdirSync(this.dir)) {
      if (name.startsWith(`.pending-${jobId}`)) fs.rmSync(path.join(this.dir, name));
    }
  }
}
