// A corpus of bad files, made at run time under test/corpus/: truncated and byte-flipped Parquet, ragged
// CSV, bad JSON Lines. Each is read and must fail with the message expected for it, naming the file and
// (where there is one) the line; the process and a server stay usable after each.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as rd from "../server/src/api";
import { RemoteClient, type JobEvent } from "../server/src/contract";
import { listFilesRecursive, tempDir, writePipeline } from "./helpers";
import { collectEvents, startServer, type ServerProcess } from "./server-helpers";

const CORPUS = path.join(__dirname, "corpus");

interface BadFile { name: string; reader: "parquet" | "csv" | "json"; expected: RegExp }

/** Reads the file whole; resolves to the error it fails with (or fails the test). */
async function readError(file: string, reader: BadFile["reader"]): Promise<Error> {
  const ds = reader === "parquet" ? rd.readParquet(file) : reader === "csv" ? rd.readCsv(file) : rd.readJson(file);
  const result = await ds.takeAll().then((rows) => rows, (e: Error) => e);
  assert.ok(result instanceof Error, `${path.basename(file)} read without an error: ${JSON.stringify(result).slice(0, 200)}`);
  return result;
}

/** The process still runs jobs after a failed read. */
async function stillUsable(): Promise<void> {
  assert.equal(await rd.range(1000).map((r) => ({ id: r.id })).count(), 1000);
}

const write = (name: string, content: string | Uint8Array) => fs.writeFileSync(path.join(CORPUS, name), content);

