/**
 * Debian packages a test needs (sshd, chromium, Ceph RGW, git), installed once when missing:
 * `apt-get update` then `apt-get install`, under one lock file for every package, so that parallel
 * test files never run apt together. Not root or no apt: the test fails with the command to run,
 * never passes silently.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const INSTALL_LOCK = join(tmpdir(), "gage-test-apt-install.lock");
const installing = new Map<string, Promise<string>>();

// Runs under the lock: installs unless dpkg already has every package (another file may have).
const INSTALL_UNLESS_PRESENT = `
const { execSync } = require("node:child_process");
const [script, ...packages] = process.argv.slice(1);
const installed = (p) => { try { return execSync("dpkg-query -W -f='\${Status}' " + p, { stdio: ["ignore", "pipe", "ignore"] }).toString().includes("install ok installed"); } catch { return false; } };
if (!packages.every(installed)) execSync(script, { stdio: ["ignore", "ignore", "inherit"], shell: "/bin/sh" });
`;

/**
 * Installs Debian `packages` unless `present()` already holds. Throws, naming `what`, when that
 * is impossible (not root, no apt).
 */
export async function installDebianPackages(what: string, packages: readonly string[], present: () => boolean): Promise<void> {
  if (present()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${what} is not installed, and only root can install it (apt-get install ${packages.join(" ")})`);
  }
  // An apt run by someone else (unattended upgrades) is waited for, not failed on.
  const apt = "apt-get -o DPkg::Lock::Timeout=600";
  const script = `${apt} update -qq && DEBIAN_FRONTEND=noninteractive ${apt} install -y -qq --no-install-recommends ${packages.join(" ")}`;
  try {
    await run("flock", [INSTALL_LOCK, process.execPath, "-e", INSTALL_UNLESS_PRESENT, script, ...packages], { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`Installing ${packages.join(" ")} for ${what} failed: ${e.stderr || e.message}`);
  }
  if (!present()) throw new Error(`apt-get installed ${packages.join(" ")}, yet ${what} is still missing`);
}

/** The first of `candidates` that exists, after installing `pkg` when none does. `purpose` names the tests. */
export function ensureDebianBinary(pkg: string, candidates: readonly string[], purpose: string): Promise<string> {
  let known = installing.get(pkg);
  if (known === undefined) {
    known = (async () => {
      const found = () => candidates.find((p) => existsSync(p));
      await installDebianPackages(`${candidates[0]} (for ${purpose})`, [pkg], () => found() !== undefined);
      return found()!;
    })();
    installing.set(pkg, known);
  }
  return known;
}
