// The library's push, pull, clone, status and listRemoteRuns reach a Git remote by its URL, its
// `[repos.NAME]` config or the runs directory's default remote, as the CLI does: a real bare
// repository, read back with the real `git` client.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { newLogId } from "../../src/runs/user-log.js";
import { readDefaultRemote } from "../../src/state/index.js";
import { clone, ConflictError, gitRemoteSpec, listRemoteRuns, planPull, planPush, pull, push, status } from "../../src/sync/index.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { git, initBare } from "../helpers/git-http.js";

const SHARED_RUN = "87bd998b-bf53-4585-9afb-cc19b62871d8";
const OTHER_RUN = "25950538-8c39-4df4-91be-b31d8388d528";
const tmp = tempDir("gage-git-lib-");
after(() => tmp.cleanup());
let n = 0;

/** A case folder with the fixture runs in `runs` and an empty bare repository. */
async function freshCase(): Promise<{ root: string; runs: string; bare: string }> {
  const root = join(tmp.path, `case-${++n}`);
  mkdirSync(root);
  return { root, runs: unpackFixtureRuns(root), bare: await initBare(join(root, "team.git")) };
}

test("push, clone, status, listRemoteRuns and pull reach a bare repository by its path, a config name and the default remote", async () => {
  const c = await freshCase();
  assert.ok(await gitRemoteSpec({ runsDir: c.runs, remote: c.bare }), "a bare repository's path is a Git remote");
  assert.equal(await gitRemoteSpec({ runsDir: c.runs, remote: join(c.root, "store") }), undefined, "a folder is a store");

  const pushed = await push({ runsDir: c.runs, remote: c.bare });
  assert.equal(pushed.runs.length, 9);
  assert.ok(pushed.head, "the commit pushed");
  assert.equal((await git(["rev-parse", "gage-runs"], { cwd: c.bare })).trim(), pushed.head);
  assert.ok(!existsSync(join(c.bare, "heads")), "no store was written into the repository");
  const plain = join(c.root, "plain");
  await git(["clone", "-q", "-b", "gage-runs", c.bare, plain]);
  assert.ok(existsSync(join(plain, SHARED_RUN, "hello.py")));
  assert.deepEqual(readdirSync(plain).filter((x) => x.endsWith(".project")), []);

  const listed = await listRemoteRuns({ runsDir: join(c.root, "nowhere"), remote: c.bare });
  assert.equal(listed.length, 9);
  assert.equal(listed.find((r) => r.id === SHARED_RUN)?.label, "Something to share");
  const inSync = await status({ runsDir: c.runs, remote: c.bare });
  assert.equal(inSync.runs.length, 9);
  assert.ok(inSync.runs.every((r) => r.state === "in sync"), JSON.stringify(inSync.runs));

  // Another machine names the repository in its config and clones it.
  const project = join(c.root, "project");
  mkdirSync(project);
  writeFileSync(join(project, "gageconfig.toml"), `[repos.team]\nurl = "${c.bare}"\n`);
  const runsB = join(c.root, "b");
  const cloned = await clone({ runsDir: runsB, remote: "team", cwd: project });
  assert.equal(cloned.runs.length, 9);
  assert.equal(readDefaultRemote(runsB), "team");
  assert.equal(readFileSync(join(runsB, SHARED_RUN, "hello.py"), "utf8"), readFileSync(join(c.runs, SHARED_RUN, "hello.py"), "utf8"));

  // A colleague without gage labels a run with plain git; B pulls from its default remote.
  mkdirSync(join(plain, `${OTHER_RUN}.user`), { recursive: true });
  writeFileSync(join(plain, `${OTHER_RUN}.user`, `${newLogId(Date.now())}.json`), JSON.stringify({ author: "carol", set: { label: "From plain git" } }));
  await git(["add", "-A"], { cwd: plain });
  await git(["commit", "-q", "-m", "label"], { cwd: plain });
  await git(["push", "-q", "origin", "gage-runs"], { cwd: plain });
  const behind = await status({ runsDir: runsB, cwd: project });
  assert.equal(behind.runs.find((r) => r.id === OTHER_RUN)?.state, "behind");
  const pulled = await pull({ runsDir: runsB, cwd: project });
  assert.equal(pulled.runs.length, 1);
  assert.equal(pulled.runs[0]!.id, OTHER_RUN);
  const after = await listRemoteRuns({ runsDir: runsB, cwd: project, remote: "team", runs: [OTHER_RUN.slice(0, 8)] });
  assert.deepEqual(after.map((r) => r.label), ["From plain git"]);
  const again = await push({ runsDir: runsB, cwd: project });
  assert.equal(again.runs.length, 0, "nothing new to push");
  assert.equal(again.upToDate, 9);
});

/** Writes a run's file as a user edits a finished run (its files are read-only). */
function edit(runs: string, name: string, text: string): void {
  const file = join(runs, SHARED_RUN, name);
  chmodSync(file, 0o644);
  writeFileSync(file, text);
}

async function onBranch(bare: string, path: string): Promise<string> {
  return git(["show", `gage-runs:${path}`], { cwd: bare });
}

async function states(runsDir: string): Promise<string[]> {
  return [...new Set((await status({ runsDir })).runs.map((r) => r.state))];
}

