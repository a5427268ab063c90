import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { nativeListing } from "../../src/objects/index.js";
import { RACY_MS, StatCache } from "../../src/worktree/index.js";
import { listRuns } from "../../src/runs/run.js";
import { scanRuns } from "../../src/sync/local-runs.js";
import { statePaths } from "../../src/state/index.js";
import { clone, push, status } from "../../src/sync/index.js";
import { CORPUS_GENERATOR, withTempDir } from "../helpers/fixtures.js";
import { listing } from "./story.js";

// Enough runs that push and status scan and store on worker threads (sync/local-runs.ts,
// sync/push.ts; scans are asked to, as on a machine with three cores): the same results as one
// thread gives, and no change hidden.
const RUNS = 40;
/** A clock past the window in which the stat cache trusts no stamp (worktree/stat-cache.ts). */
const later = () => Date.now() + RACY_MS + 1000;
const SCAN_THREADS = 3;

test("many runs push on workers, a no-change push reads nothing, and an in-place edit is still found", async () => {
  await withTempDir("gage-sync-many-", async (tmp) => {
    const origin = join(tmp.path, "origin");
    const remote = join(tmp.path, "remote");
    execFileSync(process.execPath, [CORPUS_GENERATOR, "--shape", "many-small", "--runs", String(RUNS), "--seed", "5", "--out", origin, "--quiet"]);
    const first = await push({ runsDir: origin, remote, scanThreads: SCAN_THREADS, now: later });
    assert.equal(first.runs.length, RUNS);
    // What the workers stored was summed up first: a scan on this thread reads nothing, and answers
    // each run's folders with one row each.
    const cache = await StatCache.load(statePaths.statCache(origin), { now: later });
    let wholeTreeHits = 0;
    const lookupDir = cache.lookupDir.bind(cache);
    cache.lookupDir = (path, signature) => {
      const hit = lookupDir(path, signature);
      if (hit !== undefined && path.endsWith("\0")) wholeTreeHits++;
      return hit;
    };
    const refs = (await listRuns(origin)).map((run) => ({ id: run.id, deleted: false, run }));
    const scans = await scanRuns(origin, refs, cache, { threads: 1 });
    assert.deepEqual(scans.map((s) => s.stats.hashedFiles), refs.map(() => 0));
    if (nativeListing) assert.equal(wholeTreeHits, 2 * RUNS);

    const again = await push({ runsDir: origin, remote, scanThreads: SCAN_THREADS, now: later });
    assert.equal(again.runs.length, 0);
    assert.equal(again.upToDate, RUNS);

    const copy = join(tmp.path, "copy");
    await clone({ runsDir: copy, remote });
    assert.deepEqual(listing(copy), listing(origin));

    const [run] = await listRuns(origin);
    const file = join(run!.paths.runDir, "train.py");
    const before = statSync(file);
    const text = readFileSync(file, "utf8");
    chmodSync(file, 0o644);
    writeFileSync(file, text.replace("import", "imp0rt"));
    chmodSync(file, before.mode & 0o777);
    utimesSync(file, before.atime, before.mtime);
    const states = (await status({ runsDir: origin, remote, scanThreads: SCAN_THREADS })).runs;
    assert.deepEqual(
      states.filter((r) => r.state !== "in sync").map((r) => [r.id, r.state]),
      [[run!.id, "ahead"]],
    );
    const edited = await push({ runsDir: origin, remote, scanThreads: SCAN_THREADS });
    assert.deepEqual(edited.runs.map((r) => r.id), [run!.id]);
  });
});
