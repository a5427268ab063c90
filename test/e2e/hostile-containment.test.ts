import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { assertRefused, CraftedStore, freshDir, runIdOf, writeRun } from "./hostile-store.js";

// Containment: a run is its folder name; meta from a remote must name the run its head names; no
// write goes through a symlink in the runs directory. Each case through the built binary.

const tmp = tempDir("gage-hostile-containment-");
after(() => tmp.cleanup());

const EXIT_INTEGRITY = 6;

/** A store holding one run `runId` whose meta `id` file says `metaId`. */
async function storeWithMetaId(name: string, runId: string, metaId: string): Promise<string> {
  const store = new CraftedStore(freshDir(tmp.path, name));
  const files = await store.tree([await store.fileEntry("hello.py", "print('hi')\n")]);
  await store.head([{ runId, files, meta: await store.metaTree(metaId) }]);
  return store.root;
}

test("a pulled run whose meta id says '0123abcd/../../NAME' is refused (exit 6), nothing written", async () => {
  const id = runIdOf(1);
  const remote = await storeWithMetaId("traversal", id, "0123abcd/../../NAME");
  const runs = join(tmp.path, "home", "a", "runs");
  mkdirSync(runs, { recursive: true });
  const r = await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: runs } });
  assertRefused(r, EXIT_INTEGRITY, new RegExp(`${id}.*meta.*id.*0123abcd/\\.\\./\\.\\./NAME`));
  assert.deepEqual(readdirSync(runs).filter((n) => n !== ".gage-sync"), []);
  assert.deepEqual(readdirSync(join(tmp.path, "home", "a")), ["runs"], "nothing beside the runs directory");
});

test("a pulled run whose meta id names another local run is refused, and the local run is untouched", async () => {
  const victim = runIdOf(2);
  const intruder = runIdOf(3);
  const runs = freshDir(tmp.path, "victim-runs");
  writeRun(runs, victim, { files: { "model.txt": "precious\n" } });
  const remote = await storeWithMetaId("names-victim", intruder, victim);
  const r = await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: runs } });
  assertRefused(r, EXIT_INTEGRITY, new RegExp(`${intruder}.*${victim}`));
  assert.ok(!existsSync(join(runs, `${intruder}.meta`)));
  assert.equal(readFileSync(join(runs, victim, "model.txt"), "utf8"), "precious\n");
});

test("local commands build paths from the run's folder name, never from its meta id file", async () => {
  const victim = runIdOf(4);
  const odd = runIdOf(5);
  const home = freshDir(tmp.path, "local-home");
  const runs = freshDir(home, "runs");
  writeRun(runs, victim, { files: { "model.txt": "precious\n" } });
  writeRun(runs, odd, { metaId: victim });
  const env = { GAGE_RUNS: runs };
  for (const args of [["label", odd, "--set", "x", "-y"], ["comment", odd, "-m", "hi", "-y"], ["associate", odd, home]]) {
    const r = await gage(args, { env });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  }
  assert.ok(existsSync(join(runs, `${odd}.user`)) && existsSync(join(runs, `${odd}.project`)));
  assert.ok(!existsSync(join(runs, `${victim}.user`)) && !existsSync(join(runs, `${victim}.project`)), "the victim got no user log or project");
  for (const args of [["delete", odd, "-y"], ["purge", odd, "-y"]]) {
    const r = await gage(args, { env });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  }
  assert.ok(!existsSync(join(runs, odd)) && !existsSync(join(runs, `${odd}.meta.deleted`)), "the odd run is gone");
  assert.equal(readFileSync(join(runs, victim, "model.txt"), "utf8"), "precious\n", "the victim's files are untouched");
  assert.ok(existsSync(join(runs, `${victim}.meta`)), "the victim's meta is untouched");
});

test("a runs directory folder that is no run id is skipped with a warning, not read", async () => {
  const runs = freshDir(tmp.path, "odd-names");
  writeRun(runs, runIdOf(6));
  mkdirSync(join(runs, "not-a-run.meta"));
  const r = await gage(["ls"], { env: { GAGE_RUNS: runs } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /not-a-run\.meta.*not a run id/);
  assert.match(r.stdout, /proj:hello/);
});

/** A runs directory `origin-NAME` holding run `id`, pushed to the folder remote `remote-NAME`. */
async function pushedRun(name: string, id: string): Promise<{ origin: string; remote: string }> {
  const origin = freshDir(tmp.path, `origin-${name}`);
  writeRun(origin, id);
  const remote = join(tmp.path, `remote-${name}`);
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: origin } })).code, 0);
  return { origin, remote };
}

test("pull refuses to write user log entries through a symlinked ID.user (exit 6, names it)", async () => {
  const id = runIdOf(7);
  const { origin, remote } = await pushedRun("user", id);
  const runs = freshDir(tmp.path, "runs-user");
  assert.equal((await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: runs } })).code, 0);
  // A new label on the remote, and a local ID.user that points outside the runs directory.
  assert.equal((await gage(["label", id, "--set", "remote label", "-y"], { env: { GAGE_RUNS: origin } })).code, 0);
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: origin } })).code, 0);
  const outside = freshDir(tmp.path, "outside-user");
  symlinkSync(outside, join(runs, `${id}.user`));
  const r = await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: runs } });
  assertRefused(r, EXIT_INTEGRITY, new RegExp(`${id}\\.user.*symlink`));
  assert.deepEqual(readdirSync(outside), [], "nothing written outside the runs directory");
  const label = await gage(["label", id, "--set", "local", "-y"], { env: { GAGE_RUNS: runs } });
  assertRefused(label, EXIT_INTEGRITY, new RegExp(`${id}\\.user.*symlink`));
  assert.deepEqual(readdirSync(outside), []);
});

test("a dangling symlink at ID or ID.meta stops pull with one line naming it (exit 6)", async () => {
  const id = runIdOf(8);
  const { remote } = await pushedRun("dangling", id);
  for (const suffix of ["", ".meta"]) {
    const runs = freshDir(tmp.path, `runs-dangling${suffix}`);
    symlinkSync(join(tmp.path, "nowhere"), join(runs, `${id}${suffix}`));
    const r = await gage(["pull", remote, "-y"], { env: { GAGE_RUNS: runs } });
    assertRefused(r, EXIT_INTEGRITY, new RegExp(`${id}${suffix.replace(".", "\\.")}: it is a symlink`));
    assert.ok(!existsSync(join(tmp.path, "nowhere")), "nothing created through the link");
  }
});

test("a remote run id that is no UUID never becomes a path (the head is refused)", async () => {
  const store = new CraftedStore(freshDir(tmp.path, "bad-run-id"));
  const files = await store.tree([]);
  await store.head([{ runId: runIdOf(9), files, meta: await store.metaTree(runIdOf(9)) }]);
  const entries = [{ runId: "../../escape", run: { tree: files, prior: [] }, meta: { tree: files, prior: [] }, user: {}, summary: { operation: "x:y", status: "completed" } }];
  await store.rawHead(entries);
  const runs = freshDir(tmp.path, "runs-bad-id");
  const r = await gage(["pull", store.root, "-y"], { env: { GAGE_RUNS: runs } });
  assertRefused(r, EXIT_INTEGRITY, /run id "\.\.\/\.\.\/escape"/);
  assert.ok(!existsSync(join(tmp.path, "escape")));
});
