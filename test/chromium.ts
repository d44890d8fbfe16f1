// Debian's chromium, headless, as the browser tests drive it through playwright-core.
import fs from "node:fs";
import type { LaunchOptions } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

/** Launch options for Debian's chromium; throws naming the fix when it is missing. */
export function chromiumLaunchOptions(): LaunchOptions {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does`);
  return {
    executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  };
}
