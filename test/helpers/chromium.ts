/**
 * A real browser for tests: Debian's `chromium`, driven by `playwright-core` (npm). When the
 * binary is missing it is installed once (`apt-get install chromium`, under a lock file so
 * parallel test files do not run apt together, as test/helpers/sshd.ts does for sshd); when that is
 * impossible (not root, no apt), `launchChromium` throws: browser tests fail, never pass silently.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";

const run = promisify(execFile);
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const INSTALL_LOCK = join(tmpdir(), "gage-test-chromium-install.lock");

let installing: Promise<string> | undefined;

/** The chromium binary, installed with apt-get when missing and we are root. */
export function ensureChromium(): Promise<string> {
  installing ??= (async () => {
    const found = CANDIDATES.find((p) => existsSync(p));
    if (found) return found;
    if (process.getuid?.() !== 0) {
      throw new Error("Browser tests need Debian's chromium: it is not installed, and only root can install it (apt-get install chromium)");
    }
    const script = "test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }";
    try {
      await run("flock", [INSTALL_LOCK, "sh", "-c", script], { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`Browser tests need chromium, and installing it failed: ${e.stderr || e.message}`);
    }
    const installed = CANDIDATES.find((p) => existsSync(p));
    if (!installed) throw new Error("apt-get installed chromium, yet no chromium binary was found");
    return installed;
  })();
  return installing;
}

/** Headless chromium; close it with `browser.close()`. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureChromium();
  return chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"],
  });
}
