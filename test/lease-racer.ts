// One contender in a lease race (test/lease.test.ts): opens the checkpoint at argv[2] for a new attempt
// when told "go" on stdin, says "holding" once it has the lease, holds it for argv[3] ms or until told
// "release", and prints one JSON line: won (with when it held the lease, and whether it lost it
// meanwhile) or the error it got. S3 settings come from the environment.
import { createInterface } from "node:readline";
import * as rd from "../server/src/api";
import { prepareCheckpoint } from "../server/src/checkpoint";

const [root, holdMs] = [process.argv[2], Number(process.argv[3])];
const write = rd.range(10).writeParquet(`${root}-output`).op as Parameters<typeof prepareCheckpoint>[1];
const attempt = `a${process.pid}`;

const lines = createInterface({ input: process.stdin });
const told = (line: string) => new Promise<void>((resolve) => lines.on("line", (l) => { if (l === line) resolve(); }));
const released = told("release");

void told("go").then(async () => {
  try {
    let lost: string | undefined;
    const settings = { idColumn: "id", checkpointPath: root, deleteCheckpointOnSuccess: false, backend: "batch" as const };
    const prepared = await prepareCheckpoint(settings, write, attempt, (error) => { lost = error.message; });
    const from = Date.now();
    console.log("holding");
    await Promise.race([new Promise((resolve) => setTimeout(resolve, holdMs)), released]);
    const to = Date.now();
    await prepared.lease.release();
    console.log(JSON.stringify({ won: true, from, to, lost }));
  } catch (e) {
    console.log(JSON.stringify({ won: false, error: (e as Error).message }));
  }
  process.exit(0);
});
console.log("ready");
