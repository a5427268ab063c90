import assert from "node:assert/strict";
import { readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { nativeListing } from "../../src/objects/index.js";
import { isRunId, runPaths } from "../../src/runs/layout.js";
import { appendUserLog } from "../../src/runs/user-log.js";
import { decodeView, encodeView } from "../../src/sync/view-file.js";
import type { HeadEntry } from "../../src/sync/heads.js";
import { clone, openRemote, closeRemote, planPull, planPush, pull, push, status, type SyncOptions } from "../../src/sync/index.js";
import { RemoteState } from "../../src/state/index.js";
import { freshCases, SHARED_RUN } from "./story.js";

// A push that finds every run as it was when last in sync with the remote compares none of them
// file by file (sync/in-sync.ts). These tests check what that shortcut must never hide.

const fresh = freshCases("gage-sync-in-sync-");

/** A clock past the racy window of every file the fixture made: rows may be kept. */
const settled = () => Date.now() + 10_000;

/** Plans a push and closes it (saving what it learned): how many runs it compared file by file. */
async function scannedByPush(opts: SyncOptions): Promise<{ scanned: number; upToDate: number; moving: string[] }> {
  const plan = await planPush(opts);
  await plan.close();
  return { scanned: plan.scanned!, upToDate: plan.upToDate, moving: plan.runs.map((r) => r.id) };
}

test("once every run was found in sync (by the push that sent it), a no-change push compares none of them file by file", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const first = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.ok(first.upToDate > 1);
  assert.deepEqual(first, { scanned: nativeListing ? 0 : first.upToDate, upToDate: first.upToDate, moving: [] }, "the first push left every run in sync");
  const second = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(second, first);
});

test("a run changed since it was found in sync is compared and pushed; the others are not compared", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const { upToDate } = await scannedByPush({ runsDir: origin, remote, now: settled });
  const file = join(runPaths(origin, SHARED_RUN).runDir, "hello.py");
  const before = readFileSync(file, "utf8");
  writeFileSync(file, before.replace(/[a-z]/, "q"), { mode: 0o644 });
  const plan = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(plan, { scanned: nativeListing ? 1 : upToDate, upToDate: upToDate - 1, moving: [SHARED_RUN] });
  await push({ runsDir: origin, remote, now: settled });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  assert.equal(readFileSync(join(runPaths(other, SHARED_RUN).runDir, "hello.py"), "utf8"), before.replace(/[a-z]/, "q"));
  // The push left the remote with what it read here: the run is in sync again, without a compare.
  const after = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(after, { scanned: nativeListing ? 0 : upToDate, upToDate, moving: [] });
});

test("a run pushed while the remote held more of it (a label from elsewhere) is compared again next time", async () => {
  const { origin, remote, upToDate } = await newsFromElsewhere();
  const file = join(runPaths(origin, SHARED_RUN).runDir, "hello.py");
  writeFileSync(file, "print('edited at origin')\n", { mode: 0o644 });
  const pushed = await push({ runsDir: origin, remote, now: settled });
  assert.deepEqual(pushed.runs.map((r) => r.id), [SHARED_RUN]);
  const next = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(next, { scanned: nativeListing ? 1 : upToDate, upToDate, moving: [] }, "origin still lacks the other side's label");
  assert.equal((await status({ runsDir: origin, remote })).runs.find((r) => r.id === SHARED_RUN)?.state, "behind");
});

test("a run whose files changed within the racy window is compared again next time", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const { upToDate } = await scannedByPush({ runsDir: origin, remote, now: settled });
  // An mtime ahead of the clock, as a file written just now: its next write could keep that
  // mtime (coarse file system times), so no row may say the run is as it was.
  const file = join(runPaths(origin, SHARED_RUN).metaDir, "opref");
  const ahead = new Date(settled() + 60_000);
  utimesSync(file, ahead, ahead);
  for (const attempt of ["first", "second"]) {
    const plan = await scannedByPush({ runsDir: origin, remote, now: settled });
    assert.deepEqual(plan, { scanned: nativeListing ? 1 : upToDate, upToDate, moving: [] }, `${attempt} push after the change: only that run compared`);
  }
});

/** Origin with rows for every run; then another copy labels a run and pushes it: origin is behind on it. */
async function newsFromElsewhere(): Promise<{ origin: string; remote: string; upToDate: number; label: string }> {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const { upToDate } = await scannedByPush({ runsDir: origin, remote, now: settled });
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  const label = await appendUserLog(runPaths(other, SHARED_RUN).userDir, { set: { label: "from other" } }, { author: "t", nowMs: Date.now() });
  await push({ runsDir: other, remote });
  return { origin, remote, upToDate, label };
}

