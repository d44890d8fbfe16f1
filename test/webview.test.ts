// The panel in a real browser (Debian's chromium, headless, driven by playwright-core) against a real
// execution server (`rdpipe serve`) running real pipelines; the test host relays the server to the panel.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import * as rd from "../server/src/api";
import { type CheckpointIdsResponse, type JobSummary, RemoteClient } from "../server/src/contract";
import { chromiumLaunchOptions } from "./chromium";
import { formatBytes } from "../server/src/exec";
import { REPO, tempDir, writePipeline } from "./helpers";
import { type ServerProcess, startNode, startServer, waitForState } from "./server-helpers";
import { VSCODE_THEMES } from "./vscode-themes";
import { type ContrastReading, belowAA, contrastScript } from "./contrast";
import { PanelHost, type PanelPageServer, startPanelPageServer } from "./webview-host";
import { startCountingProxy } from "./counting-proxy";

const SCREENSHOTS = path.join(REPO, "test-output");

const ROWS = 4000;
/** Rows whose `value` is "bad": the UDF throws on them. */
const BAD_IDS = [1234, 3700];

/** A checkpointed read → map → write whose UDF throws on "bad" values (when `strict`) and takes `slowMs` per row. */
function checkpointedPipeline(name: string, options: { strict: boolean; slowMs?: number }): string {
  return `import * as rd from "rdpipe";
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "id", checkpointPath: "ckpt-${name}" });
function clean(row: rd.Row) {
  ${options.strict ? 'if (row.value === "bad") throw new Error(`malformed value in row ${row.id}`);' : ""}
  const end = Date.now() + ${options.slowMs ?? 0};
  while (Date.now() < end) { /* a slow UDF */ }
  return { ...row, upper: String(row.value).toUpperCase() };
}
export default rd.readParquet("input").map(clean, { onError: "skip" }).writeParquet("out-${name}");
`;
}

