// A real VS Code (code-server) with the rdpipe extension, in headless Chromium driven by playwright-core:
// the end-to-end tests' editor. One instance per suite: starting one takes ~5–10 s on 2 cores.
import fs from "node:fs";
import path from "node:path";
import { type Browser, type Frame, type FrameLocator, type Locator, type Page, chromium } from "playwright-core";
import { type CodeServer, type CodeServerProfile, createProfile, freePort, removeProfile, startCodeServer } from "../scripts/code-server";
import { chromiumLaunchOptions } from "./chromium";
import { belowAA, contrastScript, type ContrastReading } from "./contrast";
import { REPO } from "./helpers";

const OUTPUT = path.join(REPO, "test-output");
const SCREENSHOTS = path.join(OUTPUT, "ide-screenshots");

export type IdeTheme = "light" | "dark" | "high-contrast";

/** The themes code-server ships that the suite shows the panel in: the setting's value, the workbench's class and the webview body's. */
const THEMES: Record<IdeTheme, { id: string; label: string; workbench: string; webview: string }> = {
  light: { id: "Default Light Modern", label: "Light Modern", workbench: "vs", webview: "vscode-light" },
  dark: { id: "Default Dark Modern", label: "Dark Modern", workbench: "vs-dark", webview: "vscode-dark" },
  "high-contrast": { id: "Default High Contrast", label: "Dark High Contrast", workbench: "hc-black", webview: "vscode-high-contrast" },
};
const IDE_THEMES = Object.keys(THEMES) as IdeTheme[];

export interface IdeOptions {
  /** The folder VS Code opens. */
  workspace: string;
  /** The execution server the extension talks to (`rdpipe.serverUrl`). */
  serverUrl?: string;
  /** More user settings. */
  settings?: Record<string, unknown>;
  /** Names code-server's log file, test-output/code-server-<logName>.log. */
  logName?: string;
}

export interface Ide {
  page: Page;
  /** Opens a workspace file in an editor through Quick Open and waits until the editor shows it. */
  openFile(relativePath: string): Promise<void>;
  codeLens(title: string): Locator;
  /** The document inside the active webview panel. */
  panelFrame(): FrameLocator;
  /** Saves test-output/ide-screenshots/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Switches the color theme (Preferences: Color Theme); the panel follows live. */
  setTheme(theme: IdeTheme): Promise<void>;
  /**
   * The screenshot of one state in each theme: clears the notifications, then per theme switches to it,
   * runs `shows` (the assertions of what the screenshot shows), saves <name>-<theme>.png and reads the
   * contrast of every text in the job panel as rendered; ends in the light theme. Returns what fell
   * below WCAG AA, and a line for a theme in which the panel had no state badge to measure.
   */
  themeScreenshots(name: string, shows: (theme: IdeTheme) => Promise<void>): Promise<string[]>;
  /** Runs a command from the command palette by its title ("rdpipe: Connect to Remote Server"). */
  runCommand(title: string): Promise<void>;
  /** Answers the input box titled `title` with `text` (boxes asked one after another reuse one widget: the title tells them apart). */
  answerInput(title: string, text: string): Promise<void>;
  /** Reloads the window (Developer: Reload Window) and waits for the workbench. */
  reload(): Promise<void>;
  /** What the extension wrote to its output channel `name` so far ("" when it wrote nothing yet). */
  outputChannelText(name: string): string;
  stop(): Promise<void>;
}

