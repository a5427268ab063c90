import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project's test data: runs made by the real Python Gage, the scenario (test/fixtures/README.md). */
export const FIXTURES_DIR = fileURLToPath(new URL("../fixtures/", import.meta.url));

/** The project's deterministic runs generator (bench/make-runs-corpus.mjs; `--help` for its arguments). */
export const CORPUS_GENERATOR = fileURLToPath(new URL("../../bench/make-runs-corpus.mjs", import.meta.url));

/** A fresh temporary directory, removed by the returned cleanup (modes reset first). */
export function tempDir(prefix = "gage-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    cleanup: () => {
      execFileSync("chmod", ["-R", "u+w", path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Runs `body` with a fresh temporary directory, removed afterwards whatever the outcome. */
export async function withTempDir<T>(prefix: string, body: (tmp: { path: string }) => Promise<T> | T): Promise<T> {
  const tmp = tempDir(prefix);
  try {
    return await body(tmp);
  } finally {
    tmp.cleanup();
  }
}

/** Unpacks the real-Gage runs directory into `dir` and returns its path (`dir/gage-runs`). */
export function unpackFixtureRuns(dir: string): string {
  execFileSync("tar", ["-xzf", join(FIXTURES_DIR, "gage-runs.tar.gz"), "-C", dir]);
  return join(dir, "gage-runs");
}

/** A FIFO at `path` (its folders made first): something other than a regular file where a file belongs. */
export function mkfifoAt(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  execFileSync("mkfifo", [path]);
}