describe("panel (webview) in headless Chromium against a real execution server", function () {
  this.timeout(60_000);
  let root: string;
  let stateDir: string;
  let userDataDir: string;
  let server: ServerProcess;
  let client: RemoteClient;
  let pageServer: PanelPageServer;
  let browser: BrowserContext;
  const hosts: PanelHost[] = [];

  before(async () => {
    const launchOptions = chromiumLaunchOptions();
    root = tempDir("rdpipe-webview-root-");
    stateDir = tempDir("rdpipe-webview-state-");
    userDataDir = tempDir("rdpipe-webview-chromium-");
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    rd.DataContext.reset();
    const bad = JSON.stringify(BAD_IDS);
    await rd.range(ROWS, { overrideNumBlocks: 8 })
      .map(new Function(`return (row) => ({ id: row.id, value: ${bad}.includes(row.id) ? "bad" : "v" + row.id })`)() as rd.RowFn)
      .writeParquet(path.join(root, "input")).run();
    [server, pageServer, browser] = await Promise.all([
      startServer(["--root", root, "--state-dir", stateDir]),
      startPanelPageServer(),
      chromium.launchPersistentContext(userDataDir, launchOptions),
    ]);
    client = new RemoteClient(server.url);
  });
  after(async () => {
    for (const host of hosts) host.stop();
    await browser?.close();
    await pageServer?.close();
    await server?.stop();
    for (const dir of [root, stateDir, userDataDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const submit = async (file: string): Promise<JobSummary> =>
    (await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: file }, options: { workers: 2 } })).job;

  /** A new page showing `jobId`, with its host; fails the test on any error or CSP violation in the page. */
  async function openPanel(jobId: string, workspaceFolders: string[] = [], over = client): Promise<{ page: Page; host: PanelHost; pageErrors: string[] }> {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
    const host = new PanelHost(page, over, jobId, workspaceFolders);
    hosts.push(host);
    await host.connect();
    await page.goto(pageServer.url);
    return { page, host, pageErrors };
  }

  const jobState = (page: Page, state: string, timeout = 30_000) => page.locator(`.job-state[data-state="${state}"]`).waitFor({ timeout });
  const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();
  const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `webview-${name}.png`), fullPage: true });

  it("follows a real job to completion: each operator's rows as the job's final progress, the result, the resources", async () => {
    writePipeline(root, "plain.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(3000, { overrideNumBlocks: 6 }).map((row) => ({ id: row.id, double: Number(row.id) * 2 })).filter((row) => Number(row.id) % 3 !== 0).writeParquet("out-plain");
`);
    const job = await submit("plain.rdpipe.ts");
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    await screenshot(page, "succeeded");
    const { job: finished, progress } = await client.request("GET", `/jobs/${job.id}`, "job");
    const shown = await page.locator(".operator").evaluateAll((cards) => cards.map((c) => [c.getAttribute("data-operator"), Number(c.getAttribute("data-rows-done"))]));
    assert.deepEqual(shown, progress!.operators.map((op) => [op.name, op.rowsDone]));
    const names = await texts(page, ".operator-name");
    assert.ok(names.some((name) => /ReadRange → Map\(anonymous\) → Filter\(anonymous\)/.test(name)), `fused steps read with an arrow glyph: ${names.join(" | ")}`);
    assert.ok(names.every((name) => !name.includes("->") && !name.includes("<lambda>")), names.join(" | "));
    assert.equal(shown.at(-1)![1], finished.result!.rowsOut);
    assert.equal(finished.result!.rowsOut, 2000);
    assert.equal(await page.locator("[data-rows-out]").getAttribute("data-rows-out"), "2000");
    assert.match((await texts(page, '[data-resource="CPU slots"]'))[0], /^\d+$/);
    assert.match((await texts(page, ".checkpoint .empty"))[0], /checkpoint/i, "a job without a checkpoint says why there is nothing to inspect");
    assert.equal(await page.locator("button.cancel").count(), 0, "Cancel is hidden once the job has finished");
    assert.equal(await page.locator("button.resume").isDisabled(), true);
    const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
    assert.match(csp ?? "", /^default-src 'none'; script-src 'nonce-([\w-]+)'; style-src http:\/\/127\.0\.0\.1:\d+ 'nonce-\1'$/);
    const themed = await page.evaluate(() => {
      document.documentElement.style.setProperty("--vscode-foreground", "rgb(1, 2, 3)");
      return getComputedStyle(document.body).color;
    });
    assert.equal(themed, "rgb(1, 2, 3)", "colors come from the VS Code theme variables");
    assert.deepEqual(pageErrors, [], "no script errors and no CSP violations");
  });

  /** What a finished job must not show: the live figures of a running one. */
  async function assertNoLiveFigures(page: Page): Promise<void> {
    const shown = await page.locator("#panel").innerText();
    assert.doesNotMatch(shown, /running|rows\/s|Workers busy|Backpressure|all workers busy/i, shown);
  }

  /** Runs a one-line pipeline over the input to `state`; its panel once the outcome shows, screenshot taken. */
  async function finishedPanel(name: string, pipeline: string, state: string): Promise<{ job: JobSummary; page: Page; host: PanelHost; pageErrors: string[] }> {
    writePipeline(root, `${name}.rdpipe.ts`, `import * as rd from "rdpipe";\nexport default ${pipeline};\n`);
    const job = await submit(`${name}.rdpipe.ts`);
    const { page, host, pageErrors } = await openPanel(job.id);
    await jobState(page, state);
    await page.locator(".outcome").waitFor();
    await screenshot(page, `${name}-${state}`);
    return { job, page, host, pageErrors };
  }

  it("keeps following its job when the event stream's connection is cut mid-job, and shows it to the end", async () => {
    writePipeline(root, "cut.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(400, { overrideNumBlocks: 8 })
  .map(async function slowly(row: rd.Row) { await new Promise((resolve) => setTimeout(resolve, 15)); return row; })
  .writeParquet("out-cut");
`);
    const url = new URL(server.url);
    const proxy = await startCountingProxy({ host: url.hostname, port: Number(url.port) });
    try {
      const job = await submit("cut.rdpipe.ts");
      const { page, host, pageErrors } = await openPanel(job.id, [], new RemoteClient(proxy.endpoint));
      await jobState(page, "running");
      const eventsBefore = proxy.requests.filter((r) => r.endsWith("/events")).length;
      proxy.dropConnections();
      await jobState(page, "succeeded", 30_000);
      assert.ok(proxy.requests.filter((r) => r.endsWith("/events")).length > eventsBefore, "the events were asked for again after the cut");
      assert.equal(await page.locator(".host-error").count(), 0, "no error shown for a connection that came back");
      assert.deepEqual(pageErrors, []);
      assert.ok(host.received.length > 0);
    } finally {
      await proxy.close();
    }
  });

  it("shows a finished filter job's bars at 100% with rows read and rows written as separate figures, and its outcome", async () => {
    const { page, pageErrors } = await finishedPanel("filter", 'rd.readParquet("input").filter((row) => Number(row.id) % 4 === 0).writeParquet("out-filter")', "succeeded");
    const percents = await page.locator(".operator").evaluateAll((cards) => cards.map((c) => c.getAttribute("data-percent")));
    assert.ok(percents.length > 0 && percents.every((p) => p === "100"), JSON.stringify(percents));
    const fills = await page.locator(".bar-fill").evaluateAll((bars) => bars.map((b) => (b as HTMLElement).style.width));
    assert.ok(fills.every((w) => w === "100%"), JSON.stringify(fills));
    const rows = await texts(page, '.operator [data-fact="Rows"]');
    assert.equal(rows.at(-1), `${ROWS.toLocaleString("en-US")} rows read · ${(ROWS / 4).toLocaleString("en-US")} written`);
    assert.equal((await texts(page, ".outcome"))[0], `Succeeded · ${(ROWS / 4).toLocaleString("en-US")} rows written`);
    const out = path.join(root, "out-filter");
    const onDisk = fs.readdirSync(out).reduce((sum, f) => sum + fs.statSync(path.join(out, f)).size, 0);
    assert.deepEqual(await texts(page, '.operator [data-fact="Bytes written"]'), [formatBytes(onDisk)], "the write stage's bytes: its files'");
    assert.equal(await page.locator(".outcome-warning").count(), 0, "no rows were skipped");
    assert.doesNotMatch((await texts(page, '[data-resource="Peak memory"]'))[0], /^0 B/, "the peak, not what is held after the job");
    await assertNoLiveFigures(page);
    assert.deepEqual(pageErrors, []);
  });

  it("shows a failed job's outcome as the file and row it failed on, without live figures", async () => {
    const { job, page, host, pageErrors } = await finishedPanel("fails",
      'rd.readParquet("input").map((row) => { if (row.value === "bad") throw new Error("bad value"); return row; }).writeParquet("out-fails")', "failed");
    const { job: failed } = await client.request("GET", `/jobs/${job.id}`, "job");
    const file = failed.error!.file!;
    assert.match((await texts(page, ".outcome"))[0], new RegExp(`^Failed on row ${failed.error!.row} of …/input/${path.basename(file).replace(/\./g, "\\.")}$`));
    assert.equal(await page.locator(".outcome-file").getAttribute("title"), file, "the whole path on hover");
    const card = page.locator(".failed-row");
    assert.deepEqual(await card.locator(".errored-input tr th").allTextContents(), ["id", "value"], "the failed row as a key/value table");
    const error = await card.locator(".errored-error").innerText();
    assert.match(error, /failed on row \d+ .*: Error: bad value$/);
    assert.doesNotMatch(error, /row: |"value":"bad"/, "the error without the row repeated");
    // The UDF's line (line 2 of the file: `export default …`, where the arrow function throws) as a link that opens the editor there.
    const link = card.locator("a.udf-source");
    assert.match(await link.innerText(), /fails\.rdpipe\.ts:2\)?$/);
    await link.click();
    const opened = host.received.find((m) => m.type === "openSource");
    assert.deepEqual(opened && { ...opened, column: undefined }, { type: "openSource", file: path.join(root, "fails.rdpipe.ts"), line: 2, column: undefined });
    // A 400 px panel: nothing overflows sideways, and the Debug button keeps to one line.
    await page.setViewportSize({ width: 400, height: 700 });
    await screenshot(page, "fails-400px");
    const fit = await page.evaluate(() => {
      const debug = document.querySelector(".failed-row button.debug-row")!;
      return { overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth, debugLines: debug.getClientRects().length, debugHeight: debug.getBoundingClientRect().height,
        lineHeight: parseFloat(getComputedStyle(debug).lineHeight) || parseFloat(getComputedStyle(debug).fontSize) * 1.4 };
    });
    assert.equal(fit.overflow, 0, JSON.stringify(fit));
    assert.ok(fit.debugHeight < 2 * fit.lineHeight, `Debug this row wraps: ${JSON.stringify(fit)}`);
    assert.equal(await page.locator("button.cancel").count(), 0);
    await assertNoLiveFigures(page);
    assert.deepEqual(pageErrors, []);
  });

  it("draws the plan as a graph: a union's inputs side by side, an edge from each input to the operator reading it", async () => {
    writePipeline(root, "union.rdpipe.ts", `import * as rd from "rdpipe";
const evens = rd.range(400).filter((row) => Number(row.id) % 2 === 0);
const big = rd.range(300).map((row) => ({ id: Number(row.id) + 1000 }));
export default evens.union(big).repartition(3).writeParquet("out-union");
`);
    const job = await submit("union.rdpipe.ts");
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    await screenshot(page, "graph");
    const { progress } = await client.request("GET", `/jobs/${job.id}`, "job");
    const edgesInPlan = progress!.operators.reduce((sum, op) => sum + op.inputs.length, 0);
    const union = progress!.operators.findIndex((op) => op.name === "Union");
    assert.ok(union >= 0 && progress!.operators[union].inputs.length === 2, JSON.stringify(progress!.operators.map((op) => [op.name, op.inputs])));
    assert.equal(await page.locator("path.operator-edge").count(), edgesInPlan);
    const layers = await page.locator(".operator-layer").evaluateAll((rows) => rows.map((row) => Array.from(row.querySelectorAll(".operator"), (card) => card.getAttribute("data-operator"))));
    assert.equal(layers[0].length, 2, `the two reads side by side: ${JSON.stringify(layers)}`);
    assert.deepEqual(layers.slice(1).map((row) => row.length), layers.slice(1).map(() => 1), "then one operator per layer");
    // Each edge runs from its input card's bottom to the reading card's top.
    const geometry = await page.evaluate(() => {
      const cards = Array.from(document.querySelectorAll<HTMLElement>(".operator"), (card) => ({ index: card.dataset.index, box: card.getBoundingClientRect() }));
      const graph = document.querySelector(".operator-graph")!.getBoundingClientRect();
      return { cards: cards.map((c) => ({ index: c.index, top: c.box.top - graph.top, bottom: c.box.bottom - graph.top })),
        edges: Array.from(document.querySelectorAll("path.operator-edge"), (p) => p.getAttribute("d")) };
    });
    for (const d of geometry.edges) {
      const [y1, y2] = [Number(d!.split(" ")[2]), Number(d!.split(" ").at(-1))];
      assert.ok(geometry.cards.some((c) => Math.abs(c.bottom - y1) < 1) && geometry.cards.some((c) => Math.abs(c.top - y2) < 1), d!);
    }
    assert.deepEqual(pageErrors, [], "no script errors and no CSP violations");
  });

  it("shows the job's plan: what was pushed into the read (columns, row-group predicate, hive folders pruned), the optimized plan and fused stages, the logical plan folded; AA contrast in every theme", async () => {
    await rd.range(300).map((row) => ({ id: row.id, value: `v${row.id}`, region: ["eu", "us", "asia"][Number(row.id) % 3] }))
      .writeParquet(path.join(root, "regions"), { partitionCols: ["region"] }).run();
    const pipeline = 'rd.readParquet("regions").filter(rd.col("region").eq("eu").and(rd.col("id").lt(100))).withColumn("twice", rd.col("id").mul(2)).select("id", "twice")';
    writePipeline(root, "plan.rdpipe.ts", `import * as rd from "rdpipe";\nexport default ${pipeline}.writeParquet("out-plan");\n`);
    const job = await submit("plan.rdpipe.ts");
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    const read = page.locator('.plan-read[data-read="ReadParquet"]');
    await read.waitFor();
    await screenshot(page, "plan");
    const fact = (key: string) => read.locator(`[data-pushdown="${key}"]`).innerText();
    assert.equal(await fact("columns"), "id, region", "the columns the filter, withColumn and select use");
    assert.equal(await fact("filter"), '(region = "eu" and id < 100)');
    assert.equal(await fact("limit"), "none");
    assert.equal(await fact("folders"), "2 of 3: region=asia, region=us");
    assert.equal(await read.locator('[data-pushdown="stopped"]').count(), 0, "no UDF above the read");
    assert.match(await read.locator(".plan-paths").innerText(), /regions$/);
    // The trees as explain() prints them for the same plan (its lines, less the first indent).
    const explained = rd.readParquet(path.join(root, "regions")).filter(rd.col("region").eq("eu").and(rd.col("id").lt(100)))
      .withColumn("twice", rd.col("id").mul(2)).select("id", "twice").writeParquet(path.join(root, "out-plan")).explain();
    const linesOf = (title: string) => explained.split(/\n(?=\S)/).find((part) => part.startsWith(title))!.split("\n").slice(1).map((l) => l.slice(2)).join("\n");
    const tree = (name: string) => page.locator(`details[data-plan="${name}"]`);
    assert.equal(await tree("optimized").locator("pre").innerText(), linesOf("Optimized plan:"));
    assert.match(await tree("optimized").locator("pre").innerText(), /ReadParquet \[columns: id, region; filter: \(region = "eu" and id < 100\)\]/);
    assert.equal(await tree("stages").locator("pre").innerText(), linesOf("Fused stages:"));
    assert.equal(await tree("logical").getAttribute("open"), null, "the logical plan starts folded");
    await tree("logical").locator("summary").click();
    assert.match(await tree("logical").locator("pre").innerText(), /^WriteParquet\n {2}Select\(id, twice\)\n {4}WithColumn\(twice = \(id \* 2\)\)\n {6}Filter/);
    await tree("logical").evaluate((details) => details.setAttribute("data-rendered-before", ""));
    await page.setViewportSize({ width: 700, height: 900 }); // a resize renders the panel again
    await page.locator('details[data-plan="logical"]:not([data-rendered-before])').waitFor();
    assert.equal(await tree("logical").getAttribute("open"), "", "stays open across renders");
    const failures: string[] = [];
    for (const theme of VSCODE_THEMES) {
      await applyTheme(page, theme);
      const selectors = [".plan h2", ".plan h3", ".plan-read h4", ".plan-paths", ".plan-read dt", ".plan-read dd", ".plan-tree summary", ".plan-tree pre"];
      const measured = await page.evaluate(contrastScript(selectors)) as ContrastReading[];
      assert.equal(measured.length, selectors.length);
      await screenshot(page, `plan-${theme.name}`);
      failures.push(...belowAA(measured, `plan in ${theme.name}`));
    }
    assert.deepEqual(failures, [], "the Plan section's text at least 4.5:1 in every theme");
    assert.deepEqual(pageErrors, [], "no script errors and no CSP violations");
  });

  it("shows a checkpointed job's errored rows (input, error, stack) with Debug, pages committed IDs and output rows, and keeps it all after a reload", async () => {
    writePipeline(root, "skip.rdpipe.ts", checkpointedPipeline("skip", { strict: true }));
    const job = await submit("skip.rdpipe.ts");
    const { page, host, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    const errored = page.locator(".errored-row");
    await errored.first().waitFor();
    assert.deepEqual((await errored.evaluateAll((cards) => cards.map((c) => c.getAttribute("data-id")))).sort(), BAD_IDS.map(String));
    assert.equal((await texts(page, ".outcome-warning"))[0], `Succeeded · ${(ROWS - BAD_IDS.length).toLocaleString("en-US")} rows written · 2 rows skipped`);
    const first = page.locator('.errored-row[data-id="1234"]');
    assert.deepEqual(await first.locator(".errored-input tr").evaluateAll((trs) => trs.map((tr) => [tr.getAttribute("data-key"), tr.querySelector("td")!.textContent])),
      [["id", "1234"], ["value", '"bad"']], "the row once, as a key/value table");
    const order = await page.evaluate(() => ["errored-rows-pinned", "operators", "checkpoint"].map((c) => document.querySelector(`section.${c}`)!.getBoundingClientRect().top));
    assert.ok(order[0] < order[1] && order[1] < order[2], `errored rows pinned above the operators and the checkpoint: ${JSON.stringify(order)}`);
    assert.match(await first.locator(".errored-error").innerText(), /Error: malformed value in row 1234$/);
    assert.match(await first.locator(".errored-stack").textContent() ?? "", /clean/);
    await first.locator("button.debug-row").click();
    await waitUntil(() => host.received.some((m) => m.type === "debugRow"));
    const debug = host.received.find((m) => m.type === "debugRow");
    assert.ok(debug?.type === "debugRow");
    assert.deepEqual([debug.jobId, debug.row.id, debug.row.operator], [job.id, 1234, "Map(clean)"]);

    const idsShown = page.locator('[data-view="ids"] .ids li');
    const idsPage = async (offset: number) => (await client.request("GET", `/jobs/${job.id}/checkpoint/ids?offset=${offset}&limit=20`, "checkpointIds") as CheckpointIdsResponse).ids;
    await idsShown.nth(19).waitFor();
    assert.deepEqual(await idsShown.allTextContents(), await idsPage(0));
    await page.locator('[data-view="ids"] button.next').click();
    await page.locator('[data-view="ids"] .page-range', { hasText: `21–40 of ${(ROWS - BAD_IDS.length).toLocaleString("en-US")}` }).waitFor();
    const secondPage = await idsPage(20);
    assert.deepEqual(await idsShown.allTextContents(), secondPage);
    const outputRows = page.locator('[data-view="rows"] .grid-body .grid-row');
    await outputRows.nth(9).waitFor();
    assert.equal(await outputRows.count(), 10, "a page of 10 output rows");
    assert.equal(await page.locator("[data-committed-ids]").getAttribute("data-committed-ids"), String(ROWS - BAD_IDS.length));
    await screenshot(page, "errored-rows");

    const readies = host.received.filter((m) => m.type === "ready").length;
    await page.reload();
    assert.deepEqual(await idsShown.allTextContents(), secondPage, "the IDs page shown before the reload is restored from the saved state");
    assert.equal(await errored.count(), BAD_IDS.length);
    await waitUntil(() => host.received.filter((m) => m.type === "ready").length === readies + 1);
    await jobState(page, "succeeded");
    await screenshot(page, "after-reload");
    assert.deepEqual(pageErrors, []);
  });

  it("cancels a slow job with Cancel, then resumes it with Resume after the UDF is fixed", async () => {
    writePipeline(root, "slow.rdpipe.ts", checkpointedPipeline("slow", { strict: false, slowMs: 5 }));
    const job = await submit("slow.rdpipe.ts");
    const { page, host, pageErrors } = await openPanel(job.id);
    await jobState(page, "running");
    await page.locator('.operator[data-operator*="clean"]:not([data-rows-done="0"])').waitFor();
    await screenshot(page, "running");
    // The panel re-renders as progress streams in; its buttons stay the same elements, so a click that
    // lands between two renders is not lost (one whose element was replaced under the pointer is).
    const cancel = await page.locator("button.cancel").elementHandle();
    const rowsDone = async () => page.locator('.operator[data-operator*="clean"]').getAttribute("data-rows-done");
    const before = await rowsDone();
    await page.waitForFunction((rows) => document.querySelector('.operator[data-operator*="clean"]')?.getAttribute("data-rows-done") !== rows, before);
    assert.equal(await cancel!.evaluate((button) => button.isConnected), true, "the Cancel button survived a re-render");
    await page.locator("button.cancel").click();
    await jobState(page, "cancelled");
    assert.equal((await waitForState(client, job.id, "cancelled")).state, "cancelled");
    assert.ok(host.received.some((m) => m.type === "cancel" && m.jobId === job.id));
    await page.locator(".outcome-cancelled").waitFor();
    await screenshot(page, "cancelled");
    assert.match((await texts(page, ".outcome"))[0], /^Cancelled · /);
    await assertNoLiveFigures(page);

    writePipeline(root, "slow.rdpipe.ts", checkpointedPipeline("slow", { strict: false }));
    await page.locator("button.resume").click();
    await jobState(page, "succeeded");
    const resumedFrom = page.locator(".resumed-from");
    assert.equal(await resumedFrom.innerText(), `resumes ${job.id.slice(0, 8)}`);
    assert.equal(await resumedFrom.getAttribute("data-job-id"), job.id);
    assert.match(await page.locator(".checkpoint-status").innerText(), /deleted after the job succeeded/);
    await screenshot(page, "resumed");
    assert.deepEqual(pageErrors, []);
  });

  it("shows a run without a write as a typed, sortable, virtualized grid with the server's column summary", async () => {
    const long = `a long note ${"x".repeat(400)} end`;
    writePipeline(root, "preview.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.fromItems([
  { id: 3n, name: "carol", score: 2.5, note: "short" },
  { id: 9007199254740993n, name: "alice", score: -1.25, note: null },
  { id: -4n, name: "bob", score: 10, note: ${JSON.stringify(long)} },
]).map((row) => ({ ...row, name: String(row.name).toUpperCase() }));
`);
    const job = (await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "preview.rdpipe.ts" }, options: { workers: 2, preview: 10 } })).job;
    await browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(pageServer.url).origin });
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    const bodyRows = page.locator(".preview .grid-body .grid-row");
    await bodyRows.nth(2).waitFor();
    await screenshot(page, "preview-grid");

    const headers = await page.locator(".preview .grid-header").evaluateAll((cells) => cells.map((c) => [c.querySelector(".grid-name")!.textContent, c.querySelector(".grid-type")!.textContent]));
    assert.deepEqual(headers, [["id", "Int64"], ["name", "Utf8"], ["score", "Float64"], ["note", "Utf8"]]);
    const shown = () => bodyRows.evaluateAll((rows) => rows.map((row) => Array.from(row.querySelectorAll<HTMLElement>(".grid-cell:not(.grid-index)"), (cell) => cell.title || cell.textContent)));
    const [carol, alice, bob] = [["3", "CAROL", "2.5", "short"], ["9007199254740993", "ALICE", "-1.25", "null"], ["-4", "BOB", "10", long]];
    const byName: Record<string, string[]> = { CAROL: carol, ALICE: alice, BOB: bob };
    const { job: finished } = await client.request("GET", `/jobs/${job.id}`, "job");
    const jobOrder = finished.result!.preview!.rows.map((row) => byName[row[1] as string]);
    assert.equal(jobOrder.length, 3);
    assert.deepEqual(await shown(), jobOrder, "the rows in the job's order; an int64 past 2^53 exact");
    assert.deepEqual(await texts(page, ".preview .grid-body .grid-null"), ["null"], "the null is shown as a styled null");
    const longCell = page.locator(".preview .grid-body .grid-cell", { hasText: "a long note" });
    assert.equal(await longCell.getAttribute("title"), long, "the whole long string on hover");
    assert.ok((await longCell.innerText()).length < long.length, "the long string is cut in its cell");
    const alignment = await bodyRows.first().locator(".grid-cell:not(.grid-index)").evaluateAll((cells) => cells.map((c) => getComputedStyle(c).textAlign));
    assert.deepEqual(alignment, ["right", "start", "right", "start"], "numbers right-aligned, text at the start");

    const summary = await page.locator(".preview .grid-summary .grid-cell:not(.grid-index)").evaluateAll((cells) => cells.map((c) => [(c as HTMLElement).dataset.min, (c as HTMLElement).dataset.max, (c as HTMLElement).dataset.nulls]));
    assert.deepEqual(summary, [["-4", "9007199254740993", "0"], ["ALICE", "CAROL", "0"], ["-1.25", "10", "0"], [long, "short", "1"]]);

    await page.locator('.preview .grid-header[data-column="score"]').click();
    assert.deepEqual(await shown(), [alice, carol, bob], "sorted by score, ascending");
    await page.locator('.preview .grid-header[data-column="score"]').click();
    assert.deepEqual(await shown(), [bob, carol, alice], "then descending");
    await page.locator('.preview .grid-header[data-column="id"]').click();
    assert.deepEqual(await shown(), [bob, carol, alice], "int64s by value, the one past 2^53 last");
    await page.locator('.preview .grid-header[data-column="note"]').click();
    assert.deepEqual((await shown()).map((row) => row[1]), ["BOB", "CAROL", "ALICE"], "text ascending, the null last");
    await page.locator('.preview .grid-header[data-column="note"]').click();
    assert.deepEqual((await shown()).map((row) => row[1]), ["CAROL", "BOB", "ALICE"], "descending, the null still last");

    await bodyRows.filter({ hasText: "ALICE" }).locator(".grid-cell:not(.grid-index)").first().click();
    await page.locator(".preview button.grid-copy-cell").click();
    await waitUntil(async () => (await page.evaluate(() => navigator.clipboard.readText())) === '"9007199254740993"');
    await page.locator(".preview button.grid-copy-row").click();
    await waitUntil(async () => (await page.evaluate(() => navigator.clipboard.readText())) === JSON.stringify({ id: "9007199254740993", name: "ALICE", score: -1.25, note: null }));
    assert.deepEqual(pageErrors, []);
  });

  it("a preview that needed only its first rows says how many tasks it stopped, not that none was done", async () => {
    writePipeline(root, "stopped.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(40_000, { overrideNumBlocks: 8 }).map((row) => {
  if (Number(row.id) % 100 === 0) { const until = Date.now() + 1; while (Date.now() < until); } // ~50 ms a block
  return row;
});
`);
    const job = (await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "stopped.rdpipe.ts" }, options: { workers: 2, preview: 5 } })).job;
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    const { progress } = await client.request("GET", `/jobs/${job.id}`, "job");
    const map = progress!.operators.find((op) => op.name.includes("Map"))!;
    assert.ok(map.tasksRunning > 0, `the limit stopped tasks still running: ${JSON.stringify(map)}`);
    const tasks = await page.locator('.operator[data-operator*="Map"] dd[data-fact="Tasks"]').innerText();
    assert.equal(tasks, `${map.tasksDone} done, ${map.tasksRunning} stopped (no more rows needed)`);
    assert.deepEqual(pageErrors, []);
  });

  it("keeps only a window of 5,000 preview rows in the page and shows later rows on scrolling", async () => {
    const total = 5000;
    writePipeline(root, "many.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(${total}, { overrideNumBlocks: 4 }).map((row) => ({ id: row.id, label: "row " + row.id }));
`);
    const job = (await client.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "many.rdpipe.ts" }, options: { workers: 2, preview: total } })).job;
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    const bodyRows = page.locator(".preview .grid-body .grid-row");
    await bodyRows.first().waitFor();
    assert.equal(await page.locator(".preview .grid-status").innerText(), "5,000 rows");
    const window = async () => bodyRows.evaluateAll((rows) => rows.map((row) => Number(row.getAttribute("data-row"))));
    const first = await window();
    assert.ok(first.length > 10 && first.length < 100, `a window of rows in the DOM, not ${first.length}`);
    assert.equal(first[0], 0);
    const scroller = page.locator(".preview .grid-scroller");
    await scroller.evaluate((s) => { s.scrollTop = s.scrollHeight; });
    await page.locator('.preview .grid-body .grid-row[data-row="4999"]').waitFor();
    const last = await window();
    assert.ok(last.length < 100 && !last.includes(0), `the window moved: ${last[0]}…${last.at(-1)}`);
    const { job: finished } = await client.request("GET", `/jobs/${job.id}`, "job");
    assert.equal(finished.result!.preview!.rows.length, total);
    assert.equal(await page.locator('.preview .grid-body .grid-row[data-row="4999"] .grid-cell:not(.grid-index)').last().innerText(), finished.result!.preview!.rows[4999][1]);
    await scroller.evaluate((s) => { s.scrollTop = 2500 * 24; });
    await page.locator('.preview .grid-body .grid-row[data-row="2500"]').waitFor();
    assert.ok(await page.locator('.preview .grid-body .grid-row[data-row="2500"]').isVisible());
    // The saved state (what a reload restores) leaves the rows out; the reloaded panel gets them again from the host.
    const saved = await page.evaluate(() => sessionStorage.getItem("rdpipe-panel-state") ?? "");
    assert.equal((JSON.parse(saved) as { job: { id: string } }).job.id, job.id);
    assert.ok(saved.length < JSON.stringify(finished.result!.preview).length / 10, `the saved state holds ${saved.length} characters`);
    assert.ok(!saved.includes("row 4999"), "no preview rows in the saved state");
    await page.reload();
    await page.locator(".preview .grid-status", { hasText: "5,000 rows" }).waitFor();
    assert.equal(await page.locator('.preview .grid-body .grid-row[data-row="0"] .grid-cell:not(.grid-index)').last().innerText(), finished.result!.preview!.rows[0][1]);
    assert.deepEqual(pageErrors, []);
  });
  it("badges and text pass WCAG AA contrast (4.5:1) in VS Code's Light+, Dark+ and High Contrast themes: running, succeeded, failed, skipped rows", async () => {
    writePipeline(root, "contrast-ok.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(200).map((row) => ({ id: row.id })).writeParquet("out-contrast-ok");
`);
    writePipeline(root, "contrast-fail.rdpipe.ts", `import * as rd from "rdpipe";
export default rd.range(200).map((row) => { if (row.id === 50) throw new Error("bad row 50"); return row; }).writeParquet("out-contrast-fail");
`);
    writePipeline(root, "contrast-skip.rdpipe.ts", checkpointedPipeline("contrast-skip", { strict: true }));
    writePipeline(root, "contrast-slow.rdpipe.ts", checkpointedPipeline("contrast-slow", { strict: false, slowMs: 20 }));
    const jobs = {
      running: await submit("contrast-slow.rdpipe.ts"),
      succeeded: await submit("contrast-ok.rdpipe.ts"),
      failed: await submit("contrast-fail.rdpipe.ts"),
      skipped: await submit("contrast-skip.rdpipe.ts"),
    };
    const expected = { running: ["running", "running"], succeeded: ["succeeded", "ok"], failed: ["failed", "error"], skipped: ["succeeded", "warning"] };
    const failures: string[] = [];
    try {
      for (const [name, job] of Object.entries(jobs) as [keyof typeof jobs, JobSummary][]) {
        const { page, pageErrors } = await openPanel(job.id);
        const [state, tone] = expected[name];
        await jobState(page, state);
        const shownTone = await page.locator(".job-state").getAttribute("data-tone");
        if (shownTone !== tone) failures.push(`${name} job's badge tone: ${shownTone}, not ${tone}`);
        for (const theme of VSCODE_THEMES) {
          await applyTheme(page, theme);
          // The badge and the panel's text.
          const measured = await page.evaluate(contrastScript([".job-state-label", "body"])) as ContrastReading[];
          assert.equal(measured.length, 2, "a badge to measure");
          await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
          await screenshot(page, `contrast-${name}-${theme.name}`);
          failures.push(...belowAA(measured, `${name} in ${theme.name}`));
        }
        assert.deepEqual(pageErrors, []);
        await page.close();
      }
    } finally {
      await client.request("POST", `/jobs/${jobs.running.id}/cancel`, "job").catch(() => undefined);
    }
    assert.deepEqual(failures, [], "every badge in its tone, and every badge and the panel's text at least 4.5:1 in every theme");
  });

  it("titles a job by its workspace-relative path with a short ID to copy; disabled buttons say why; 'resumes …' opens that job", async () => {
    fs.mkdirSync(path.join(root, "pipelines"), { recursive: true });
    // Paths in a pipeline are relative to its folder.
    const pipeline = (strict: boolean) => checkpointedPipeline("header", { strict }).replace('readParquet("input")', 'readParquet("../input")');
    writePipeline(root, "pipelines/header.rdpipe.ts", pipeline(true));
    const first = await submit("pipelines/header.rdpipe.ts");
    await waitForState(client, first.id, "succeeded");
    writePipeline(root, "pipelines/header.rdpipe.ts", pipeline(false)); // fixed: the resume retries the 2 errored rows and succeeds
    const { job: resumed } = await client.request("POST", `/jobs/${first.id}/resume`, "job", { type: "resumeJob" });
    await browser.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(pageServer.url).origin });
    const { page, host, pageErrors } = await openPanel(resumed.id, [root]);
    await jobState(page, "succeeded");
    await screenshot(page, "header");
    assert.equal(await page.locator("h1").innerText(), "pipelines/header.rdpipe.ts", "the path relative to the workspace folder");
    assert.equal(await page.locator(".job-id").innerText(), `job ${resumed.id.slice(0, 8)}`);
    await page.locator("button.copy-id").click();
    await waitUntil(async () => (await page.evaluate(() => navigator.clipboard.readText())) === resumed.id);

    const resume = page.locator("button.resume");
    const look = await resume.evaluate((b) => ({ cursor: getComputedStyle(b).cursor, border: getComputedStyle(b).borderStyle, opacity: Number(getComputedStyle(b).opacity) }));
    assert.deepEqual(look, { cursor: "not-allowed", border: "dashed", opacity: 0.6 }, "styled as disabled, not only faded");
    assert.equal(await resume.isDisabled(), true, "the resumed job's checkpoint was deleted on success");
    assert.match(await resume.getAttribute("title") ?? "", /^Nothing to resume from: the checkpoint was deleted after the job succeeded$/);

    const link = page.locator("a.resumed-from");
    assert.equal(await link.innerText(), `resumes ${first.id.slice(0, 8)}`);
    await link.click();
    await waitUntil(() => host.received.some((m) => m.type === "openJob" && m.jobId === first.id));
    await page.locator(`.job-id[data-job-id="${first.id}"]`).waitFor();
    assert.equal(await page.locator("a.resumed-by").getAttribute("data-job-id"), resumed.id, "the earlier job links to the job that resumed it");
    assert.equal(await page.locator("button.resume").getAttribute("title"), `Already resumed by job ${resumed.id.slice(0, 8)}`);

    const outside = await openPanel(resumed.id);
    await jobState(outside.page, "succeeded");
    assert.equal(await outside.page.locator("h1").innerText(), "header.rdpipe.ts", "outside every workspace folder: the base name");
    assert.deepEqual([...pageErrors, ...outside.pageErrors], []);
  });

  it("says why when the panel's job is not on the server", async () => {
    const unknown = "1a2b3c4d-0000-4000-8000-000000000000";
    const { page, pageErrors } = await openPanel(unknown);
    const reason = page.locator(".job-missing-reason");
    await reason.waitFor();
    await screenshot(page, "job-missing");
    assert.equal(await reason.innerText(), `Job 1a2b3c4d is not on the server at ${server.url.replace(/\/+$/, "")}; it ran on another server or the server was restarted.`);
    assert.deepEqual(pageErrors, []);
  });

  it("on a server heading a cluster: a card per node with its pid, CPU slots and tasks running; a SIGKILLed node's card turns lost", async () => {
    const token = "panel-cluster";
    const clusterServer = await startServer(["--root", root, "--state-dir", path.join(stateDir, "cluster"), "--token", token, "--cluster-port", "0"]);
    const nodes = [startNode(clusterServer.cluster!, ["--token", token]), startNode(clusterServer.cluster!, ["--token", token])];
    try {
      const over = new RemoteClient(clusterServer.url, token);
      const joined = async () => (await over.request("GET", "/cluster", "cluster")).nodes.filter((n) => n.state === "alive").length === 2;
      await waitUntil(joined, 60_000);
      writePipeline(root, "spread.rdpipe.ts", `import * as rd from "rdpipe";
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
export default rd.range(40000, { overrideNumBlocks: 16 }).map((row) => { if (Number(row.id) % 100 === 0) sleep(40); return row; }).writeParquet("out-spread");
`);
      const { job } = await over.request("POST", "/jobs", "job", { type: "submitJob", source: { kind: "path", path: "spread.rdpipe.ts" } });
      const { page, pageErrors } = await openPanel(job.id, [], over);
      const alive = page.locator('.node[data-state="alive"]');
      await page.waitForFunction(() => document.querySelectorAll('.node[data-state="alive"]').length === 2, undefined, { timeout: 60_000 });
      const pids = (await alive.evaluateAll((cards) => cards.map((c) => Number(c.getAttribute("data-pid"))))).sort();
      assert.deepEqual(pids, nodes.map((n) => n.pid!).sort(), "a card per node process of the server's cluster");
      assert.deepEqual(await alive.evaluateAll((cards) => cards.map((c) => c.getAttribute("data-cpus"))), ["2", "2"]);
      await page.waitForFunction(() => Array.from(document.querySelectorAll(".node .node-facts")).some((f) => /[1-9] tasks? running/.test(f.textContent ?? "")), undefined, { timeout: 30_000 });
      await screenshot(page, "nodes-running");
      nodes[1].kill("SIGKILL");
      await page.locator(`.node[data-state="lost"][data-pid="${nodes[1].pid}"]`).waitFor({ timeout: 30_000 });
      assert.match((await texts(page, ".node-counts"))[0], /1 alive · 0 draining · 1 lost · 0 pending/);
      await jobState(page, "succeeded", 60_000);
      await screenshot(page, "nodes-lost");
      assert.equal(await page.locator(`.node[data-state="lost"] .node-facts`).innerText(), `pid ${nodes[1].pid} · 2 CPU slots`);
      assert.deepEqual(pageErrors, []);
    } finally {
      for (const node of nodes) node.kill("SIGKILL");
      await clusterServer.stop();
    }
  });

  it("shows the checkpoint's output rows in the typed grid, a page at a time", async () => {
    writePipeline(root, "rows-grid.rdpipe.ts", checkpointedPipeline("rows-grid", { strict: true }));
    const job = await submit("rows-grid.rdpipe.ts");
    const { page, pageErrors } = await openPanel(job.id);
    await jobState(page, "succeeded");
    const grid = page.locator('[data-view="rows"] .checkpoint-rows');
    const bodyRows = grid.locator(".grid-body .grid-row");
    await bodyRows.nth(9).waitFor();
    await screenshot(page, "checkpoint-rows-grid");
    const headers = await grid.locator(".grid-header").evaluateAll((cells) => cells.map((c) => [c.querySelector(".grid-name")!.textContent, c.querySelector(".grid-type")!.textContent]));
    assert.deepEqual(headers, [["id", "Int64"], ["value", "Utf8"], ["upper", "Utf8"], ["file", "Utf8"]], "types inferred from the values");
    const rowsPage = async (offset: number) => (await client.request("GET", `/jobs/${job.id}/checkpoint/rows?offset=${offset}&limit=10`, "checkpointRows")).rows;
    const shown = () => bodyRows.evaluateAll((rows) => rows.map((row) => Array.from(row.querySelectorAll<HTMLElement>(".grid-cell:not(.grid-index)"), (cell) => cell.textContent)));
    const expected = (rows: Awaited<ReturnType<typeof rowsPage>>) => rows.map(({ file, row }) => [String(row.id), String(row.value), String(row.upper), path.basename(file)]);
    assert.deepEqual(await shown(), expected(await rowsPage(0)));
    const alignment = await bodyRows.first().locator(".grid-cell:not(.grid-index)").evaluateAll((cells) => cells.map((c) => getComputedStyle(c).textAlign));
    assert.deepEqual(alignment, ["right", "start", "start", "start"], "the integer column right-aligned");
    await page.locator('[data-view="rows"] button.next').click();
    await page.locator('[data-view="rows"] .page-range', { hasText: "11–20 of" }).waitFor();
    await waitUntil(async () => JSON.stringify(await shown()) === JSON.stringify(expected(await rowsPage(10))));
    assert.equal(await bodyRows.first().locator(".grid-index").innerText(), "11", "rows numbered within the whole, not the page");
    assert.deepEqual(pageErrors, []);
  });
});

/** As VS Code does: the theme's variables on <html>, its kind as the body's class. */
async function applyTheme(page: Page, theme: (typeof VSCODE_THEMES)[number]): Promise<void> {
  await page.evaluate(({ variables, bodyClass }) => {
    const html = document.documentElement;
    for (const property of Array.from(html.style)) if (property.startsWith("--vscode-")) html.style.removeProperty(property);
    for (const [property, value] of Object.entries(variables)) html.style.setProperty(property, value);
    document.body.classList.remove("vscode-light", "vscode-dark", "vscode-high-contrast");
    document.body.classList.add(bodyClass);
  }, theme);
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 50));
  }
}
