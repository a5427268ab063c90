import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runPaths } from "../../src/runs/layout.js";
import { appendUserLog } from "../../src/runs/user-log.js";
import { clone, push } from "../../src/sync/index.js";
import { stateDir } from "../../src/state/index.js";
import { countedIndexReads } from "../helpers/counted-storage.js";
import { DELETED_RUN, freshCases, listing, SHARED_RUN } from "./story.js";

// A runs directory keeps its remote's pack index files (sync/pack-index-cache.ts): a push reads
// only the index files of packs written since. The copy must never stand in for the remote.

const fresh = freshCases("gage-sync-pack-cache-");

/** A new file in the shared run, so that the next push writes a pack. */
function newFile(origin: string, name: string): void {
  writeFileSync(join(runPaths(origin, SHARED_RUN).runDir, name), `${name}\n`.repeat(100));
}

/** What a clone has of a runs directory: every file but its state, project links and deleted run. */
const shared = (dir: string) => listing(dir, (n) => n === ".gage-sync" || n.endsWith(".project") || n.startsWith(DELETED_RUN));

test("a push reads only the pack index files another writer wrote since, none of its own", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  newFile(origin, "second.txt");
  const second = await countedIndexReads(remote);
  await push({ runsDir: origin, remote: second.storage });
  assert.deepEqual(second.indexReads, [], "the first push kept its pack's index file");
  assert.ok(!second.sizedLists.some((p) => p.startsWith("packs")), "every index kept: the packs are listed without sizes");
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  newFile(other, "from-other.txt");
  await push({ runsDir: other, remote });
  newFile(origin, "third.txt");
  const third = await countedIndexReads(remote);
  await push({ runsDir: origin, remote: third.storage, force: true });
  assert.equal(third.indexReads.length, 1, "the other writer's pack only");
  assert.ok(third.sizedLists.some((p) => p.startsWith("packs")), "an index not kept: its size weighed against the bytes sent");
  const check = join(root, "check");
  await clone({ runsDir: check, remote });
  assert.deepEqual(shared(check), shared(origin));
});

test("a damaged or stale copy of the index files is read again from the remote, and objects gone are sent again", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  const kept = join(stateDir(origin), "remotes", readdirSync(join(stateDir(origin), "remotes")).find((n) => n.endsWith(".packs"))!);
  const bytes = readFileSync(kept);
  bytes[bytes.length - 40]! ^= 0x01;
  writeFileSync(kept, bytes);
  newFile(origin, "after-damage.txt");
  const damaged = await countedIndexReads(remote);
  await push({ runsDir: origin, remote: damaged.storage });
  assert.equal(damaged.indexReads.length, 1, "the damaged index file was read again");

  // The remote loses every pack (as if gc removed them): the kept copies do not hide that.
  rmSync(remote, { recursive: true, force: true });
  await appendUserLog(runPaths(origin, SHARED_RUN).userDir, { set: { label: "after loss" } }, { author: "t", nowMs: Date.now() });
  const again = await push({ runsDir: origin, remote });
  assert.ok(again.objects > 0, "every object was sent again");
  const other = join(root, "other");
  await clone({ runsDir: other, remote });
  assert.deepEqual(shared(other), shared(origin));
});
