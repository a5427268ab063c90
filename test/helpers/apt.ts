/**
 * Debian packages a test needs (sshd, chromium), installed once when missing: `apt-get update`
 * then `apt-get install`, under one lock file for every package, so that parallel test files never
 * run apt together. Not root or no apt: the test fails with the command to run, never passes silently.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const INSTALL_LOCK = join(tmpdir(), "gage-test-apt-install.lock");
const installing = new Map<string, Promise<string>>();

/** The first of `candidates` that exists, after installing `pkg` when none does. `purpose` names the tests. */
export function ensureDebianBinary(pkg: string, candidates: readonly string[], purpose: string): Promise<string> {
  let known = installing.get(pkg);
  if (known === undefined) {
    known = (async () => {
      const found = candidates.find((p) => existsSync(p));
      if (found) return found;
      if (process.getuid?.() !== 0) {
        throw new Error(`${purpose} need ${candidates[0]}: it is not installed, and only root can install it (apt-get install ${pkg})`);
      }
      const script = `test -x ${candidates[0]} || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg}; }`;
      try {
        await run("flock", [INSTALL_LOCK, "sh", "-c", script], { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`${purpose} need ${pkg}, and installing it failed: ${e.stderr || e.message}`);
      }
      const installed = candidates.find((p) => existsSync(p));
      if (!installed) throw new Error(`apt-get installed ${pkg}, yet none of ${candidates.join(", ")} was found`);
      return installed;
    })();
    installing.set(pkg, known);
  }
  return known;
}
