// isomorphic-git is loaded only by commands on a Git remote: `gage ls` never loads it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { baseEnv, GAGE_BIN } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { initBare } from "../helpers/git-http.js";

const TRACE_HOOK = fileURLToPath(new URL("../helpers/module-trace.mjs", import.meta.url));

/** The bundle files a gage command loads. */
function loadedFiles(args: string[], env: Record<string, string>, trace: string): string[] {
  execFileSync(process.execPath, ["--import", TRACE_HOOK, GAGE_BIN, ...args], { env: baseEnv({ ...env, GAGE_MODULE_TRACE: trace }), stdio: "ignore" });
  return readFileSync(trace, "utf8").split("\n").filter((u) => u.startsWith("file:")).map((u) => fileURLToPath(u));
}

test("gage ls loads no part of isomorphic-git; a push to a Git remote does", async () => {
  const tmp = tempDir("gage-git-lazy-");
  try {
    const runs = unpackFixtureRuns(tmp.path);
    const bundle = dirname(GAGE_BIN);
    const gitChunks = readdirSync(bundle)
      .filter((f) => f.endsWith(".js") && readFileSync(join(bundle, f), "utf8").includes("// node_modules/isomorphic-git/"))
      .map((f) => join(bundle, f));
    assert.ok(gitChunks.length > 0, "esbuild marks isomorphic-git's modules in the chunks that hold them");
    const ls = loadedFiles(["ls"], { GAGE_RUNS: runs }, join(tmp.path, "ls.trace"));
    assert.ok(ls.includes(GAGE_BIN));
    assert.deepEqual(ls.filter((f) => gitChunks.includes(f)), []);
    const bare = await initBare(join(tmp.path, "team.git"));
    const push = loadedFiles(["push", bare, "-y"], { GAGE_RUNS: runs }, join(tmp.path, "push.trace"));
    assert.ok(push.some((f) => gitChunks.includes(f)));
  } finally {
    tmp.cleanup();
  }
});
