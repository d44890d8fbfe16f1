// The language server in-process over streams, with a real `rdpipe serve` inspecting real pipeline files
// that read real Parquet data: diagnostics on the offending call, completions, hovers and CodeLens.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { StreamMessageReader, StreamMessageWriter, createMessageConnection, type MessageConnection } from "vscode-jsonrpc/node";
import type { CodeLens, CompletionItem, Diagnostic, Hover, MarkupContent, PublishDiagnosticsParams } from "vscode-languageserver";
import { createConnection } from "vscode-languageserver/node";
import * as rd from "../server/src/api";
import { RemoteClient } from "../server/src/contract";
import { startLanguageServer, type LanguageServerOptions } from "../extension/src/server/language-server";
import { tempDir, writePipeline } from "./helpers";
import { type ServerProcess, startServer, waitForState } from "./server-helpers";

const HEADER = `import * as rd from "rdpipe";\n`;

describe("language server (in-process over streams)", function () {
  this.timeout(60_000);
  let root: string;
  let server: ServerProcess;
  let client: MessageConnection;
  const published = new Map<string, (params: PublishDiagnosticsParams) => void>();

  /** Opens a pipeline file in the server and waits for its first diagnostics (published once its plan is inspected). */
  async function open(name: string, source: string): Promise<{ uri: string; text: string; diagnostics: Diagnostic[] }> {
    const text = HEADER + source;
    const uri = pathToFileURL(writePipeline(root, name, text)).href;
    const diagnostics = nextDiagnostics(uri);
    await client.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "typescript", version: 1, text } });
    return { uri, text, diagnostics: await diagnostics };
  }

  const nextDiagnostics = (uri: string) => new Promise<Diagnostic[]>((resolve) => published.set(uri, (params) => resolve(params.diagnostics)));

  /** Replaces an open document's text (unsaved) and waits for the diagnostics published for it. */
  async function change(uri: string, version: number, text: string): Promise<Diagnostic[]> {
    const diagnostics = nextDiagnostics(uri);
    await client.sendNotification("textDocument/didChange", { textDocument: { uri, version }, contentChanges: [{ text }] });
    return diagnostics;
  }

  /** The LSP position of the first occurrence of `needle` in text, plus `shift` characters. */
  function positionOf(text: string, needle: string, shift = 0) {
    const offset = text.indexOf(needle) + shift;
    assert.ok(offset >= shift, `${needle} not in the document`);
    const before = text.slice(0, offset).split("\n");
    return { line: before.length - 1, character: before[before.length - 1].length };
  }

  /** The text a diagnostic's range covers. */
  function covered(text: string, diagnostic: Diagnostic): string {
    const lines = text.split("\n");
    const { start, end } = diagnostic.range;
    assert.equal(start.line, end.line, "a one-line range");
    return lines[start.line].slice(start.character, end.character);
  }

  before(async () => {
    root = tempDir("rdpipe-lsp-");
    await rd.range(30).map((r) => ({ id: r.id, name: `n${r.id}`, score: (r.id as number) / 10 })).writeParquet(path.join(root, "events")).run();
    server = await startServer(["--root", root, "--state-dir", tempDir("rdpipe-lsp-state-")]);

    const clientToServer = new PassThrough();
    const serverToClient = new PassThrough();
    startLanguageServer(createConnection(new StreamMessageReader(clientToServer), new StreamMessageWriter(serverToClient)));
    client = createMessageConnection(new StreamMessageReader(serverToClient), new StreamMessageWriter(clientToServer));
    client.onNotification("textDocument/publishDiagnostics", (params: PublishDiagnosticsParams) => published.get(params.uri)?.(params));
    client.listen();
    const initializationOptions: LanguageServerOptions = { serverUrl: server.url };
    await client.sendRequest("initialize", { processId: null, rootUri: pathToFileURL(root).href, capabilities: {}, initializationOptions });
    await client.sendNotification("initialized", {});
  });

  after(async () => {
    client?.dispose();
    await server?.stop();
  });

  it("marks an unknown column of selectColumns on its string, and completes column names of the operator's input", async () => {
    const { uri, text, diagnostics } = await open("columns.rdpipe.ts",
      `export default rd.readParquet("events").selectColumns(["id", "nmae", "score"]);\n`);
    assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
    assert.equal(covered(text, diagnostics[0]), "nmae");
    assert.match(diagnostics[0].message, /unknown column 'nmae'.*'id', 'name', 'score'/);

    const items: CompletionItem[] = await client.sendRequest("textDocument/completion", { textDocument: { uri }, position: positionOf(text, `"nmae"`, 1) });
    assert.deepEqual(items.map((i) => i.label), ["id", "name", "score"]);
    assert.match(items.find((i) => i.label === "score")!.detail!, /double|float/i);
    const outside: CompletionItem[] = await client.sendRequest("textDocument/completion", { textDocument: { uri }, position: positionOf(text, `"events"`, 1) });
    assert.deepEqual(outside, [], "no column completion in readParquet's path");
  });

  it("in expressions: marks a mistyped rd.col(\"…\") on its string, completes column names there, and hovers a column with its type", async () => {
    const { uri, text, diagnostics } = await open("expressions.rdpipe.ts", `export default rd.readParquet("events")
  .withColumn("double", rd.col("scoer").mul(2))
  .filter(rd.col("double").gt(1).and(rd.col("nmae").str.startsWith("n")))
  .select("id", rd.col("score").alias("s"));
`);
    // The filter's input is unknown while withColumn fails: only the first mistake is marked.
    assert.deepEqual(diagnostics.map((d) => covered(text, d)), ["scoer"], JSON.stringify(diagnostics));
    assert.match(diagnostics[0].message, /unknown column 'scoer': the input of withColumn has columns 'id', 'name', 'score'/);
    const items: CompletionItem[] = await client.sendRequest("textDocument/completion", { textDocument: { uri }, position: positionOf(text, `"scoer"`, 1) });
    assert.deepEqual(items.map((i) => i.label), ["id", "name", "score"]);
    const hover: Hover = await client.sendRequest("textDocument/hover", { textDocument: { uri }, position: positionOf(text, `rd.col("scoer")`, 9) });
    assert.match((hover.contents as MarkupContent).value, /^unknown column `scoer`/);

    const fixed = await open("expressions-fixed.rdpipe.ts", `export default rd.readParquet("events")
  .withColumn("double", rd.col("score").mul(2))
  .filter(rd.col("double").gt(1).and(rd.col("nmae").str.startsWith("n")))
  .select("id", "double");
`);
    assert.deepEqual(fixed.diagnostics.map((d) => covered(fixed.text, d)), ["nmae"], "the filter sees the column withColumn added, and not nmae");
    assert.match(fixed.diagnostics[0].message, /unknown column 'nmae': the input of filter has columns 'id', 'name', 'score', 'double'/);
    const onScore: Hover = await client.sendRequest("textDocument/hover", { textDocument: { uri: fixed.uri }, position: positionOf(fixed.text, `rd.col("score")`, 9) });
    assert.match((onScore.contents as MarkupContent).value, /^`score`: Float64/);
    const onDouble: Hover = await client.sendRequest("textDocument/hover", { textDocument: { uri: fixed.uri }, position: positionOf(fixed.text, `rd.col("double")`, 9) });
    assert.match((onDouble.contents as MarkupContent).value, /^`double`: Float64/);
  });

  it("hovers an expression (a whole one or any part) with the type the engine gives it, and the column it makes", async () => {
    const { uri, text, diagnostics } = await open("expr-hover.rdpipe.ts", `export default rd.readParquet("events")
  .withColumn("big", rd.col("score").mul(rd.col("id")).gt(1))
  .filter(rd.col("name").str.startsWith("n1").and(rd.col("big")))
  .select(rd.col("id").cast("float64").alias("x"), "name", rd.col("id").div(2));
`);
    assert.deepEqual(diagnostics, []);
    const hoverAt = async (needle: string, shift: number) => {
      const hover: Hover | null = await client.sendRequest("textDocument/hover", { textDocument: { uri }, position: positionOf(text, needle, shift) });
      return hover && { value: (hover.contents as MarkupContent).value, covers: covered(text, { range: hover.range! } as Diagnostic) };
    };
    assert.deepEqual(await hoverAt(".gt(1)", 1), {
      value: "`((score * id) > 1)`: **bool**\n\nOutput column `big`: Bool (nullable)", covers: 'rd.col("score").mul(rd.col("id")).gt(1)',
    }, "the whole expression, with the column withColumn makes as the plan's output has it");
    assert.deepEqual(await hoverAt(".mul(", 1), { value: "`(score * id)`: **float**", covers: 'rd.col("score").mul(rd.col("id"))' }, "float times int is float");
    assert.deepEqual(await hoverAt('rd.col("id")).gt', 1), { value: "`id`: **int**", covers: 'rd.col("id")' });
    assert.deepEqual(await hoverAt(".startsWith(", 1), { value: '`name.str.startsWith("n1")`: **bool**', covers: 'rd.col("name").str.startsWith("n1")' });
    assert.equal((await hoverAt(".and(", 1))!.value, '`(name.str.startsWith("n1") and big)`: **bool**');
    assert.equal((await hoverAt(".alias(", 1))!.value, "`id::float64 as x`: **float**\n\nOutput column `x`: Float64 (nullable)");
    assert.equal((await hoverAt(".cast(", 1))!.value, "`id::float64`: **float**");
    assert.equal((await hoverAt(".div(2)", 1))!.value, "`(id / 2)`: **float**\n\nOutput column `(id / 2)`: Float64 (nullable)", "division is float, as the engine computes it");
    assert.match((await hoverAt("withColumn", 2))!.value, /^\*\*WithColumn/, "the operator's name still hovers the operator");

    const wrong = await open("expr-hover-wrong.rdpipe.ts", `export default rd.readParquet("events").withColumn("y", rd.col("name").add(1).mul(2));\n`);
    const onAdd: Hover = await client.sendRequest("textDocument/hover", { textDocument: { uri: wrong.uri }, position: positionOf(wrong.text, ".add(", 1) });
    assert.equal((onAdd.contents as MarkupContent).value, "`(name + 1)`: add needs numbers in (name + 1), got string values", "the engine's own error where the types do not fit");
  });

  it("marks a class UDF without concurrency on its mapBatches call", async () => {
    const { text, diagnostics } = await open("class-udf.rdpipe.ts", `class Scorer { call(batch: rd.Batch) { return batch; } }
export default rd.readParquet("events")
  .map((row) => ({ ...row, tags: [row.name].map((n) => n) }))
  .mapBatches(Scorer, { batchSize: 8 });
`);
    assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
    assert.equal(covered(text, diagnostics[0]), "mapBatches(Scorer, { batchSize: 8 })");
    assert.match(diagnostics[0].message, /MapBatches\(Scorer\): a class UDF runs in an actor pool and needs \{ concurrency/);
  });

  it("checks column names against the text as edited, and inspects the plan again on save", async () => {
    const columns = await open("edited-columns.rdpipe.ts", `export default rd.readParquet("events").dropColumns("scroe");\n`);
    assert.equal(columns.diagnostics.length, 1, JSON.stringify(columns.diagnostics));
    const moved = await change(columns.uri, 2, `${HEADER}\n// moved down\nexport default rd.readParquet("events").dropColumns("scroe");\n`);
    assert.equal(moved.length, 1);
    assert.equal(moved[0].range.start.line, 3);
    assert.deepEqual(await change(columns.uri, 3, `${HEADER}export default rd.readParquet("events").dropColumns("score");\n`), []);

    const scorer = (options: string) => `${HEADER}class Scorer { call(batch: rd.Batch) { return batch; } }
export default rd.readParquet("events").mapBatches(Scorer${options});
`;
    const udf = await open("edited-udf.rdpipe.ts", scorer("").slice(HEADER.length));
    assert.equal(udf.diagnostics.length, 1, JSON.stringify(udf.diagnostics));
    const fixed = scorer(", { concurrency: 1 }");
    assert.equal((await change(udf.uri, 2, fixed)).length, 1, "until saved, the plan is the saved file's");
    fs.writeFileSync(fileURLToPath(udf.uri), fixed);
    const afterSave = nextDiagnostics(udf.uri);
    await client.sendNotification("textDocument/didSave", { textDocument: { uri: udf.uri } });
    assert.deepEqual(await afterSave, []);
  });

  it("marks checkpoint plan constraints on the operator at fault", async () => {
    const checkpoint = `rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: "ckpt" });\n`;
    const dropped = await open("drops-id.rdpipe.ts", `${checkpoint}export default rd.readParquet("events").dropColumns("id").writeParquet("out-a");\n`);
    assert.equal(dropped.diagnostics.length, 1, JSON.stringify(dropped.diagnostics));
    assert.equal(covered(dropped.text, dropped.diagnostics[0]), `dropColumns("id")`);
    assert.match(dropped.diagnostics[0].message, /removes or renames the ID column 'id'/);

    const limited = await open("limit.rdpipe.ts", `${checkpoint}export default rd.readParquet("events")
  .renameColumns({ score: "rank" })
  .limit(5)
  .writeParquet("out-b");
`);
    assert.equal(limited.diagnostics.length, 1, JSON.stringify(limited.diagnostics));
    assert.equal(covered(limited.text, limited.diagnostics[0]), "limit(5)");
    assert.match(limited.diagnostics[0].message, /Limit\(5\) is not map-like/);

    const missing = await open("no-id.rdpipe.ts", `rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "order_id", checkpointPath: "ckpt" });
export default rd.readParquet("events").map(function keep(row) { return row; }).writeParquet("out-c");
`);
    assert.equal(missing.diagnostics.length, 1, JSON.stringify(missing.diagnostics));
    assert.equal(covered(missing.text, missing.diagnostics[0]), `readParquet("events")`);
    assert.match(missing.diagnostics[0].message, /has no column 'order_id'; its columns are 'id', 'name', 'score'/);
  });

  it("hovers an operator call with its doc, output columns, and the last run's stats once a job ran", async () => {
    const { uri, text, diagnostics } = await open("hover.rdpipe.ts",
      `export default rd.readParquet("events").filter(function even(row) { return (row.id as number) % 2 === 0; }).writeParquet("out-hover");\n`);
    assert.deepEqual(diagnostics, []);
    const hoverAt = async () => ((await client.sendRequest<Hover>("textDocument/hover", { textDocument: { uri }, position: positionOf(text, "filter", 2) })).contents as MarkupContent).value;
    const before = await hoverAt();
    assert.match(before, /^\*\*Filter\(even\)\*\* — Keeps the rows for which the function returns true/);
    assert.match(before, /Output columns: `id`: .*`name`: .*`score`/);
    assert.match(before, /No run of this pipeline on the server yet/);

    const remote = new RemoteClient(server.url);
    const { job } = await remote.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: path.join(root, "hover.rdpipe.ts") } });
    await waitForState(remote, job.id, "succeeded");
    assert.match(await hoverAt(), new RegExp(`Last run: job ${job.id}, succeeded: 15 rows out in [\\d.]+ s; this operator's stage \\(.*Filter\\(even\\).*\\) did \\d+ rows`));
  });

  it("shows CodeLens Run on the write (with Resume / Inspect checkpoint where the pipeline checkpoints) and Run to here on the other operators", async () => {
    const body = `export default rd.readParquet("events")
  .map(function keep(row) { return row; })
  .writeParquet("out-lens");
`;
    const lensesOf = async (name: string, source: string) => {
      const { uri, text } = await open(name, source);
      const lenses: CodeLens[] = await client.sendRequest("textDocument/codeLens", { textDocument: { uri } });
      return { uri, text, shown: lenses.map((l) => [l.range.start.line, l.command!.title, l.command!.command, l.command!.arguments]) };
    };
    const plain = await lensesOf("lens.rdpipe.ts", body);
    assert.deepEqual(plain.shown, [
      [positionOf(plain.text, "readParquet").line, "Run to here", "rdpipe.runToHere", [{ uri: plain.uri, operatorIndex: 0 }]],
      [positionOf(plain.text, ".map").line, "Run to here", "rdpipe.runToHere", [{ uri: plain.uri, operatorIndex: 1 }]],
      [positionOf(plain.text, ".writeParquet").line, "Run", "rdpipe.run", [{ uri: plain.uri, operatorIndex: 2 }]],
    ], "no Resume or Inspect checkpoint without a checkpointConfig");

    const checkpointed = await lensesOf("lens-checkpoint.rdpipe.ts",
      `rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: "ckpt-lens" });\n${body}`);
    const writeLine = positionOf(checkpointed.text, ".writeParquet").line;
    const argument = [{ uri: checkpointed.uri, operatorIndex: 2 }];
    assert.deepEqual(checkpointed.shown.slice(2), [
      [writeLine, "Run", "rdpipe.run", argument],
      [writeLine, "Resume", "rdpipe.resume", argument],
      [writeLine, "Inspect checkpoint", "rdpipe.inspectCheckpoint", argument],
    ]);
  });

  it("names operators as the editor shows them: the UDF's name, or anonymous with its line, and stages joined by an arrow", async () => {
    const { uri, text, diagnostics } = await open("names.rdpipe.ts", `export default rd.readParquet("events")
  .map(function total(row) { return row; })
  .map((row) => ({ ...row, doubled: (row.score as number) * 2 }))
  .writeParquet("out-names");
`);
    assert.deepEqual(diagnostics, []);
    const hoverAt = async (needle: string) =>
      ((await client.sendRequest<Hover>("textDocument/hover", { textDocument: { uri }, position: positionOf(text, needle, 2) })).contents as MarkupContent).value;
    const anonymousLine = positionOf(text, ".map((row)").line + 1;
    assert.match(await hoverAt(".map(function"), /^\*\*Map\(total\)\*\* — /);
    assert.match(await hoverAt(".map((row)"), new RegExp(`^\\*\\*Map\\(anonymous, line ${anonymousLine}\\)\\*\\* — `));

    const remote = new RemoteClient(server.url);
    const { job } = await remote.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: path.join(root, "names.rdpipe.ts") } });
    await waitForState(remote, job.id, "succeeded");
    const ran = await hoverAt(".map((row)");
    assert.match(ran, new RegExp(`this operator's stage \\(.*Map\\(total\\) → Map\\(anonymous, line ${anonymousLine}\\).*\\) did 30 rows`));
    assert.doesNotMatch(ran, /->|<lambda>/);
  });

  it("pairs each plan operator with its call: variables, union and groupBy chains, not calls inside UDFs and classes", async () => {
    const { uri, text } = await open("shapes.rdpipe.ts", `class Tagger { call(batch: rd.Batch) { return { ...batch, n: batch.id.map((v) => v) }; } }
const base = rd.readParquet("events").filter((r) => [r.name].map((n) => n).length > 0);
export default base
  .map((row) => ({ ...row, tags: [1, 2].map((v) => v) }))
  .mapBatches(Tagger, { concurrency: 1 })
  .union(rd.readParquet("events").selectColumns(["id", "name", "score"]))
  .groupBy("name").aggregate(rd.Count());
`);
    const lenses: CodeLens[] = await client.sendRequest("textDocument/codeLens", { textDocument: { uri } });
    const lines = text.split("\n");
    const shown = lenses.map((l) => {
      const [argument] = l.command!.arguments as { operatorIndex: number }[];
      return `${argument.operatorIndex} ${lines[l.range.start.line].slice(l.range.start.character, l.range.end.character)} ${l.command!.title}`;
    });
    assert.deepEqual(shown, [
      "0 readParquet Run to here", "1 filter Run to here", "2 map Run to here", "3 mapBatches Run to here",
      "4 readParquet Run to here", "5 selectColumns Run to here", "6 union Run to here", "7 aggregate Run",
    ]);
  });

  it("reports a pipeline the engine cannot load at the top of the file", async () => {
    const { diagnostics } = await open("broken.rdpipe.ts", `export default 42;\n`);
    assert.equal(diagnostics.length, 1);
    assert.deepEqual(diagnostics[0].range.start, { line: 0, character: 0 });
    assert.match(diagnostics[0].message, /must be a Dataset or a function returning one/);
  });
});
