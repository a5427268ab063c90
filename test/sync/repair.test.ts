import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { hashBytes, ObjectNotFoundError, packIndexKey } from "../../src/objects/index.js";
import { decodePackIndex, encodePackIndex } from "../../src/objects/pack.js";
import { runPaths } from "../../src/runs/layout.js";
import { clone, push, StoreIncompleteError } from "../../src/sync/index.js";
import { gc } from "../../src/sync/gc.js";
import { freshCases, SHARED_RUN } from "./story.js";
import { runFiles } from "./two-sides.js";

// A remote whose index lacks an object a head reaches, as release 0.1.0 could leave one (a push
// that trusted a stale copy of an index gc had trimmed): "push the run again" must repair it.

const fresh = freshCases("gage-sync-repair-");

/** Drops `id` from the remote folder's pack indexes, each rewritten under its new key. */
function dropFromIndexes(remote: string, id: string): void {
  const packs = join(remote, "packs");
  for (const name of readdirSync(packs).filter((n) => n.endsWith(".idx"))) {
    const packId = name.slice(0, 64);
    const entries = decodePackIndex(packId, readFileSync(join(packs, name)));
    if (!entries.some((e) => e.id === id)) continue;
    const bytes = encodePackIndex(packId, entries.filter((e) => e.id !== id));
    writeFileSync(join(remote, packIndexKey(packId, bytes)), bytes);
    rmSync(join(packs, name));
  }
}

async function brokenRemote() {
  const { root, origin, remote } = fresh();
  const dir = runPaths(origin, SHARED_RUN).runDir;
  chmodSync(dir, 0o755);
  const data = randomBytes(30_000);
  writeFileSync(join(dir, "lost.bin"), data);
  await push({ runsDir: origin, remote });
  dropFromIndexes(remote, hashBytes(data));
  await assert.rejects(clone({ runsDir: join(root, "broken-clone"), remote }), ObjectNotFoundError);
  return { root, origin, remote };
}

test("a push naming the run puts back what the remote's indexes lack; a plain push stays cheap", async () => {
  const { root, origin, remote } = await brokenRemote();
  await assert.rejects(gc({ runsDir: origin, remote, graceMs: 0 }), StoreIncompleteError);
  const plain = await push({ runsDir: origin, remote });
  assert.equal(plain.runs.length, 0, "a push of all runs trusts what it found in sync");
  const named = await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  assert.deepEqual(named.runs.map((r) => [r.id, r.what]), [[SHARED_RUN, "missing objects"]]);
  assert.ok(named.bytes >= 30_000, "the lost file is uploaded again");
  const again = await push({ runsDir: origin, remote, runs: [SHARED_RUN] });
  assert.equal(again.runs.length, 0, "then the run is whole and up to date");
  await gc({ runsDir: origin, remote, graceMs: 0 });
  const c = join(root, "c");
  await clone({ runsDir: c, remote });
  assert.deepEqual(runFiles(c), runFiles(origin));
});

test("push --force repairs every run that reaches a missing object", async () => {
  const { root, origin, remote } = await brokenRemote();
  const forced = await push({ runsDir: origin, remote, force: true });
  assert.deepEqual(forced.runs.map((r) => r.id), [SHARED_RUN]);
  const c = join(root, "c");
  await clone({ runsDir: c, remote });
  assert.deepEqual(runFiles(c), runFiles(origin));
});