export async function startIde(options: IdeOptions): Promise<Ide> {
  const launchOptions = chromiumLaunchOptions();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const settings = { "workbench.colorTheme": THEMES.light.id, ...(options.serverUrl ? { "rdpipe.serverUrl": options.serverUrl } : {}), ...options.settings };
  let profile: CodeServerProfile | undefined;
  let codeServer: CodeServer | undefined;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await codeServer?.stop();
    if (profile) {
      // The extension's log, kept as a test artifact.
      fs.writeFileSync(path.join(OUTPUT, `rdpipe-channel-${options.logName ?? "ide"}.log`), outputChannelText(profile.userDataDir, "rdpipe"));
      removeProfile(profile);
    }
  };
  try {
    profile = createProfile(settings);
    codeServer = await startCodeServer({
      profile, workspace: options.workspace, port: await freePort(), logFile: path.join(OUTPUT, `code-server-${options.logName ?? "ide"}.log`),
    });
    browser = await chromium.launch(launchOptions);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(codeServer.workspaceUrl);
    await waitForWorkbench(page);
    const userDataDir = profile.userDataDir;
    return {
      page,
      openFile: (relativePath) => openFile(page, relativePath),
      // In the active editor group's visible editor only: other groups may show pipelines too.
      codeLens: (title) => page.locator(".editor-group-container.active .codelens-decoration a", { hasText: new RegExp(`^${escapeRegExp(title)}$`) }),
      panelFrame: () => page.frameLocator("iframe.webview.ready").frameLocator("#active-frame"),
      screenshot: (name) => screenshot(page, name),
      setTheme: (theme) => setTheme(page, theme),
      themeScreenshots: async (name, shows) => {
        await runCommand(page, "Notifications: Clear All Notifications");
        const failures: string[] = [];
        for (const theme of IDE_THEMES) {
          await setTheme(page, theme);
          await shows(theme);
          await screenshot(page, `${name}-${theme}`);
          const readings = await (await panelDocument(page)).evaluate(contrastScript("all")) as ContrastReading[];
          if (!readings.some((reading) => reading.element.includes("job-state-label"))) failures.push(`${name} in ${theme}: no state badge in the panel`);
          failures.push(...belowAA(readings, `${name} in ${theme}`));
        }
        await setTheme(page, "light");
        return failures;
      },
      runCommand: (title) => runCommand(page, title),
      answerInput: async (title, text) => {
        const widget = page.locator(".quick-input-widget").filter({ has: page.locator(".quick-input-title", { hasText: title }) });
        await widget.waitFor({ timeout: 10_000 });
        await widget.locator("input").fill(text);
        await page.keyboard.press("Enter");
      },
      reload: async () => {
        // Through the command, as a user would: the workbench saves its state (the panels' too) before reloading.
        const reloaded = page.waitForEvent("load", { timeout: 60_000 });
        await runCommand(page, "Developer: Reload Window");
        await reloaded;
        await waitForWorkbench(page);
      },
      outputChannelText: (name) => outputChannelText(userDataDir, name),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

const panelIframe = (page: Page) => page.locator("iframe.webview.ready");

/** The job panel's document (the webview's inner frame), to evaluate in. */
async function panelDocument(page: Page): Promise<Frame> {
  const outer = await (await panelIframe(page).elementHandle({ timeout: 10_000 }))?.contentFrame();
  const inner = await (await outer?.locator("#active-frame").elementHandle({ timeout: 10_000 }))?.contentFrame();
  if (!inner) throw new Error("no job panel is open");
  return inner;
}

async function setTheme(page: Page, theme: IdeTheme): Promise<void> {
  const { label, workbench, webview } = THEMES[theme];
  if (!(await page.locator(`.monaco-workbench.${workbench}`).count())) {
    // Through the theme picker, as a user would (code-server does not apply a settings.json edited behind its back).
    // A click, not a filter: typing in the picker searches the marketplace too.
    const quickInput = page.locator(".quick-input-widget");
    const row = (name: string) => quickInput.locator(".monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${escapeRegExp(name)}$`) }) }).first();
    for (let attempt = 1; ; attempt++) {
      await runCommand(page, "Preferences: Color Theme");
      try {
        // Opened before the workbench has read the themes, the picker stays without them: open it again.
        await row(label).waitFor({ timeout: 10_000 });
        break;
      } catch (e) {
        await page.keyboard.press("Escape");
        if (attempt === 4) throw e;
      }
    }
    await row(label).click();
    await page.locator(`.monaco-workbench.${workbench}`).waitFor({ timeout: 30_000 });
  }
  if (await panelIframe(page).count() > 0) {
    await page.frameLocator("iframe.webview.ready").frameLocator("#active-frame").locator(`body.${webview}`).waitFor({ timeout: 30_000 });
  }
  // The workbench repaints after the class changes.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

async function waitForWorkbench(page: Page): Promise<void> {
  await page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
  // The explorer lists the folder once the workbench has restored its views and connected to the server
  // (after a reload the side bar may show another view: show the explorer).
  await page.locator(".part.statusbar").waitFor({ timeout: 60_000 });
  // (A key pressed while the workbench is still starting can go nowhere: press it again.)
  for (let attempt = 1; ; attempt++) {
    if (!(await page.locator(".explorer-folders-view").isVisible())) await page.keyboard.press("Control+Shift+E");
    try {
      await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({ timeout: 20_000 });
      return;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

/** Runs a command from the command palette by its title. */
async function runCommand(page: Page, title: string): Promise<void> {
  const quickInput = page.locator(".quick-input-widget");
  await page.keyboard.press("F1");
  await quickInput.locator("input").fill(`>${title}`);
  const row = quickInput.locator(".monaco-list-row", { hasText: title }).first();
  await row.waitFor({ timeout: 10_000 });
  // The command of exactly that title, where another ranks above it ("Preferences: Browse Color Themes…" above "Preferences: Color Theme").
  const exact = quickInput.locator(".monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) }).first();
  await ((await exact.count()) > 0 ? exact : row).click();
}

async function openFile(page: Page, relativePath: string): Promise<void> {
  const fileName = path.posix.basename(relativePath);
  const quickInput = page.locator(".quick-input-widget");
  // Files open in the first editor group, whatever has the focus (the job panel opens beside it).
  await page.keyboard.press("Control+1");
  // The first file search of a session can come back empty while the workspace is still being indexed: retry.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press("Control+P");
    await quickInput.locator("input").waitFor({ timeout: 10_000 });
    await quickInput.locator("input").fill(relativePath);
    const match = quickInput.locator(".monaco-list-row", { hasText: fileName }).first();
    try {
      await match.waitFor({ timeout: 10_000 });
      // A click, not Enter: the list may still be showing recently opened files when Enter lands.
      await match.click();
      break;
    } catch (e) {
      await page.keyboard.press("Escape");
      if (attempt === 3) throw e;
    }
  }
  await page.locator(`.tab.active[data-resource-name="${fileName}"]`).waitFor({ timeout: 30_000 });
  await page.locator(".editor-instance .monaco-editor .view-lines").first().waitFor({ timeout: 30_000 });
}

/**
 * Reads the channel from the extension hosts' logs: VS Code writes a log channel to
 * exthost<n>/<extension id>/<name>.log and a plain one to exthost<n>/output_logging_<time>/<n>-<name>.log.
 */
function outputChannelText(userDataDir: string, name: string): string {
  const logsDir = path.join(userDataDir, "logs");
  if (!fs.existsSync(logsDir)) return "";
  // One file per extension host: a window reload starts another. Oldest first.
  return fs.readdirSync(logsDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.parentPath.includes(`${path.sep}exthost`) && entry.name.replace(/^\d+-/, "") === `${name}.log`)
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
    .map((file) => fs.readFileSync(file, "utf8")).join("");
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
