// End to end in a real VS Code (code-server) with the staged rdpipe extension, driven from headless
// Chromium: the extension starts its bundled execution server, its language server puts CodeLens on the
// samples, runs show in the job panel, and a failing UDF is debugged, fixed and resumed. Screenshots go
// to test-output/ide-screenshots/. Needs `bash scripts/install-code-server.sh` (.ci/run does).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type Ide, startIde } from "./ide-harness";
import { RemoteClient } from "../server/src/contract";
import { assertExactlyOnce, copySamples, outputIds, runCli, tempDir } from "./helpers";
import { type ServerProcess, startServer } from "./server-helpers";

const ORDERS = 50_000;

describe("the extension in a real VS Code (code-server)", function () {
  this.timeout(180_000);
  let workspace: string;
  let ide: Ide;

  const panel = () => ide.panelFrame();
  /** The jobs the tests ran on the local server and how each ended ("pipeline state"), for the Jobs view. */
  const ranJobs: string[] = [];
  /** Waits until the panel shows a job of `pipeline` (and, given, one that resumes another) in `state`. */
  const jobState = async (pipeline: string, state: string, options: { resumed?: boolean } = {}) => {
    await panel().locator("header").filter({ hasText: pipeline }).filter(options.resumed ? { has: panel().locator(".resumed-from") } : {})
      .locator(`.job-state[data-state="${state}"]`).waitFor({ timeout: 90_000 });
    if (state !== "running") ranJobs.push(`${pipeline} ${state}`);
  };

  /** Screenshots of the current state in every theme, each after `shows` asserted what it shows; every text in the panel passes WCAG AA. */
  const inEveryTheme = async (name: string, shows: () => Promise<void>) => {
    assert.deepEqual(await ide.themeScreenshots(name, shows), [], "every badge and text in the panel at least 4.5:1 in every theme");
  };

  before(async () => {
    workspace = copySamples();
    const orders = runCli(["run", "make-orders.rdpipe.ts", "--quiet"], { cwd: workspace });
    assert.equal(orders.code, 0, orders.stderr);
    ide = await startIde({ workspace, logName: "ide-test" });
  });
  afterEach(async function () {
    if (this.currentTest?.state !== "failed" || !ide) return;
    await ide.screenshot(`failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, "-")}`);
    // CI keeps only the console: the extension's last words tell which job the failed step acted on.
    console.log(`rdpipe output channel, last lines:\n${ide.outputChannelText("rdpipe").split("\n").slice(-25).join("\n")}`);
  });
  after(async () => {
    await ide?.stop();
    if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
  });

  it("runs a sample from its CodeLens on the bundled server and the panel follows it to completion", async () => {
    await ide.page.locator(".statusbar-item", { hasText: /rdpipe: local 127\.0\.0\.1:\d+/ }).waitFor({ timeout: 60_000 });
    await ide.openFile("make-data.rdpipe.ts");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.screenshot("1-make-data-codelens");
    await ide.codeLens("Run").first().click();
    await jobState("make-data.rdpipe.ts", "succeeded");
    assert.equal(await panel().locator("[data-rows-out]").getAttribute("data-rows-out"), "200000");
    await ide.screenshot("2-make-data-succeeded");

    // The quickstart reads what make-data wrote; its plan (and CodeLens) is inspected once the file opens.
    await ide.openFile("quickstart.rdpipe.ts");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.codeLens("Run").first().click();
    await jobState("quickstart.rdpipe.ts", "succeeded");
    await inEveryTheme("3-quickstart-succeeded", async () => {
      assert.equal(await panel().locator(".job-state").getAttribute("data-tone"), "ok");
      const operators = await panel().locator(".operator").evaluateAll((cards) => cards.map((card) => card.getAttribute("data-operator")));
      assert.ok(operators.some((name) => /scoreSentiment/.test(name ?? "")), `operators shown: ${operators.join(", ")}`);
      // True progress: every bar complete, and the write's rows read and written as separate figures.
      const percents = await panel().locator(".operator").evaluateAll((cards) => cards.map((card) => card.getAttribute("data-percent")));
      assert.ok(percents.every((p) => p === "100"), `bars: ${percents.join(", ")}`);
      const written = Number(await panel().locator("[data-rows-out]").getAttribute("data-rows-out"));
      const rows = await panel().locator('.operator [data-fact="Rows"]').allInnerTexts();
      assert.match(rows.at(-1) ?? "", new RegExp(`^[\\d,]+ rows read · ${written.toLocaleString("en-US")} written$`), `rows: ${rows.join(" | ")}`);
      assert.equal(await panel().locator(".outcome").innerText(), `Succeeded · ${written.toLocaleString("en-US")} rows written`);
    });
    assert.ok(fs.readdirSync(path.join(workspace, "out", "positive-reviews")).some((file) => file.endsWith(".parquet")));
  });

  it("Run to here on the quickstart's .map(normalize) shows its normalized rows in the panel's grid, with their Arrow types", async () => {
    // The quickstart (which the test before ran) in front again: the theme passes before may have left the focus
    // elsewhere. Each operator's line has a "Run to here" lens above it.
    await ide.openFile("quickstart.rdpipe.ts");
    const mapLine = ide.page.locator(".editor-group-container.active .view-line", { hasText: ".map(normalize)" });
    await mapLine.waitFor({ timeout: 30_000 });
    const line = await mapLine.boundingBox();
    const lenses = ide.codeLens("Run to here");
    await lenses.first().waitFor({ timeout: 60_000 });
    const tops = await lenses.evaluateAll((links) => links.map((link) => link.getBoundingClientRect().bottom));
    const above = tops.map((bottom, i) => ({ bottom, i })).filter(({ bottom }) => bottom <= line!.y + 1).sort((a, b) => b.bottom - a.bottom)[0];
    assert.ok(above, `a Run to here lens above .map(normalize): lens bottoms ${tops.join(", ")}, line at ${line!.y}`);
    await lenses.nth(above.i).click();
    const grid = panel().locator(".preview");
    await grid.locator(".grid-body .grid-row").first().waitFor({ timeout: 90_000 });
    await jobState("quickstart.rdpipe.ts", "succeeded"); // a job of its own, which the Jobs view lists
    await inEveryTheme("3b-quickstart-run-to-here-grid", async () => {
      const headers = await grid.locator(".grid-header").evaluateAll((cells) => cells.map((c) => [c.querySelector(".grid-name")!.textContent, c.querySelector(".grid-type")!.textContent]));
      assert.deepEqual(headers, [["id", "Int64"], ["product", "Utf8"], ["text", "Utf8"], ["stars", "Float64"], ["price", "Float64"]]);
      const texts = await grid.locator(".grid-body .grid-row").evaluateAll((rows) => rows.map((row) => (row.querySelectorAll<HTMLElement>(".grid-cell")[3].title)));
      assert.ok(texts.length > 0);
      for (const text of texts) assert.equal(text, text.trim().toLowerCase(), "each row's text as normalize made it");
      assert.match(texts[0], /^[a-z ]+: [a-z]+ #\d+$/);
      assert.equal(await grid.locator(".grid-status").innerText(), "20 rows", "the default preview of 20 rows");
      assert.equal(await panel().locator(".outcome").innerText(), "Succeeded · 20 rows out");
    });
  });

  it("a UDF throws on a malformed row: the panel shows the row, Debug this row stops where it threw, the fix resumes to every row once", async () => {
    await ide.openFile("orders.rdpipe.ts");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.codeLens("Run").first().click();
    await jobState("orders.rdpipe.ts", "failed");
    const failedRow = panel().locator(".failed-row");
    const throwLine = fs.readFileSync(path.join(workspace, "orders.rdpipe.ts"), "utf8").split("\n").findIndex((line) => line.includes("malformed price")) + 1;
    const sourceLink = failedRow.locator("a.udf-source");
    await inEveryTheme("4-orders-failed", async () => {
      assert.equal(await panel().locator(".job-state").getAttribute("data-tone"), "error");
      assert.match(await panel().locator(".outcome").innerText(), /^Failed on row \d+ of …\/orders\/[\w.]+\.json$/);
      // The errored row first: right under the outcome, above the figures, the operators and the checkpoint.
      const sections = await panel().locator("#panel > *").evaluateAll((children) => children.map((child) => child.className.split(" ")[0]));
      assert.deepEqual(sections.slice(0, 3), ["", "outcome", "errored-row"], `the panel's parts in order: ${sections.join(", ")}`);
      assert.ok(sections.indexOf("errored-row") < sections.indexOf("operators"), sections.join(", "));
      assert.match(await failedRow.locator(".errored-where").innerText(), /Map\(total\)/);
      assert.match(await failedRow.locator('.errored-input tr[data-key="price"] td').innerText(), /^("\d+,\d\d"|null)$/);
      assert.match(await failedRow.locator(".errored-error").innerText(), /Map\(total\) failed on row \d+ \(order_id \d+\).*malformed price/);
      assert.equal(await sourceLink.innerText(), `parsePrice (orders.rdpipe.ts:${throwLine})`);
    });
    // The link to parsePrice's line opens the editor there.
    await sourceLink.click();
    await ide.page.locator(".statusbar-item", { hasText: new RegExp(`^Ln ${throwLine}, Col \\d+`) }).waitFor({ timeout: 10_000 });

    // Debug this row: a Node debug session of `rdpipe debug-row`, stopped on the line of parsePrice that threw.
    await failedRow.locator("button.debug-row").click();
    await ide.page.locator(".debug-toolbar").waitFor({ timeout: 60_000 });
    const pausedFrame = ide.page.locator(".debug-call-stack .monaco-list-row", { hasText: "parsePrice" }).first();
    await pausedFrame.waitFor({ timeout: 60_000 });
    const ordersBreakpoints = ide.page.locator(".debug-breakpoints .monaco-list-row", { hasText: "orders.rdpipe.ts" });
    await ordersBreakpoints.first().waitFor({ timeout: 10_000 });
    await inEveryTheme("5-debug-this-row", async () => {
      assert.match(await pausedFrame.innerText(), new RegExp(`orders\\.rdpipe\\.ts\\s*${throwLine}:`));
      // The engine's frames are skipped: the frames shown (not collapsed, not greyed) are the pipeline file's, parsePrice on top.
      const shownFrames = await ide.page.locator(".debug-call-stack .stack-frame:not(.disabled)").allInnerTexts();
      assert.match(shownFrames[0] ?? "", /parsePrice/, `call stack: ${shownFrames.join(" | ")}`);
      assert.ok(shownFrames.every((frame) => /orders\.rdpipe\.ts/.test(frame)), `call stack: ${shownFrames.join(" | ")}`);
      assert.equal(await ordersBreakpoints.count(), 1, "Debug this row adds one breakpoint");
      assert.equal(await panel().locator(".job-state").getAttribute("data-state"), "failed");
    });
    await ide.page.keyboard.press("Shift+F5");
    await ide.page.locator(".debug-toolbar").waitFor({ state: "hidden", timeout: 30_000 });
    // The breakpoint it added goes with the session.
    await ordersBreakpoints.first().waitFor({ state: "detached", timeout: 10_000 });
    assert.equal(await ordersBreakpoints.count(), 0, "no breakpoint remains after the debug session");

    // A window reload during the session ends it with the extension host; the next host removes the breakpoint.
    // (The editor's glyph margin shows it: the Breakpoints view is hidden when there are none, unless one debugged since the reload.)
    const breakpointGlyphs = ide.page.locator('.editor-group-container .monaco-editor .glyph-margin-widgets [class*="codicon-debug-breakpoint"]');
    await failedRow.locator("button.debug-row").click();
    await pausedFrame.waitFor({ timeout: 60_000 });
    await breakpointGlyphs.first().waitFor({ timeout: 10_000 });
    await ide.reload();
    await ide.openFile("orders.rdpipe.ts");
    await ide.page.locator(".editor-group-container .view-line", { hasText: "malformed price" }).waitFor({ timeout: 10_000 });
    await breakpointGlyphs.first().waitFor({ state: "detached", timeout: 30_000 });
    assert.equal(await breakpointGlyphs.count(), 0, "no breakpoint remains after a reload during the debug session");

    // The fix: accept a decimal comma and a missing price. The editor reloads the file; Resume re-reads it.
    const file = path.join(workspace, "orders.rdpipe.ts");
    const source = fs.readFileSync(file, "utf8");
    const fixed = source
      .replace(/^.*throw new Error\(`malformed price.*$/m, "  if (text === null) return 0;")
      .replace("return Number(text);", 'return Number(String(text).replace(",", "."));');
    assert.notEqual(fixed, source, "the fix applies");
    fs.writeFileSync(file, fixed);
    await panel().locator("button.resume").click();
    await jobState("orders.rdpipe.ts", "succeeded", { resumed: true });
    await ide.screenshot("6-orders-resumed");
    const ids = await outputIds(path.join(workspace, "out", "orders"), "order_id");
    assertExactlyOnce(ids, Array.from({ length: ORDERS }, (_, i) => i));
    const resumedJob = await panel().locator(".job-id").getAttribute("data-job-id"); // the full ID (the panel shows its first 8 characters)
    assert.match(ide.outputChannelText("rdpipe"), new RegExp(`\\[job ${resumedJob}\\] succeeded: orders\\.rdpipe\\.ts: wrote 50,000 rows`));
  });

  it("after a window reload the panel comes back attached to the running job, and its Cancel stops it", async () => {
    fs.writeFileSync(path.join(workspace, "slow.rdpipe.ts"), `import * as rd from "rdpipe";
export default rd
  .range(600, { overrideNumBlocks: 6 })
  .map(async function slowly(row: rd.Row) { await new Promise((resolve) => setTimeout(resolve, 50)); return row; })
  .writeParquet("out/slow", { mode: "overwrite" });
`);
    await ide.openFile("slow.rdpipe.ts");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.codeLens("Run").first().click();
    await jobState("slow.rdpipe.ts", "running");
    const jobId = (await panel().locator(".job-id").innerText()).replace(/^job /, "");

    await ide.reload();
    await panel().locator(".job-id", { hasText: jobId }).waitFor({ timeout: 60_000 });
    await ide.screenshot("7-slow-after-reload");
    // Only a panel that reattached to the job's events sees the cancellation through.
    await panel().locator("button.cancel:not([disabled])").click();
    await jobState("slow.rdpipe.ts", "cancelled");
    await inEveryTheme("8-slow-cancelled", async () => {
      assert.equal(await panel().locator(".outcome").innerText(), "Cancelled · outputs removed");
      // No live figures: no memory in use, busy workers, queues, rates, backpressure or running tasks, and no Cancel.
      for (const live of ['[data-resource="Memory"]', '[data-resource="Workers busy"]', '[data-fact="Queued"]', '[data-fact="Rows/s"]', '[data-fact="Backpressure"]', "button.cancel"]) {
        assert.equal(await panel().locator(live).count(), 0, `${live} on a cancelled job`);
      }
      const tasks = await panel().locator('[data-fact="Tasks"]').allInnerTexts();
      assert.ok(tasks.length > 0 && tasks.every((text) => !/running/.test(text)), `tasks: ${tasks.join(" | ")}`);
      assert.match(await panel().locator('[data-resource="Peak memory"]').innerText(), /\d/);
    });
    // The folder did not exist before the job, so a cancelled job leaves none (not even an empty one).
    assert.equal(fs.existsSync(path.join(workspace, "out", "slow")), false, "a cancelled job leaves no output folder");
  });

  it("New Pipeline writes a starter pipeline that type-checks with no setup and runs from its CodeLens", async () => {
    await ide.runCommand("rdpipe: New Pipeline");
    await ide.answerInput("rdpipe: new pipeline", "fresh");
    await ide.page.locator('.tab.active[data-resource-name="fresh.rdpipe.ts"]').waitFor({ timeout: 30_000 });
    assert.ok(fs.existsSync(path.join(workspace, "tsconfig.json")), "a tsconfig.json for pipeline files");
    // The new file opens in the first editor group; after the reload test the panel's group may still hold the focus.
    await ide.page.keyboard.press("Control+1");
    await ide.page.keyboard.press("Control+End");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.codeLens("Run").first().click();
    await jobState("fresh.rdpipe.ts", "succeeded");
    // The starter has no write: its rows are the preview, the one the filter keeps.
    assert.equal(await panel().locator("[data-rows-out]").getAttribute("data-rows-out"), "1");
    await ide.screenshot("9-new-pipeline");
    // "rdpipe" resolves to the API through the extension's TypeScript plugin: a wrong argument is a type error
    // (without the plugin the only error would be that the module is not found).
    fs.appendFileSync(path.join(workspace, "fresh.rdpipe.ts"), `export const wrong = rd.range("ten");\n`);
    await ide.page.keyboard.press("Control+Shift+M");
    const problems = ide.page.locator(".markers-panel .monaco-list-row");
    await problems.filter({ hasText: "not assignable to parameter of type 'number'" }).first().waitFor({ timeout: 60_000 });
    assert.equal(await problems.filter({ hasText: "Cannot find module" }).count(), 0);
    await ide.screenshot("10-new-pipeline-types");
  });

  /** The Jobs view's rows (the view must be shown: "Focus on Jobs View"). */
  const jobRows = () => ide.page.locator('[id="workbench.view.extension.rdpipe"] .monaco-list-row');
  /**
   * Picks `action` from the context menu of the latest job of `pipeline` in the Jobs view, after checking the menu has none of `absent`.
   * The view refreshes while jobs run: a right-click that landed on another row, or a hover that left another item
   * focused, is tried again instead of acting on the wrong job.
   */
  const choose = async (pipeline: string, action: string, absent: string[]) => {
    const menu = ide.page.locator(".context-view .monaco-menu");
    const row = jobRows().filter({ hasText: pipeline }).first();
    for (let attempt = 1; ; attempt++) {
      await row.click({ button: "right" });
      await menu.waitFor({ timeout: 10_000 });
      const item = menu.locator(".action-label", { hasText: new RegExp(`^${action}$`) });
      // A menu without the action opened on another row (the view refreshed under the pointer): try again.
      const offered = await item.waitFor({ timeout: 5_000 }).then(() => true, () => false);
      if (offered) await item.hover();
      const focusedItem = offered ? (await menu.locator(".action-item.focused .action-label").allInnerTexts()).join() : "";
      const onRow = (await row.getAttribute("class"))?.split(" ").includes("focused");
      if (focusedItem === action && onRow) {
        for (const other of absent) assert.equal(await menu.locator(".action-label", { hasText: new RegExp(`^${other}$`) }).count(), 0, `no ${other} for this job`);
        await ide.page.keyboard.press("Enter");
        await menu.waitFor({ state: "hidden", timeout: 10_000 });
        return;
      }
      const items = (await menu.locator(".action-label").allInnerTexts()).join(", ");
      assert.ok(attempt < 3, `the context menu of ${pipeline} in the Jobs view (${items}): ${focusedItem || `no ${action}`} focused, the row ${onRow ? "" : "not "}focused`);
      await ide.page.keyboard.press("Escape");
      await menu.waitFor({ state: "hidden", timeout: 10_000 });
    }
  };

  it("the Jobs view lists every job the tests ran; a click opens its panel, the context menu reruns it", async () => {
    assert.ok(ranJobs.length > 0, "runs after the tests that run jobs");
    await ide.runCommand("Focus on Jobs View");
    const rows = jobRows();
    const listed = async () => (await rows.evaluateAll((elements) => elements.map((row) => [
      row.querySelector(".label-name")?.textContent ?? "", row.querySelector(".label-description")?.textContent ?? "",
    ]))).map(([name, description]) => ({ name, description, state: description.split(" · ")[0] }));
    await rows.nth(ranJobs.length - 1).waitFor({ timeout: 30_000 });
    await rows.filter({ hasText: "make-data.rdpipe.ts" }).click();
    await panel().locator("header").filter({ hasText: "make-data.rdpipe.ts" }).waitFor({ timeout: 30_000 });
    await inEveryTheme("11-jobs-view", async () => {
      const shown = await listed();
      assert.deepEqual(shown.map((job) => `${job.name} ${job.state}`).sort(), [...ranJobs].sort(), JSON.stringify(shown));
      const makeData = shown.find((job) => job.name === "make-data.rdpipe.ts")!;
      assert.match(makeData.description, /^succeeded · [\d.]+ s · 200,000 rows$/);
      assert.equal(await panel().locator("[data-rows-out]").getAttribute("data-rows-out"), "200000");
    });

    // The context menu offers what a job's state allows: Rerun on the cancelled slow job, then Cancel on its rerun.
    await choose("slow.rdpipe.ts", "Rerun", ["Cancel", "Resume", "Inspect Checkpoint"]);
    await jobState("slow.rdpipe.ts", "running");
    await rows.first().filter({ hasText: /slow\.rdpipe\.ts.*running/ }).waitFor({ timeout: 30_000 });
    await ide.screenshot("11-jobs-view-running");
    await choose("slow.rdpipe.ts", "Cancel", ["Rerun"]);
    await jobState("slow.rdpipe.ts", "cancelled");
    await rows.nth(ranJobs.length - 1).waitFor({ timeout: 30_000 });
    await ide.page.waitForFunction(() => !document.querySelector('[id="workbench.view.extension.rdpipe"]')?.textContent?.includes("running"), undefined, { timeout: 30_000 });
    assert.deepEqual((await listed()).map((job) => `${job.name} ${job.state}`).sort(), [...ranJobs].sort());
    await ide.runCommand("View: Show Explorer");
    await ide.page.locator(".explorer-folders-view").waitFor({ timeout: 10_000 });
  });

  it("the Jobs view's Inspect Checkpoint shows a job's checkpoint with its skipped rows first, and its Resume writes those rows", async () => {
    // A pipeline in a folder (the panel and its tab title it by its workspace-relative path) that skips 5 orders.
    fs.mkdirSync(path.join(workspace, "pipelines"), { recursive: true });
    const file = path.join(workspace, "pipelines", "held.rdpipe.ts");
    const held = (id: number) => id % 10_000 === 7;
    fs.writeFileSync(file, `import * as rd from "rdpipe";
rd.DataContext.getCurrent().checkpointConfig = new rd.CheckpointConfig({ idColumn: "order_id", checkpointPath: "../out/held-checkpoint" });
function release(row: rd.Row) {
  if (Number(row.order_id) % 10000 === 7) throw new Error(\`order \${row.order_id} is held\`);
  return { order_id: row.order_id, customer: row.customer };
}
export default rd.readJson("../data/orders").map(release, { onError: "skip" }).writeParquet("../out/held");
`);
    const heldIds = Array.from({ length: ORDERS }, (_, i) => i).filter(held);
    await ide.openFile("pipelines/held.rdpipe.ts");
    await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
    await ide.codeLens("Run").first().click();
    await jobState("held.rdpipe.ts", "succeeded");
    const jobId = await panel().locator(".job-id").getAttribute("data-job-id");
    await ide.page.locator(".tab", { hasText: "rdpipe: pipelines/held.rdpipe.ts (succeeded)" }).waitFor({ timeout: 10_000 });
    assert.equal(await panel().locator("header h1").innerText(), "pipelines/held.rdpipe.ts");

    // Another job in the panel, then Inspect Checkpoint from the Jobs view brings this one back.
    await ide.runCommand("Focus on Jobs View");
    // Once the view lists this job at the top: a refresh that adds it moves the rows under the pointer.
    await jobRows().first().filter({ hasText: /pipelines\/held\.rdpipe\.ts.*succeeded/ }).waitFor({ timeout: 30_000 }); // labelled by its workspace-relative path
    await jobRows().filter({ hasText: "make-data.rdpipe.ts" }).click();
    await panel().locator("header").filter({ hasText: "make-data.rdpipe.ts" }).waitFor({ timeout: 30_000 });
    await choose("held.rdpipe.ts", "Inspect Checkpoint", ["Cancel"]);
    await panel().locator(`.job-id[data-job-id="${jobId}"]`).waitFor({ timeout: 30_000 });
    const pinned = panel().locator(".errored-rows-pinned .errored-row");
    await pinned.nth(heldIds.length - 1).waitFor({ timeout: 30_000 });
    await panel().locator('[data-view="rows"] .grid-body .grid-row').first().waitFor({ timeout: 30_000 });
    const written = ORDERS - heldIds.length;
    await inEveryTheme("13-checkpoint-view", async () => {
      assert.deepEqual([await panel().locator(".job-state").getAttribute("data-tone"), await panel().locator(".job-state-label").innerText()],
        ["warning", `succeeded, ${heldIds.length} rows skipped`]);
      assert.equal(await panel().locator(".outcome").innerText(), `Succeeded · ${written.toLocaleString("en-US")} rows written · ${heldIds.length} rows skipped`);
      // The skipped rows first, each as its ID, its row and its error.
      const order = await panel().locator("#panel > section").evaluateAll((sections) => sections.map((section) => section.className));
      assert.ok(order.indexOf("errored-rows-pinned") >= 0 && order.indexOf("errored-rows-pinned") < order.indexOf("operators"), order.join(", "));
      assert.deepEqual((await pinned.evaluateAll((cards) => cards.map((card) => Number(card.getAttribute("data-id"))))).sort((a, b) => a - b), heldIds);
      assert.match(await pinned.first().locator(".errored-error").innerText(), /order \d+ is held$/);
      assert.equal(await panel().locator("[data-committed-ids]").getAttribute("data-committed-ids"), String(written));
      assert.equal(await panel().locator('[data-view="rows"] .page-range').innerText(), `1–10 of ${written.toLocaleString("en-US")}`);
      assert.equal(await panel().locator('[data-view="rows"] .grid-body .grid-row').count(), 10);
    });

    // Released: Resume (from the Jobs view) runs the held orders only, and every order is written once.
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/^.*is held.*$/m, ""));
    await choose("held.rdpipe.ts", "Resume", ["Cancel"]);
    await jobState("held.rdpipe.ts", "succeeded", { resumed: true });
    assert.equal(await panel().locator(".resumed-from").getAttribute("data-job-id"), jobId);
    assertExactlyOnce(await outputIds(path.join(workspace, "out", "held"), "order_id"), Array.from({ length: ORDERS }, (_, i) => i));
    await ide.runCommand("View: Show Explorer");
  });

  it("connects to a remote server with a token (kept in SecretStorage across a reload) and runs pipelines there as uploaded bundles", async () => {
    // The remote server may read none of the workspace: only a bundle compiled in the editor can run there.
    const token = "remote-token-0123456789";
    const remoteRoot = tempDir("rdpipe-ide-remote-");
    let remote: ServerProcess | undefined;
    try {
      remote = await startServer(["--root", remoteRoot, "--state-dir", path.join(remoteRoot, ".state"), "--token", token]);
      await ide.runCommand("rdpipe: Connect to Remote Server");
      await ide.answerInput("rdpipe: remote execution server", remote.url);
      await ide.answerInput("rdpipe: server token", token);
      const remoteStatus = ide.page.locator(".statusbar-item", { hasText: `rdpipe: remote ${new URL(remote.url).host}` });
      await remoteStatus.waitFor({ timeout: 30_000 });
      await ide.reload();
      await remoteStatus.waitFor({ timeout: 60_000 });
      await ide.screenshot("12-remote-server");

      await ide.openFile("quickstart.rdpipe.ts");
      await ide.page.keyboard.press("Control+End"); // the Run CodeLens sits on the last operator
      await ide.codeLens("Run").first().waitFor({ timeout: 60_000 });
      await ide.codeLens("Run").first().click();
      await jobState("quickstart.rdpipe.ts", "succeeded");
      const { jobs } = await new RemoteClient(remote.url, token).request("GET", "/jobs", "jobs");
      assert.equal(jobs.length, 1);
      assert.deepEqual([jobs[0].sourceKind, jobs[0].pipeline, jobs[0].state], ["bundle", path.join(workspace, "quickstart.rdpipe.ts"), "succeeded"]);
    } finally {
      await remote?.stop();
      fs.rmSync(remoteRoot, { recursive: true, force: true });
    }
  });
});