test("two clones editing different files of a run merge file by file; the same file edited differently is a conflict naming it", async () => {
  const c = await freshCase();
  await push({ runsDir: c.runs, remote: c.bare });
  const a = join(c.root, "a");
  const b = join(c.root, "b");
  await clone({ runsDir: a, remote: c.bare });
  await clone({ runsDir: b, remote: c.bare });

  // Different files: A pushes first, B's push merges; then each pulls the other's file.
  edit(a, "hello.py", "print('from A')\n");
  edit(b, "gage.toml", "# from B\n");
  await push({ runsDir: a });
  const merged = await push({ runsDir: b });
  assert.deepEqual(merged.runs.map((r) => r.id), [SHARED_RUN]);
  assert.equal(await onBranch(c.bare, `${SHARED_RUN}/hello.py`), "print('from A')\n");
  assert.equal(await onBranch(c.bare, `${SHARED_RUN}/gage.toml`), "# from B\n");
  assert.equal((await status({ runsDir: b })).runs.find((r) => r.id === SHARED_RUN)?.state, "behind", "B lacks A's file until it pulls");
  for (const side of [a, b]) {
    await pull({ runsDir: side });
    assert.equal(readFileSync(join(side, SHARED_RUN, "hello.py"), "utf8"), "print('from A')\n");
    assert.equal(readFileSync(join(side, SHARED_RUN, "gage.toml"), "utf8"), "# from B\n");
    assert.deepEqual(await states(side), ["in sync"]);
  }

  // A pull merges too: B edits a file, A another and pulls before pushing.
  edit(b, "gen.py", "# gen from B\n");
  await push({ runsDir: b });
  edit(a, "fail.py", "# fail from A\n");
  const pulled = await pull({ runsDir: a });
  assert.equal(pulled.runs.length, 1);
  assert.equal(readFileSync(join(a, SHARED_RUN, "gen.py"), "utf8"), "# gen from B\n");
  assert.equal(readFileSync(join(a, SHARED_RUN, "fail.py"), "utf8"), "# fail from A\n", "this side's edit kept");
  assert.equal((await status({ runsDir: a })).runs.find((r) => r.id === SHARED_RUN)?.state, "ahead");
  await push({ runsDir: a });
  await pull({ runsDir: b });
  assert.equal(readFileSync(join(b, SHARED_RUN, "fail.py"), "utf8"), "# fail from A\n");
  assert.deepEqual(await states(a), ["in sync"]);
  assert.deepEqual(await states(b), ["in sync"]);

  // The same file: a conflict naming the run and that file, on push and on pull.
  edit(a, "hello.py", "print('A again')\n");
  edit(b, "hello.py", "print('B again')\n");
  edit(b, "gen.py", "# B's other edit\n");
  await push({ runsDir: a });
  const head = (await git(["rev-parse", "gage-runs"], { cwd: c.bare })).trim();
  const expected = [{ runId: SHARED_RUN, paths: [`${SHARED_RUN}/hello.py`] }];
  await assert.rejects(push({ runsDir: b }), (err) => err instanceof ConflictError && assert.deepEqual(err.conflicts, expected) === undefined && /hello\.py/.test(err.message));
  assert.equal((await git(["rev-parse", "gage-runs"], { cwd: c.bare })).trim(), head, "nothing pushed");
  const plan = await planPull({ runsDir: b });
  assert.deepEqual(plan.conflicts?.conflicts, expected);
  assert.equal(plan.runs.length, 0);
  await plan.close();
  assert.equal(readFileSync(join(b, SHARED_RUN, "hello.py"), "utf8"), "print('B again')\n", "nothing written");
  assert.equal((await status({ runsDir: b })).runs.find((r) => r.id === SHARED_RUN)?.state, "diverged");

  // --force keeps this side's version of that file and still merges the rest.
  await push({ runsDir: b, force: true });
  assert.equal(await onBranch(c.bare, `${SHARED_RUN}/hello.py`), "print('B again')\n");
  assert.equal(await onBranch(c.bare, `${SHARED_RUN}/gen.py`), "# B's other edit\n");
  await pull({ runsDir: a });
  assert.equal(readFileSync(join(a, SHARED_RUN, "hello.py"), "utf8"), "print('B again')\n");
});

test("a file edited between a push's scan and its Git build leaves no wrong tree line: put back, the run is ahead again", async () => {
  const c = await freshCase();
  await push({ runsDir: c.runs, remote: c.bare, runs: [SHARED_RUN] });
  const file = join(c.runs, SHARED_RUN, "hello.py");
  const original = readFileSync(file);
  edit(c.runs, "hello.py", "print('v2')\n");
  chmodSync(file, 0o444);
  const plan = await planPush({ runsDir: c.runs, remote: c.bare, runs: [SHARED_RUN] });
  assert.equal(plan.runs.length, 1);
  // Edited again after the scan: the Git tree is built from what is there now.
  edit(c.runs, "hello.py", "print('v3')\n");
  chmodSync(file, 0o444);
  await plan.execute();
  assert.equal(await onBranch(c.bare, `${SHARED_RUN}/hello.py`), "print('v3')\n");
  // Put back as the scan saw it: its tree id must not stand for the tree that was pushed.
  edit(c.runs, "hello.py", "print('v2')\n");
  chmodSync(file, 0o444);
  const rows = (await status({ runsDir: c.runs, remote: c.bare, runs: [SHARED_RUN] })).runs;
  assert.deepEqual(rows.map((r) => r.state), ["ahead"]);
  await push({ runsDir: c.runs, remote: c.bare, runs: [SHARED_RUN] });
  assert.equal(await onBranch(c.bare, `${SHARED_RUN}/hello.py`), "print('v2')\n");
  chmodSync(file, 0o644);
  writeFileSync(file, original);
});