describe("bad-file corpus: every bad file fails with a message naming the file and where", function () {
  this.timeout(60_000);
  const corpus: BadFile[] = [];
  let good: Buffer;

  before(async () => {
    rd.DataContext.reset();
    fs.rmSync(CORPUS, { recursive: true, force: true });
    fs.mkdirSync(CORPUS, { recursive: true });
    const scratch = tempDir("rdpipe-corpus-");
    await rd.range(20_000, { overrideNumBlocks: 1 }).map((r) => ({ id: r.id, s: `text ${r.id}` })).writeParquet(scratch).run();
    good = fs.readFileSync(listFilesRecursive(scratch)[0]);
    fs.rmSync(scratch, { recursive: true, force: true });
    const footerLength = good.readUInt32LE(good.length - 8);

    // Parquet cut short at several points, and with bytes flipped in the footer and in the first data page.
    const notParquet = (why: string) => new RegExp(`not a valid Parquet file \\(${why}`);
    for (const [name, cut, why] of [
      ["empty", 0, "0 bytes is too short"], ["magic-only", 4, "4 bytes is too short"], ["half", Math.floor(good.length / 2), "no PAR1 magic at the end"],
      ["no-end-magic", good.length - 4, "no PAR1 magic at the end"], ["one-byte-short", good.length - 1, "no PAR1 magic at the end"],
      ["no-footer", 8 + 4, "footer length"],
    ] as [string, number, string][]) {
      const bytes = name === "no-footer" ? Buffer.concat([Buffer.from("PAR1"), Buffer.alloc(4, 0xff), Buffer.from("PAR1")]) : good.subarray(0, cut);
      write(`truncated-${name}.parquet`, bytes);
      corpus.push({ name: `truncated-${name}.parquet`, reader: "parquet", expected: notParquet(why) });
    }
    const footerFlip = Buffer.from(good);
    for (let i = good.length - 8 - footerLength; i < good.length - 8 - footerLength + 16; i++) footerFlip[i] ^= 0xff;
    write("flipped-footer.parquet", footerFlip);
    corpus.push({ name: "flipped-footer.parquet", reader: "parquet", expected: /flipped-footer\.parquet: not a valid Parquet file \(thrift/ });
    const pageFlip = Buffer.from(good);
    for (let i = 4; i < 24; i++) pageFlip[i] ^= 0xff;
    write("flipped-page.parquet", pageFlip);
    corpus.push({ name: "flipped-page.parquet", reader: "parquet", expected: /flipped-page\.parquet: row group 0 \(rows 0-19999\): cannot decode/ });

    // CSV, ragged every way.
    const csv: [string, string | Buffer, RegExp][] = [
      ["short-row.csv", "a,b,c\n1,2,3\n4,5\n", /short-row\.csv: line 3: .*(record length|columns)/i],
      ["long-row.csv", "a,b\n1,2\n3,4\n5,6,7\n", /long-row\.csv: line 4: .*(record length|columns)/i],
      ["unclosed-quote.csv", "a,b\n1,2\n3,\"never closed\n4,5\n", /unclosed-quote\.csv: line 3: unclosed quote/],
      ["bad-utf8.csv", Buffer.concat([Buffer.from("a,b\n1,2\n3,"), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from("\n")]), /bad-utf8\.csv: line 3: not valid UTF-8/],
      ["duplicate-header.csv", "a,b,a\n1,2,3\n", /duplicate-header\.csv: line 1: duplicate column name 'a'/],
    ];
    for (const [name, content, expected] of csv) {
      write(name, content);
      corpus.push({ name, reader: "csv", expected });
    }

    // JSON Lines: bad syntax on line k, a line that is no object, a last line cut short, bad UTF-8.
    const json: [string, string | Buffer, RegExp][] = [
      ["bad-syntax.jsonl", '{"a":1}\n{"a":2}\n{"a":3,}\n{"a":4}\n', /bad-syntax\.jsonl: line 3: invalid JSON/],
      ["not-object.jsonl", '{"a":1}\n[1,2]\n', /not-object\.jsonl: line 2: expected a JSON object, got \[1,2\]/],
      ["truncated.jsonl", '{"a":1}\n{"a":2}\n{"a":3,"b":"cut he', /truncated\.jsonl: line 3: invalid JSON/],
      ["bad-utf8.jsonl", Buffer.concat([Buffer.from('{"a":"x"}\n{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]), /bad-utf8\.jsonl: line 2: not valid UTF-8/],
    ];
    for (const [name, content, expected] of json) {
      write(name, content);
      corpus.push({ name, reader: "json", expected });
    }
  });
  after(() => fs.rmSync(CORPUS, { recursive: true, force: true }));

  it("fails on each bad file with its expected message, naming the file; the process stays usable", async () => {
    for (const bad of corpus) {
      const file = path.join(CORPUS, bad.name);
      const error = await readError(file, bad.reader);
      assert.ok(error.message.includes(file), `${bad.name}: the message names the file: ${error.message}`);
      assert.match(error.message, bad.expected, bad.name);
      await stillUsable();
    }
  });

  it("reads what is merely odd: a byte order mark, empty lines, CRLF", async () => {
    write("bom-empty-lines.csv", "\uFEFFa,b\r\n1,x\r\n\r\n\r\n2,y\r\n");
    const rows = await rd.readCsv(path.join(CORPUS, "bom-empty-lines.csv")).takeAll();
    assert.deepEqual(rows, [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
    write("bom-empty-lines.jsonl", '\uFEFF{"a":1}\n\n{"a":2}\r\n');
    assert.deepEqual(await rd.readJson(path.join(CORPUS, "bom-empty-lines.jsonl")).takeAll(), [{ a: 1 }, { a: 2 }]);
    // An error after empty lines still names the line in the file.
    write("late-error.csv", "a,b\n\n\n1,2\n3\n");
    assert.match((await readError(path.join(CORPUS, "late-error.csv"), "csv")).message, /late-error\.csv: line 5:/);
  });

  describe("through a server", () => {
    let root: string;
    let stateDir: string;
    let server: ServerProcess;
    let client: RemoteClient;
    before(async () => {
      root = tempDir("rdpipe-corpus-root-");
      stateDir = tempDir("rdpipe-corpus-state-");
      fs.copyFileSync(path.join(CORPUS, "truncated-half.parquet"), path.join(root, "cut.parquet"));
      writePipeline(root, "bad.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.readParquet("cut.parquet");\n`);
      writePipeline(root, "good.rdpipe.ts", `import * as rd from "rdpipe";\nexport default rd.range(100).map((r) => ({ id: r.id }));\n`);
      server = await startServer(["--root", root, "--state-dir", stateDir]);
      client = new RemoteClient(server.url);
    });
    after(async () => {
      await server?.stop();
      for (const d of [root, stateDir]) fs.rmSync(d, { recursive: true, force: true });
    });

    it("fails the job reading a cut-off Parquet file naming it, then runs the next job", async () => {
      const run = async (file: string) => {
        const { job } = await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: file } });
        return (await collectEvents(client, job.id)).at(-1) as Extract<JobEvent, { type: "finished" }>;
      };
      const bad = await run("bad.rdpipe.ts");
      assert.equal(bad.job.state, "failed");
      assert.match(bad.job.error!.message, /cut\.parquet: not a valid Parquet file \(no PAR1 magic at the end/);
      const good2 = await run("good.rdpipe.ts");
      assert.equal(good2.job.state, "succeeded");
    });
  });
});
