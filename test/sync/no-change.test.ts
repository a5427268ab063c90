import assert from "node:assert/strict";
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { nativeListing } from "../../src/objects/index.js";
import { RACY_MS, StatCache } from "../../src/worktree/index.js";
import { openStorage } from "../../src/remotes/open.js";
import { runPaths } from "../../src/runs/layout.js";
import { listRuns } from "../../src/runs/run.js";
import { appendUserLog } from "../../src/runs/user-log.js";
import { scanRuns } from "../../src/sync/local-runs.js";
import { statePaths } from "../../src/state/index.js";
import { clone, openRemote, pull, push } from "../../src/sync/index.js";
import { freshCases, SHARED_RUN } from "./story.js";

// The shortcuts that make no-change work cheap (the stat cache, pulls that skip runs the local
// copy already holds, undeflated packs on local remotes) must never hide a change.

const fresh = freshCases("gage-sync-no-change-");

/** A clock past the window in which the stat cache trusts no stamp (worktree/stat-cache.ts). */
const later = () => Date.now() + RACY_MS + 1000;

test("a file changed in place after a push, with its size and mtime kept, is still detected and pushed", async () => {
  const { root, origin, remote } = fresh();
  // Stamps old enough by the clock that the stat cache trusts them: the second push answers from the cache.
  await push({ runsDir: origin, remote, now: later });
  assert.equal((await push({ runsDir: origin, remote, now: later })).runs.length, 0, "the cached stamps say nothing changed");
  const file = join(runPaths(origin, SHARED_RUN).runDir, "hello.py");
  const before = statSync(file);
  const text = readFileSync(file, "utf8");
  const changed = text.replace(/[a-z]/, (c) => (c === "z" ? "y" : "z"));
  assert.equal(changed.length, text.length);
  chmodSync(file, 0o644);
  writeFileSync(file, changed);
  chmodSync(file, before.mode & 0o777);
  utimesSync(file, before.atime, before.mtime);
  assert.equal(statSync(file).mtimeMs, before.mtimeMs);
  const result = await push({ runsDir: origin, remote });
  assert.deepEqual(result.runs.map((r) => [r.id, r.what]), [[SHARED_RUN, "files"]], "the changed ctime forces a re-hash");
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  assert.equal(readFileSync(join(runPaths(other, SHARED_RUN).runDir, "hello.py"), "utf8"), changed);
});

test("a pull skips runs the local copy holds, yet brings remote changes and user entries removed here", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  // A local edit makes this side ahead: a pull leaves it alone.
  const file = join(runPaths(other, SHARED_RUN).runDir, "hello.py");
  chmodSync(file, 0o644);
  writeFileSync(file, "print('local edit')\n");
  assert.equal((await pull({ runsDir: other, remote })).runs.length, 0);
  assert.equal(readFileSync(file, "utf8"), "print('local edit')\n");
  // A user entry removed here comes back: user logs merge by union.
  const userDir = runPaths(other, SHARED_RUN).userDir;
  const [removed] = readdirSync(userDir);
  assert.ok(removed, "the fixture run has user log entries");
  chmodSync(userDir, 0o755);
  rmSync(join(userDir, removed));
  assert.deepEqual((await pull({ runsDir: other, remote })).runs.map((r) => r.id), [SHARED_RUN]);
  assert.ok(readdirSync(userDir).includes(removed));
  // A change pushed from elsewhere arrives.
  const name = await appendUserLog(runPaths(origin, SHARED_RUN).userDir, { set: { label: "from origin" } }, { author: "t", nowMs: Date.now() });
  await push({ runsDir: origin, remote });
  assert.deepEqual((await pull({ runsDir: other, remote })).runs.map((r) => r.id), [SHARED_RUN]);
  assert.ok(readdirSync(userDir).some((f) => name.endsWith(f)), "the new label entry is here");
  assert.equal(readFileSync(file, "utf8"), "print('local edit')\n", "the local edit stays");
});

test("packs on a local directory remote hold objects as they are; other remotes deflate", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  const packs = readdirSync(join(remote, "packs")).filter((f) => f.endsWith(".pack"));
  const stored = Buffer.concat(packs.map((f) => readFileSync(join(remote, "packs", f))));
  const source = readFileSync(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"));
  assert.ok(stored.includes(source), "the file's bytes are in a pack, not deflated");
  const local = await openRemote(remote);
  assert.equal(local.compress, false);
  await local.storage.close();
  const memory = await openStorage("memory://no-change-test");
  assert.equal((await openRemote(memory)).compress, true);
  await memory.close();
});

test("after a first push, the next scan reads no file: folders are answered whole, user logs by their stamps", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: later });
  const cache = await StatCache.load(statePaths.statCache(origin), { now: later });
  const wholeTreeHits: string[] = [];
  const lookupDir = cache.lookupDir.bind(cache);
  cache.lookupDir = (path, signature) => {
    const hit = lookupDir(path, signature);
    if (hit !== undefined && path.endsWith("\0")) wholeTreeHits.push(path);
    return hit;
  };
  const refs = (await listRuns(origin)).map((run) => ({ id: run.id, deleted: false, run }));
  const scans = await scanRuns(origin, refs, cache, { threads: 1 });
  assert.deepEqual(scans.map((s) => s.stats.hashedFiles), refs.map(() => 0), "nothing read: user logs were stamped as the push read them");
  if (nativeListing) assert.equal(wholeTreeHits.length, 2 * refs.length, "each run's folder and meta folder answered by one row");
});

test("a remote emptied since the last push (or made anew at its place) gets every run again, not 'up to date'", async () => {
  const { root, origin, remote } = fresh();
  const first = await push({ runsDir: origin, remote });
  assert.ok(first.runs.length > 0);
  rmSync(remote, { recursive: true, force: true });
  // The runs directory still remembers the remote's heads (its cached view); the remote has none.
  const again = await push({ runsDir: origin, remote });
  assert.deepEqual(again.runs.map((r) => r.id).sort(), first.runs.map((r) => r.id).sort());
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  assert.deepEqual(readdirSync(other).filter((n) => n.endsWith(".meta")).sort(), readdirSync(origin).filter((n) => n.endsWith(".meta")).sort());
});
