import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runPaths } from "../../src/runs/layout.js";
import { statePaths } from "../../src/state/index.js";
import { planPush, push, status } from "../../src/sync/index.js";
import { listRunsDir, namesStill } from "../../src/sync/local-runs.js";
import { RACY_MS } from "../../src/worktree/index.js";
import { decodeView } from "../../src/sync/view-file.js";
import { freshCases, SHARED_RUN } from "./story.js";

const fresh = freshCases("gage-sync-local-state-");
const GONE = "c21299fd-4f2b-401b-aee7-33485158bad3";
// A clock a minute ahead: the files just unpacked are not too recent to cache.
const now = () => Date.now() + 60_000;

/** The stat cache's bytes (file and delta): a run's rows hold its folder's path. */
const cachedBytes = (runsDir: string) => Buffer.concat([statePaths.statCache(runsDir), statePaths.statCache(runsDir) + ".delta"].filter(existsSync).map((f) => readFileSync(f)));

/** Removes a run for good (as `gage purge` does). */
function removeRun(runsDir: string, id: string): void {
  for (const name of readdirSync(runsDir).filter((n) => n.startsWith(id))) {
    execFileSync("chmod", ["-R", "u+w", join(runsDir, name)]);
    execFileSync("rm", ["-rf", join(runsDir, name)]);
  }
}

/** Adds a file to the shared run, so a push or status has something to compare. */
function changeSharedRun(runsDir: string): void {
  const dir = runPaths(runsDir, SHARED_RUN).runDir;
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "new.txt"), "new\n");
}

test("a push of every run that moves some forgets the histories and stat cache rows of runs no longer here", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now });
  assert.ok(existsSync(statePaths.history(origin, GONE)));
  const cached = () => cachedBytes(origin);
  assert.ok(cached().includes(GONE) && cached().includes(SHARED_RUN), "the stat cache has rows of both runs");
  removeRun(origin, GONE);
  changeSharedRun(origin);
  const pushed = await push({ runsDir: origin, remote, now });
  assert.deepEqual(pushed.runs.map((r) => r.id), [SHARED_RUN]);
  assert.ok(!existsSync(statePaths.history(origin, GONE)), "the purged run's history is gone");
  assert.ok(existsSync(statePaths.history(origin, SHARED_RUN)));
  assert.ok(!cached().includes(GONE), "no stat cache row of the purged run");
  assert.ok(cached().includes(SHARED_RUN), "the other runs' rows stay");
  assert.equal((await push({ runsDir: origin, remote, now })).runs.length, 0, "then nothing to push");
});

test("a status of every run leaves the stat cache rows of runs no longer here out of the cache", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now });
  const cached = () => cachedBytes(origin);
  assert.ok(cached().includes(GONE));
  removeRun(origin, GONE);
  // A run that changed makes the status read the stat cache.
  changeSharedRun(origin);
  const rows = (await status({ runsDir: origin, remote, now })).runs;
  assert.equal(rows.find((r) => r.id === SHARED_RUN)?.state, "ahead");
  assert.ok(!cached().includes(GONE), "no stat cache row of the purged run");
  assert.ok(cached().includes(SHARED_RUN));
});

test("a runs directory moved elsewhere drops the stat cache rows of its old paths at its next whole push", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now });
  const moved = join(root, "moved-runs");
  renameSync(origin, moved);
  const cached = () => cachedBytes(moved);
  assert.ok(cached().includes(`${origin}/`), "rows of the old paths");
  changeSharedRun(moved);
  await push({ runsDir: moved, remote, now });
  assert.ok(!cached().includes(`${origin}/`), "no row of the old paths");
  assert.ok(cached().includes(`${moved}/${SHARED_RUN}`));
  assert.equal((await push({ runsDir: moved, remote, now })).runs.length, 0);
});

test("a run that arrives between a push's plan and its execution keeps its history: the names planned serve only while the directory is unchanged", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now });
  // Away while the push plans; back (as a concurrent pull or clone brings it) before it executes.
  const away = join(root, "away");
  mkdirSync(away);
  const names = readdirSync(origin).filter((n) => n.startsWith(GONE));
  for (const n of names) renameSync(join(origin, n), join(away, n));
  changeSharedRun(origin);
  const plan = await planPush({ runsDir: origin, remote, now });
  for (const n of names) renameSync(join(away, n), join(origin, n));
  await plan.execute();
  await plan.close();
  assert.ok(existsSync(statePaths.history(origin, GONE)), "the run that arrived keeps its history");
  assert.ok(cachedBytes(origin).includes(GONE), "and its stat cache rows");
});

test("a runs directory's names listed serve while its inode and stamps stay, and only when those were settled at the listing", async () => {
  const { origin } = fresh();
  // An mtime long past: the name made below changes it whatever the clock's granularity.
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(origin, past, past);
  const st = statSync(origin);
  const changed = Math.max(st.mtimeMs, st.ctimeMs);
  const settled = await listRunsDir(origin, changed + RACY_MS + 1);
  assert.equal(settled.settled, true);
  assert.equal((await listRunsDir(origin, changed + RACY_MS - 1)).settled, false, "stamps within RACY_MS of the listing");
  // A stand-in for names the directory no longer has: returned only while they may be trusted.
  const stale = ["only-this"];
  assert.deepEqual(namesStill(origin, { ...settled, names: stale }), stale);
  assert.deepEqual(namesStill(origin, { ...settled, names: stale, settled: false }), readdirSync(origin), "not settled: read again");
  assert.deepEqual(namesStill(origin, { ...settled, names: stale, ino: settled.ino + 1 }), readdirSync(origin), "another folder: read again");
  writeFileSync(join(origin, "new-name"), "");
  assert.deepEqual(namesStill(origin, { ...settled, names: stale }), readdirSync(origin), "a name made: read again");
});

test("a cached view with a damaged block, or of the previous format, is a cache miss: the command reads the remote afresh and writes a good view", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now });
  const file = statePaths.remote(origin, remote, "view");
  const states = async () => (await status({ runsDir: origin, remote, now })).runs.map((r) => [r.id, r.state]).sort();
  const expected = await states();
  assert.ok(expected.length > 0 && expected.every(([, state]) => state === "in sync"), "every run is in sync after the push");
  const good = readFileSync(file);
  const damaged = Buffer.from(good);
  // The first block (after the 8-byte magic) holds the runs this directory holds: opened by every command.
  damaged[10] = damaged[10]! ^ 1;
  writeFileSync(file, damaged);
  assert.deepEqual(await states(), expected);
  changeSharedRun(origin);
  assert.deepEqual((await push({ runsDir: origin, remote, now })).runs.map((r) => r.id), [SHARED_RUN], "a push after it sends the changed run");
  assert.ok(decodeView(readFileSync(file)) !== undefined, "the view was written anew");
  const older = Buffer.from(readFileSync(file));
  older.write("GAGEVW5\n", 0, "latin1");
  writeFileSync(file, older);
  assert.equal(decodeView(older), undefined);
  assert.deepEqual(await states(), expected);
  assert.equal((await push({ runsDir: origin, remote, now })).runs.length, 0, "nothing to push");
});
