import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runPaths } from "../../src/runs/layout.js";
import { gc } from "../../src/sync/gc.js";
import { clone, pull, push } from "../../src/sync/index.js";
import { freshCases, SHARED_RUN } from "./story.js";
import { runFiles } from "./two-sides.js";

// Two runs directories, A and B, share one local-folder remote. B keeps copies of the remote's
// pack indexes from its clone; gc then changes what a pack's index lists. B's next push must
// upload whatever the remote does not list now, whatever B remembers.

const fresh = freshCases("gage-sync-gc-two-");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OTHER_RUN = "c21299fd-4f2b-401b-aee7-33485158bad3";

function writeRunFile(runsDir: string, runId: string, name: string, data: Buffer): void {
  const dir = runPaths(runsDir, runId).runDir;
  chmodSync(dir, 0o755);
  const path = join(dir, name);
  if (existsSync(path)) chmodSync(path, 0o644);
  writeFileSync(path, data);
}

/** A fresh clone of the remote holds exactly `pusher`'s runs, and the other side pulls them all. */
async function assertWhole(root: string, remote: string, pusher: string, other: string): Promise<void> {
  const fresh = join(root, `clone-${Date.now()}`);
  await clone({ runsDir: fresh, remote });
  assert.deepEqual(runFiles(fresh), runFiles(pusher), "a fresh clone is identical to the pusher's files");
  await pull({ runsDir: other, remote });
  assert.deepEqual(runFiles(other), runFiles(pusher));
}

/** A pushes `files` in a run, B clones, A replaces them and pushes: the first versions are garbage. */
async function sharedThenReplaced(files: Record<string, Buffer>) {
  const { root, origin: a, remote } = fresh();
  for (const [name, data] of Object.entries(files)) writeRunFile(a, SHARED_RUN, name, data);
  await push({ runsDir: a, remote });
  const b = join(root, "b");
  await clone({ runsDir: b, remote });
  for (const name of Object.keys(files)) writeRunFile(a, SHARED_RUN, name, randomBytes(files[name]!.length));
  await push({ runsDir: a, remote });
  await pull({ runsDir: b, remote });
  return { root, a, b, remote };
}

test("gc trim: B pushes bytes gc dropped from an index it kept a copy of", async () => {
  const x = randomBytes(20_000);
  const { root, a, b, remote } = await sharedThenReplaced({ "big.bin": x });
  const result = await gc({ runsDir: a, remote, graceMs: 0 });
  assert.equal(result.packs.trimmed, 1);
  writeRunFile(b, OTHER_RUN, "copy-of-big.bin", x);
  const pushed = await push({ runsDir: b, remote });
  assert.deepEqual(pushed.runs.map((r) => r.id), [OTHER_RUN]);
  assert.ok(pushed.objects >= 2, "the file gc dropped is uploaded again, with its tree");
  await assertWhole(root, remote, b, a);
});

test("gc put-back: an index given back some objects is a new index; B pushes what it still lacks", async () => {
  const [x, y] = [randomBytes(20_000), randomBytes(20_000)];
  const { root, a, b, remote } = await sharedThenReplaced({ "x.bin": x, "y.bin": y });
  const t0 = Date.now();
  const trim = await gc({ runsDir: a, remote, now: () => t0 + 2 * DAY });
  assert.equal(trim.packs.trimmed, 1);
  // A needs y again: its push uploads it anew, and the next gc puts y back into the first pack's index.
  writeRunFile(a, SHARED_RUN, "y-again.bin", y);
  await push({ runsDir: a, remote });
  const back = await gc({ runsDir: a, remote, now: () => t0 + 2 * DAY + HOUR });
  assert.equal(back.packs.restored, 1);
  await pull({ runsDir: b, remote });
  writeRunFile(b, OTHER_RUN, "copy-of-x.bin", x);
  const pushed = await push({ runsDir: b, remote, now: () => t0 + 3 * DAY });
  assert.ok(pushed.objects >= 2, "x is uploaded again");
  await gc({ runsDir: a, remote, now: () => t0 + 5 * DAY });
  await assertWhole(root, remote, b, a);
});

test("gc rewrite: a repacked pack's objects that B needs again are uploaded", async () => {
  const x = randomBytes(3_000_000);
  const { root, a, b, remote } = await sharedThenReplaced({ "weights.bin": x });
  const result = await gc({ runsDir: a, remote, graceMs: 0 });
  assert.equal(result.packs.repacked, 1);
  writeRunFile(b, OTHER_RUN, "weights-copy.bin", x);
  const pushed = await push({ runsDir: b, remote });
  assert.ok(pushed.bytes >= 3_000_000, "the weights are uploaded again");
  await assertWhole(root, remote, b, a);
});

test("gc set-aside then remove: a pack out of use is never trusted from B's copy", async () => {
  const x = randomBytes(20_000);
  const { root, origin: a, remote } = fresh();
  await push({ runsDir: a, remote });
  // x goes into a pack of its own, which B's clone keeps a copy of; then no run reaches it.
  writeRunFile(a, SHARED_RUN, "x.bin", x);
  await push({ runsDir: a, remote });
  const b = join(root, "b");
  await clone({ runsDir: b, remote });
  writeRunFile(a, SHARED_RUN, "x.bin", Buffer.from("small now\n"));
  await push({ runsDir: a, remote });
  await pull({ runsDir: b, remote });
  const t0 = Date.now();
  const aside = await gc({ runsDir: a, remote, now: () => t0 + 2 * DAY });
  assert.equal(aside.packs.setAside, 1);
  const removed = await gc({ runsDir: a, remote, now: () => t0 + 4 * DAY });
  assert.equal(removed.packs.removed, 1);
  writeRunFile(b, OTHER_RUN, "x-copy.bin", x);
  const pushed = await push({ runsDir: b, remote, now: () => t0 + 4 * DAY + HOUR });
  assert.ok(pushed.objects >= 2, "x is uploaded again");
  await assertWhole(root, remote, b, a);
});
