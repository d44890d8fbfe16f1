import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { REPO, runCli, tempDir, writePipeline } from "./helpers";

/** The rows `rdpipe run` printed as a preview, e.g. `{sensor: 0, reading: 1, value: 1, thread: 2}`. */
function previewRows(stdout: string): Record<string, number>[] {
  return stdout.split("\n").filter((line) => line.startsWith("{")).map((line) =>
    Object.fromEntries(line.slice(1, -1).split(", ").map((pair) => {
      const [key, value] = pair.split(": ");
      return [key, Number(value)];
    })));
}

describe("user-defined Datasource (rd.readDatasource)", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => { dir = tempDir(); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("runs the README's example: one read task per sensor, read in worker threads", () => {
    const run = runCli(["run", "samples/custom-datasource.rdpipe.ts", "--preview", "5000", "--workers", "2"]);
    assert.equal(run.code, 0, run.stderr);
    const rows = previewRows(run.stdout);
    assert.equal(rows.length, 4 * 250);
    const seen = new Set(rows.map((r) => `${r.sensor}/${r.reading}`));
    assert.equal(seen.size, 1000, "every (sensor, reading) once");
    for (const row of rows) {
      assert.ok(row.sensor >= 0 && row.sensor < 4 && row.reading >= 0 && row.reading < 250, JSON.stringify(row));
      assert.equal(row.value, row.sensor * 1000 + row.reading);
      // The main thread's threadId is 0: every row was generated in a worker thread.
      assert.ok(row.thread > 0, `row ${JSON.stringify(row)} was read outside a worker`);
    }
    assert.match(run.stderr, /Operator 0 ReadSensorReadings: 4 tasks, /);
    // The final progress line: every row read and passed on.
    assert.match(run.stderr, /ReadSensorReadings .* 1,000 rows read, 1,000 out/);
    const sample = fs.readFileSync(path.join(REPO, "samples", "custom-datasource.rdpipe.ts"), "utf8");
    assert.ok(fs.readFileSync(path.join(REPO, "README.md"), "utf8").includes(sample), "README.md quotes the sample as it is");
  });

  it("names the datasource, the read task and its input when a read throws", () => {
    const file = writePipeline(dir, "offline.rdpipe.ts", `import * as rd from "rdpipe";
class Sensors implements rd.Datasource<{ sensor: number }> {
  readonly name = "Sensors";
  *getReadTasks() { for (let sensor = 0; sensor < 3; sensor++) yield { input: { sensor } }; }
  *read({ sensor }: { sensor: number }) {
    if (sensor === 2) throw new Error("sensor 2 is offline");
    yield [{ sensor }];
  }
}
export default rd.readDatasource(new Sensors());
`);
    const run = runCli(["run", file, "--quiet"]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, /ReadSensors: read task 2 of datasource Sensors \(input \{"sensor":2\}\) failed: Error: sensor 2 is offline/);
    // The stack points into the pipeline file, where the read threw.
    assert.match(run.stderr, new RegExp(`${path.basename(file).replace(".", "\\.")}:6:`));
  });

  it("names the datasource when planning its read tasks fails", () => {
    const file = writePipeline(dir, "unplannable.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.readDatasource({
  name: "Catalog",
  *getReadTasks() { throw new Error("the catalog is unreachable"); },
  *read() { yield [{ x: 1 }]; },
});
`);
    const run = runCli(["run", file, "--quiet"]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, /ReadCatalog: getReadTasks of datasource Catalog failed: Error: the catalog is unreachable/);
  });

  it("starts reading the first task while getReadTasks is still planning the next", () => {
    const marks = path.join(dir, "marks");
    fs.mkdirSync(marks);
    const file = writePipeline(dir, "streamed.rdpipe.ts", `import * as rd from "rdpipe";
import fs from "node:fs";
const marks = ${JSON.stringify(marks)};
class Streamed implements rd.Datasource<{ task: number }> {
  readonly name = "Streamed";
  async *getReadTasks() {
    yield { input: { task: 0 } };
    // Task 1 is planned only once a worker has read task 0.
    for (const deadline = Date.now() + 30_000; !fs.existsSync(marks + "/0");) {
      if (Date.now() > deadline) throw new Error("task 0 was not read while planning went on");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    yield { input: { task: 1 } };
  }
  *read({ task }: { task: number }) {
    fs.writeFileSync(marks + "/" + task, "");
    yield [{ task }];
  }
}
export default rd.readDatasource(new Streamed());
`);
    const run = runCli(["run", file, "--quiet", "--workers", "2"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(previewRows(run.stdout).map((r) => r.task).sort(), [0, 1]);
  });

  it("refuses a user-defined datasource outside a pipeline file, which workers could not find", async () => {
    const datasource: rd.Datasource<number> = {
      name: "Inline",
      getReadTasks: () => [{ input: 1 }],
      read: (n) => [[{ n }]],
    };
    await assert.rejects(rd.readDatasource(datasource).take(1),
      /ReadInline: a user-defined datasource is read in workers, which find it by evaluating its pipeline file/);
  });
});
