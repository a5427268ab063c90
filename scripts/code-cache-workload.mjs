// The commands the build runs in its own process before it writes the `gage` command's code cache
// (src/cli/code-cache.ts): the cache then holds the code of the functions they ran, which every
// start would otherwise compile again when first called. Folder remote, a few runs from the
// bench's corpus generator, all under a temporary folder (HOME too) removed after.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";

const CORPUS = new URL("../bench/make-runs-corpus.mjs", import.meta.url).pathname;

const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });

/** Runs the workload through the bundle's `main`; throws when a command fails. */
export async function codeCacheWorkload({ main }) {
  const dir = mkdtempSync(join(tmpdir(), "gage-code-cache-"));
  try {
    const runs = join(dir, "runs");
    const remote = join(dir, "remote");
    const corpus = (...args) => execFileSync(process.execPath, [CORPUS, "--out", runs, "--quiet", ...args]);
    corpus("--runs", "3");
    const commands = [
      ["push", remote, "-y"],
      ["label", "--set", "warm", "1", "-y"],
      () => corpus("--runs", "1", "--start-index", "3"),
      ["push", remote, "-y"],
      ["push", remote, "-y"],
      ["status", remote],
      ["pull", remote, "-y"],
      ["ls"],
      ["ls", "--remote", remote],
      ["clone", remote, join(dir, "clone")],
    ];
    for (const command of commands) {
      if (typeof command === "function") {
        command();
        continue;
      }
      const stderr = [];
      const err = new Writable({ write: (chunk, _encoding, done) => (stderr.push(chunk), done()) });
      const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, ".config"), GAGE_RUNS: runs };
      const ctx = { env, cwd: dir, stdin: Readable.from([]), stdout: sink(), stderr: err, now: () => new Date(), exitCode: 0, onInterrupt: () => () => {} };
      const code = await main(command, ctx);
      if (code !== 0) throw new Error(`gage ${command.join(" ")} exited ${code}: ${Buffer.concat(stderr).toString()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
