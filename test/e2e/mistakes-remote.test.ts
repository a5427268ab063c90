import assert from "node:assert/strict";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, RUN_A, RUN_B, RUN_C } from "../helpers/make-runs.js";

// Mistakes a user makes naming a remote or a target: each gets one clear message and an exit
// status, never a stack trace, and leaves nothing behind that makes the next try fail.

const tmp = tempDir("gage-mistakes-remote-");
after(() => tmp.cleanup());
let n = 0;
function fresh(): { root: string; runs: string } {
  const root = join(tmp.path, `case-${++n}`);
  const runs = join(root, "runs");
  mkdirSync(runs, { recursive: true });
  makeRun(runs, RUN_A, [["train.py", "print('a')\n"]], { label: "first" });
  makeRun(runs, RUN_B, [["train.py", "print('b')\n"]]);
  return { root, runs };
}

function noStackTrace(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at |unexpected error/, stderr);
}

test("a remote path that does not exist is not an empty store: pull, clone, ls --remote, status and verify say so", async () => {
  const { root, runs } = fresh();
  const missing = join(root, "no-such-store");
  for (const args of [
    ["pull", missing, "-y"],
    ["ls", "--remote", missing],
    ["status", missing],
    ["verify", missing],
    ["clone", missing, join(root, "clone")],
  ]) {
    const r = await gage(args, { env: { GAGE_RUNS: runs } });
    assert.equal(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
    const [first, hint] = r.stderr.trimEnd().split("\n");
    assert.equal(first, `gage: No store at ${missing}: the folder does not exist`, args.join(" "));
    assert.match(hint!, /gage push /, "the hint says how a store is made");
    noStackTrace(r.stderr);
    assert.equal(r.stdout, "", `${args.join(" ")} prints no table of nothing`);
  }
  assert.equal(existsSync(missing), false, "reading never creates the remote");
});

test("a failed clone removes what it made: no new folder, an empty folder stays empty, and the rerun works", async () => {
  const { root, runs } = fresh();
  const remote = join(root, "store");
  const intoNew = join(root, "new-clone");
  const intoEmpty = join(root, "empty-clone");
  mkdirSync(intoEmpty);
  for (const dest of [intoNew, intoEmpty]) {
    const r = await gage(["clone", remote, dest]);
    assert.equal(r.code, 3, r.stderr);
  }
  assert.equal(existsSync(intoNew), false, "a clone into a new folder that fails leaves no folder");
  assert.deepEqual(readdirSync(intoEmpty), [], "a clone into an empty folder that fails leaves it empty (no default remote recorded)");

  // A dry run records nothing either.
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: runs } })).code, 0);
  const dry = await gage(["clone", remote, intoNew, "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /Would clone 2 runs/);
  assert.equal(existsSync(intoNew), false, "a dry run makes no folder");

  for (const dest of [intoNew, intoEmpty]) {
    const r = await gage(["clone", remote, dest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Cloned 2 runs/);
    assert.ok(existsSync(join(dest, `${RUN_A}.meta`)) && existsSync(join(dest, RUN_B, "train.py")));
    const again = await gage(["pull"], { env: { GAGE_RUNS: dest } });
    assert.equal(again.code, 0, `the clone recorded its remote: ${again.stderr}`);
  }
});

test("clone into a file, a 5,000-character path, or a remote that is a file: one line and a usage or not-found status", async () => {
  const { root, runs } = fresh();
  const remote = join(root, "store");
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: runs } })).code, 0);
  const file = join(root, "a-file");
  writeFileSync(file, "not a folder\n");

  const intoFile = await gage(["clone", remote, file]);
  assert.equal(intoFile.code, 2, intoFile.stderr);
  assert.match(intoFile.stderr, new RegExp(`^gage: Cannot clone into ${file}: it is a file\n`));
  noStackTrace(intoFile.stderr);

  const long = join(root, "x".repeat(5000));
  const intoLong = await gage(["clone", remote, long]);
  assert.equal(intoLong.code, 2, intoLong.stderr);
  assert.match(intoLong.stderr, /^gage: Cannot clone into .*: the path is too long for this file system\n/);
  assert.ok(intoLong.stderr.split("\n")[0]!.length < 200, "the path is shortened in the message");
  noStackTrace(intoLong.stderr);

  for (const args of [["pull", long, "-y"], ["ls", "--remote", long], ["push", long, "-y"]]) {
    const r = await gage(args, { env: { GAGE_RUNS: runs } });
    assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /too long/);
    assert.ok(r.stderr.split("\n")[0]!.length < 200, `${args[0]} shortens the path`);
    noStackTrace(r.stderr);
  }

  const fromFile = await gage(["pull", file, "-y"], { env: { GAGE_RUNS: runs } });
  assert.equal(fromFile.code, 3, fromFile.stderr);
  assert.match(fromFile.stderr, new RegExp(`^gage: No store at ${file}: it is a file, not a folder\n`));
});