test("a push that reads news from the remote compares every run with it", async () => {
  const { origin, remote, upToDate, label } = await newsFromElsewhere();
  const afterNews = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(afterNews, { scanned: upToDate, upToDate, moving: [] }, "nothing of origin's to send");
  await pull({ runsDir: origin, remote });
  assert.ok(readdirSync(runPaths(origin, SHARED_RUN).userDir).includes(label));
  await scannedByPush({ runsDir: origin, remote, now: settled });
  const settledAgain = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(settledAgain, { scanned: nativeListing ? 0 : upToDate, upToDate, moving: [] });
});

test("a no-change pull compares no run found in sync; a run changed here is compared, and the next push sends it", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const first = await planPull({ runsDir: origin, remote, now: settled });
  await first.close();
  assert.deepEqual({ scanned: first.scanned, runs: first.runs }, { scanned: nativeListing ? 0 : first.scanned, runs: [] });
  assert.ok(first.upToDate > 1);
  // Ahead of the remote here: a pull has nothing to bring, and must not take the run as in sync.
  const file = join(runPaths(origin, SHARED_RUN).runDir, "hello.py");
  writeFileSync(file, readFileSync(file, "utf8").replace(/[a-z]/, "q"), { mode: 0o644 });
  const ahead = await planPull({ runsDir: origin, remote, now: settled });
  await ahead.close();
  assert.deepEqual(ahead.runs, []);
  const pushing = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(pushing.moving, [SHARED_RUN]);
});

test("a pull brings news from the remote to a run found in sync before them", async () => {
  const { origin, remote, label } = await newsFromElsewhere();
  await pull({ runsDir: origin, remote, now: settled });
  assert.ok(readdirSync(runPaths(origin, SHARED_RUN).userDir).includes(label));
});

test("rows made before another command read news from the remote are not used; status keeps rows as a push does", async () => {
  const { origin, remote, upToDate } = await newsFromElsewhere();
  // Status reads the news and caches the view: the rows were made against the view before it, so
  // it compares every run, and keeps rows (against the new view) for those it finds in sync.
  const rows = (await status({ runsDir: origin, remote, now: settled })).runs;
  assert.equal(rows.find((r) => r.id === SHARED_RUN)?.state, "behind");
  const push = await scannedByPush({ runsDir: origin, remote, now: settled });
  assert.deepEqual(push, { scanned: nativeListing ? 1 : upToDate, upToDate, moving: [] }, "only the run status found behind is compared");
  const again = (await status({ runsDir: origin, remote, now: settled })).runs;
  assert.deepEqual(again, rows, "status answers the same from the rows");
});

test("a push of some parts of runs does not take whole runs as in sync", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  await scannedByPush({ runsDir: origin, remote, now: settled });
  const { upToDate } = await scannedByPush({ runsDir: origin, remote, now: settled });
  const onlyMeta = await scannedByPush({ runsDir: origin, remote, now: settled, only: ["meta"] });
  assert.deepEqual(onlyMeta, { scanned: upToDate, upToDate, moving: [] });
});

test("the cached view reads back as written, its entries checked against its header; a damaged one is none", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  const opened = await openRemote(remote, {});
  await closeRemote(opened);
  const cached = decodeView(new RemoteState(origin, opened.url).readView()!);
  assert.ok(cached, "a push leaves a cached view");
  // Written as the push wrote it: the runs this directory holds are kept in the view's first block.
  const here = new Set(readdirSync(origin).filter(isRunId));
  const again = encodeView(cached.view, (id) => here.has(id));
  assert.equal(again.stamp, cached.stamp, "the same view, the same stamp");
  assert.deepEqual([...decodeView(again.bytes)!.view.runs.keys()].sort(), [...cached.view.runs.keys()].sort());
  // One run decoded, one set anew, one removed: written back with the others as they were read.
  const ids = [...cached.view.runs.keys()].sort();
  assert.ok(ids.length >= 7);
  const [decoded, replaced, removed] = [ids[1]!, ids[3]!, ids[5]!];
  const partly = decodeView(again.bytes)!.view;
  partly.runs.get(decoded);
  partly.runs.set(replaced, cached.view.runs.get(removed)!.map((e) => ({ ...e, runId: replaced })));
  partly.runs.delete(removed);
  const read = decodeView(encodeView(partly).bytes)!.view;
  assert.deepEqual([...read.runs.keys()].sort(), ids.filter((id) => id !== removed));
  for (const id of ids.filter((id) => id !== removed)) {
    const expected: HeadEntry[] | undefined = id === replaced ? cached.view.runs.get(removed)!.map((e) => ({ ...e, runId: replaced })) : cached.view.runs.get(id);
    assert.deepEqual(read.runs.get(id), expected, id);
  }
  const damaged = Buffer.from(again.bytes);
  damaged[damaged.length - 5]! ^= 0x01;
  assert.equal(decodeView(damaged), undefined, "a flipped byte in the entries");
  assert.equal(decodeView(again.bytes.subarray(0, 20)), undefined, "a truncated file");
});
