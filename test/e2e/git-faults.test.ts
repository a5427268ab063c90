// Git remotes under faults: pushes killed at random points, pushes racing over HTTP, and a push
// split into several commits and packs. Real git http-backend, real git, the built binary.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { push } from "../../src/sync/push.js";
import { baseEnv, gage, GAGE_BIN } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { git, startGitHttp, type GitHttpServer } from "../helpers/git-http.js";

const TOKEN = "fault-token";
const auth = { GAGE_GIT_USERNAME: "bob", GAGE_GIT_TOKEN: TOKEN };
const tmp = tempDir("gage-git-faults-");
let server: GitHttpServer;
let n = 0;

before(async () => {
  server = await startGitHttp({ users: { bob: TOKEN } });
});
after(async () => {
  await server.stop();
  tmp.cleanup();
});

async function freshCase(): Promise<{ root: string; runs: string; url: string; repo: string }> {
  const root = join(tmp.path, `case-${++n}`);
  mkdirSync(root);
  const repo = await server.createRepo(`faults${n}`);
  return { root, runs: unpackFixtureRuns(root), url: `git+${server.url(`faults${n}`)}`, repo };
}

const run = (args: string[], runs: string) => gage(args, { env: { GAGE_RUNS: runs, ...auth }, timeoutMs: 120_000 });

/** Runs (and their parts) in the branch's tree; every run folder with its meta is whole. */
async function branchRuns(repo: string): Promise<string[]> {
  const names = (await git(["ls-tree", "--name-only", "gage-runs"], { cwd: repo }).catch(() => "")).split("\n").filter(Boolean);
  return names.filter((x) => x.endsWith(".meta"));
}

test("a push killed at random points leaves the branch as it was or complete, and its rerun completes", async () => {
  const c = await freshCase();
  // More to send than the fixture runs alone: a killed push is more often caught mid-way.
  const big = join(c.runs, "25950538-8c39-4df4-91be-b31d8388d528", "data");
  mkdirSync(big);
  for (let i = 0; i < 200; i++) writeFileSync(join(big, `part-${i}.bin`), Buffer.alloc(20_000, i));
  // One kill in each quarter of a push's span, at a random point within it.
  for (const from of [100, 400, 700, 1000]) {
    const delay = from + Math.floor(Math.random() * 300);
    const child = spawn(process.execPath, [GAGE_BIN, "push", c.url, "-y"], { env: baseEnv({ GAGE_RUNS: c.runs, ...auth }), stdio: "ignore" });
    // Listened for at once: a push that ends before the kill has closed by then.
    const closed = new Promise((resolve) => child.on("close", resolve));
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.kill("SIGKILL");
    await closed;
    await git(["fsck", "--no-dangling"], { cwd: c.repo });
    const runs = await branchRuns(c.repo);
    assert.ok(runs.length === 0 || runs.length === 9, `after a kill at ${delay} ms the branch holds ${runs.length} runs`);
  }
  const rerun = await run(["push", c.url, "-y"], c.runs);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.equal((await branchRuns(c.repo)).length, 9);
  await git(["fsck", "--no-dangling"], { cwd: c.repo });
  const status = await run(["status", c.url, "--json"], c.runs);
  assert.ok((JSON.parse(status.stdout) as { runs: { state: string }[] }).runs.every((r) => r.state === "in sync"), status.stdout);
});

test("four processes pushing different labels over HTTP at once: rejected pushes fetch, merge and retry; nothing is lost", async () => {
  const c = await freshCase();
  assert.equal((await run(["push", c.url, "-y"], c.runs)).code, 0);
  const dirs: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const dir = join(c.root, `w${i}`);
    assert.equal((await run(["clone", c.url, dir], dir)).code, 0);
    assert.equal((await run(["label", "--set", `Racer ${i}`, String(i), "-y"], dir)).code, 0);
    dirs.push(dir);
  }
  const results = await Promise.all(dirs.map((dir) => run(["push", "-y"], dir)));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  assert.equal((await run(["pull", "-y", c.url], c.runs)).code, 0);
  const ls = (await run(["ls", "-s"], c.runs)).stdout;
  for (let i = 1; i <= 4; i++) assert.match(ls, new RegExp(`Racer ${i}`));
  const log = (await git(["log", "--format=%s", "gage-runs"], { cwd: c.repo })).trim().split("\n");
  assert.equal(log.length, 5, log.join("\n"));
});

test("a push larger than the pack bound is sent as several commits, each a whole set of runs", async () => {
  const c = await freshCase();
  const opts = { runsDir: c.runs, remote: c.url, env: { ...auth }, maxPackBytes: 200_000 };
  const result = await push(opts);
  assert.equal(result.runs.length, 9);
  const commits = (await git(["log", "--format=%H", "gage-runs"], { cwd: c.repo })).trim().split("\n");
  assert.ok(commits.length > 1, `one commit per batch: ${commits.length}`);
  assert.ok(commits.length <= 9);
  assert.equal((await branchRuns(c.repo)).length, 9);
});