test("a run that diverged on the remote (two writers) is named with its paths; clone and pull take every other run", async () => {
  const { root, runs } = fresh();
  const store = join(root, "store");
  const store2 = join(root, "store-2");
  assert.equal((await gage(["push", store, "-y"], { env: { GAGE_RUNS: runs } })).code, 0);
  cpSync(store, store2, { recursive: true });
  // Two writers change the same file of RUN_A differently, each pushing to their copy of the store.
  const writerA = join(root, "writer-a");
  const writerB = join(root, "writer-b");
  for (const [dir, from] of [[writerA, store], [writerB, store2]] as const) {
    assert.equal((await gage(["clone", from, dir])).code, 0);
    const file = join(dir, RUN_A, "train.py");
    chmodSync(join(dir, RUN_A), 0o755);
    chmodSync(file, 0o644);
    writeFileSync(file, `print('${dir === writerA ? "A" : "B"}')\n`);
    assert.equal((await gage(["push", "-y"], { env: { GAGE_RUNS: dir } })).code, 0);
  }
  // A shared folder where both pushed: the heads and packs of both.
  for (const sub of ["heads", "packs"]) cpSync(join(store2, sub), join(store, sub), { recursive: true });
  // And a third run, new since the writers cloned.
  makeRun(runs, RUN_C, [["eval.py", "print('c')\n"]]);
  assert.equal((await gage(["push", store, RUN_C.slice(0, 8), "-y"], { env: { GAGE_RUNS: runs } })).code, 0);

  const dest = join(root, "clone");
  const r = await gage(["clone", store, dest]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^Cloned 2 runs/m, "every other run is cloned");
  assert.match(r.stderr, new RegExp(`^gage: A run has diverged .*\n  ${RUN_A}: ${RUN_A}/train.py\n`, "m"));
  assert.match(r.stderr, /gage push --force/, "the hint says how the writers settle it");
  assert.ok(existsSync(join(dest, `${RUN_B}.meta`)) && existsSync(join(dest, `${RUN_C}.meta`)));
  assert.equal(existsSync(join(dest, `${RUN_A}.meta`)), false, "the diverged run is not guessed at");
  const again = await gage(["pull", "-y", "--json"], { env: { GAGE_RUNS: dest } });
  assert.equal(again.code, 4, "the clone recorded its remote; pull reports the same run");
  assert.deepEqual(JSON.parse(again.stdout).conflicts, [{ runId: RUN_A, paths: [`${RUN_A}/train.py`] }]);

  // A writer pulling: the new run comes in, the diverged one is named; --force keeps theirs.
  const pulled = await gage(["pull", "-y"], { env: { GAGE_RUNS: writerA } });
  assert.equal(pulled.code, 4, pulled.stderr);
  assert.match(pulled.stderr, /^Pulled 1 run/m);
  assert.match(pulled.stderr, new RegExp(`  ${RUN_A}: ${RUN_A}/train.py\n`));
  assert.ok(existsSync(join(writerA, `${RUN_C}.meta`)));
  assert.equal(readFileSync(join(writerA, RUN_A, "train.py"), "utf8"), "print('A')\n");
  assert.equal((await gage(["push", "--force", "-y"], { env: { GAGE_RUNS: writerA } })).code, 0);
  const settled = await gage(["pull", "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(settled.code, 0, settled.stderr);
  assert.equal(readFileSync(join(dest, RUN_A, "train.py"), "utf8"), "print('A')\n");
});

test("a runs directory not made yet holds no runs: status and push say so without a stack trace", async () => {
  const { root, runs } = fresh();
  const remote = join(root, "store");
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: runs } })).code, 0);
  const none = join(root, "not-made");
  const status = await gage(["status", remote], { env: { GAGE_RUNS: none } });
  assert.equal(status.code, 0, status.stderr);
  noStackTrace(status.stderr);
  assert.equal(status.stdout.match(/\| remote-only \|/g)?.length, 2, "both of the remote's runs are listed as the remote's only");
  const push = await gage(["push", remote, "-y"], { env: { GAGE_RUNS: none } });
  noStackTrace(push.stderr);
  assert.equal(existsSync(none), false, "reading and an empty push make no runs directory");
});
