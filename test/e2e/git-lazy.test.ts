// isomorphic-git is loaded only by commands on a Git remote over HTTP(S): `gage ls` never loads it,
// and a bare repository is read and written here without it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { baseEnv, GAGE_BIN } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { initBare, startGitHttp } from "../helpers/git-http.js";

const TRACE_HOOK = fileURLToPath(new URL("../helpers/module-trace.mjs", import.meta.url));

/** The files a gage command loads. */
async function loadedFiles(args: string[], env: Record<string, string>, trace: string): Promise<string[]> {
  // Asynchronous: the HTTP server answering the command runs in this process.
  await promisify(execFile)(process.execPath, ["--import", TRACE_HOOK, GAGE_BIN, ...args], { env: baseEnv({ ...env, GAGE_MODULE_TRACE: trace }) });
  return readFileSync(trace, "utf8").split("\n").filter((u) => u.startsWith("file:")).map((u) => fileURLToPath(u));
}

test("gage ls and a push to a bare repository load no part of isomorphic-git; a push over HTTP does", async () => {
  const tmp = tempDir("gage-git-lazy-");
  const server = await startGitHttp({ users: { alice: "s3cret-token" } });
  try {
    const runs = unpackFixtureRuns(tmp.path);
    // The command's bundle leaves isomorphic-git to Node's require (scripts/bundle.mjs).
    const cli = readFileSync(join(dirname(GAGE_BIN), "cli.cjs"), "utf8");
    assert.ok(cli.includes('require("isomorphic-git")') && !cli.includes("// node_modules/isomorphic-git/"), "isomorphic-git is not in the bundle");
    const isGit = (f: string) => f.includes("/node_modules/isomorphic-git/");
    const ls = await loadedFiles(["ls"], { GAGE_RUNS: runs }, join(tmp.path, "ls.trace"));
    assert.ok(ls.includes(GAGE_BIN));
    assert.deepEqual(ls.filter(isGit), []);
    const bare = await initBare(join(tmp.path, "team.git"));
    const push = await loadedFiles(["push", bare, "-y"], { GAGE_RUNS: runs }, join(tmp.path, "push.trace"));
    assert.ok(push.includes(GAGE_BIN));
    assert.deepEqual(push.filter(isGit), []);
    await server.createRepo("team");
    const auth = { GAGE_GIT_USERNAME: "alice", GAGE_GIT_TOKEN: "s3cret-token" };
    const http = await loadedFiles(["push", `git+${server.url("team")}`, "-y"], { GAGE_RUNS: runs, ...auth }, join(tmp.path, "http.trace"));
    assert.ok(http.some(isGit), "a push over HTTP loads it");
  } finally {
    await server.stop();
    tmp.cleanup();
  }
});
