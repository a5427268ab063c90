/**
 * A real browser for tests: Debian's `chromium`, driven by `playwright-core` (npm), installed with
 * apt when missing (test/helpers/apt.ts); when that is impossible, `launchChromium` throws: browser
 * tests fail, never pass silently.
 */
import { chromium, type Browser } from "playwright-core";
import { ensureDebianBinary } from "./apt.js";

/** Headless chromium; close it with `browser.close()`. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureDebianBinary("chromium", ["/usr/bin/chromium", "/usr/bin/chromium-browser"], "Browser tests");
  return chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"],
  });
}
