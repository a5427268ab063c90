import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/fixtures.js";
import { openStorage } from "../../src/remotes/open.js";
import { statePaths } from "../../src/state/index.js";
import { emptyView, refreshView, writeCatalog } from "../../src/sync/heads.js";
import { pull, push, status, type StatusResult } from "../../src/sync/index.js";
import { decodeView } from "../../src/sync/view-file.js";
import { runFiles } from "./two-sides.js";

// Two members share a remote, as a team does: B pushes new runs and deletes them, catalogs
// appear, A (a member with its own runs) runs status between. A's cached view must stay the size
// of A's runs plus the runs of heads newer than the catalog, and answer as a fresh directory does.

process.env.GAGE_CATALOG_SEGMENT_RUNS = "8";
const MAKE_TINY_RUNS = fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url));
const tmp = tempDir("gage-view-member-");
after(() => tmp.cleanup());

function makeRuns(out: string, runs: number, startIndex: number): string[] {
  const ids = join(tmp.path, "ids");
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", out, "--runs", String(runs), "--start-index", String(startIndex), "--ids", ids]);
  return readFileSync(ids, "utf8").split("\n").filter(Boolean);
}

function removeRuns(dir: string, ids: readonly string[]): void {
  for (const id of ids) for (const part of ["", ".meta", ".user", ".project"]) rmSync(join(dir, id + part), { recursive: true, force: true });
}

/** The runs A's cached view file keeps as entries. */
function keptRuns(runsDir: string, remote: string): string[] {
  return [...decodeView(readFileSync(statePaths.remote(runsDir, remote, "view")))!.view.runs.keysHeld()];
}

/** A status as a user compares it: every row's state, and the count of runs only on the remote. */
function rows(result: StatusResult): string[] {
  return [...result.runs.filter((r) => r.state !== "remote-only").map((r) => `${r.id} ${r.state}`).sort(), `remote-only ${result.remoteOnly}`];
}

test("a member's view keeps its runs and the runs of heads newer than the catalog; status and pull answer as from a fresh directory", async () => {
  const remote = join(tmp.path, "remote");
  const a = join(tmp.path, "a");
  const b = join(tmp.path, "b");
  const mine = makeRuns(a, 6, 0);
  await push({ runsDir: a, remote });
  let index = 100;
  let lastHead: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (let h = 0; h < 3; h++) {
      lastHead = makeRuns(b, 10, index);
      index += 10;
      await push({ runsDir: b, remote });
      removeRuns(b, lastHead);
      await status({ runsDir: a, remote });
    }
    // The catalog a push writes every 64 heads, written here every 3.
    const storage = await openStorage(remote);
    const writer = emptyView();
    await refreshView(storage, writer);
    await writeCatalog(storage, writer, Date.now());
    await storage.close();
  }
  // One more push by B, newer than the catalog, and one by A, then A reads the remote.
  lastHead = makeRuns(b, 10, index);
  await push({ runsDir: b, remote });
  removeRuns(b, lastHead);
  const own = makeRuns(a, 1, 50);
  await push({ runsDir: a, remote });
  const before = await status({ runsDir: a, remote, remoteOnlyRows: 0 });
  const kept = keptRuns(a, remote);
  const allowed = new Set([...mine, ...own, ...lastHead]);
  assert.deepEqual(kept.filter((id) => !allowed.has(id)), [], "no run beyond A's and those of the heads the catalog does not hold");
  assert.ok(kept.length <= allowed.size, `${kept.length} runs kept, of ${before.remoteOnly + mine.length + 1} on the remote`);
  assert.equal(before.remoteOnly, 130);

  // A fresh copy of A's runs directory (no .gage-sync) answers the same.
  const fresh = join(tmp.path, "a-fresh");
  cpSync(a, fresh, { recursive: true, filter: (src) => !src.includes(".gage-sync") });
  assert.deepEqual(rows(before), rows(await status({ runsDir: fresh, remote, remoteOnlyRows: 0 })));

  // B changes one of A's runs (pulled, changed, pushed): A sees it behind, and pulls it back.
  await pull({ runsDir: b, remote, runs: [mine[2]!] });
  execFileSync("chmod", ["-R", "u+w", join(b, mine[2]!)]);
  execFileSync("sh", ["-c", `echo changed > ${join(b, mine[2]!, "changed.txt")}`]);
  await push({ runsDir: b, remote });
  const behind = await status({ runsDir: a, remote, remoteOnlyRows: 0 });
  assert.ok(behind.runs.some((r) => r.id === mine[2] && r.state === "behind"), "A sees B's change to its run");
  assert.deepEqual(rows(behind), rows(await status({ runsDir: fresh, remote, remoteOnlyRows: 0 })));
  const pulledA = await pull({ runsDir: a, remote });
  const pulledFresh = await pull({ runsDir: fresh, remote });
  assert.deepEqual(pulledA.runs.map((r) => r.id).sort(), pulledFresh.runs.map((r) => r.id).sort());
  assert.equal(pulledA.runs.length, 131, "every run only on the remote, and A's changed one");
  assert.deepEqual(runFiles(a), runFiles(fresh));
  assert.ok(runFiles(a).has(`${mine[2]}/changed.txt`), "B's change reached A");
});

test("a member's view is updated in place: the blocks it keeps stay where they were, and it reads back whole", async () => {
  const remote = join(tmp.path, "remote-in-place");
  const a = join(tmp.path, "a-in-place");
  const b = join(tmp.path, "b-in-place");
  makeRuns(a, 2, 0);
  await push({ runsDir: a, remote });
  const file = statePaths.remote(a, remote, "view");
  let before: { bytes: Buffer; ino: number } | undefined;
  for (let round = 0; round < 4; round++) {
    makeRuns(b, 5, 100 + round * 5);
    await push({ runsDir: b, remote });
    await status({ runsDir: a, remote });
    const now = { bytes: readFileSync(file), ino: statSync(file).ino };
    assert.ok(decodeView(now.bytes) !== undefined, `round ${round}: every block reads back against its digest`);
    if (before !== undefined && round >= 2) {
      // The old file up to its header (its blocks) is unchanged; B's new head's runs came after it.
      const headerAt = before.bytes.length - 36 - before.bytes.readUInt32LE(before.bytes.length - 36);
      assert.equal(now.ino, before.ino, `round ${round}: the same file, written in place`);
      assert.ok(now.bytes.subarray(0, headerAt).equals(before.bytes.subarray(0, headerAt)), `round ${round}: the blocks before the old header are as they were`);
    }
    before = now;
  }
  const fresh = join(tmp.path, "a-in-place-fresh");
  cpSync(a, fresh, { recursive: true, filter: (src) => !src.includes(".gage-sync") });
  assert.deepEqual(rows(await status({ runsDir: a, remote, remoteOnlyRows: 0 })), rows(await status({ runsDir: fresh, remote, remoteOnlyRows: 0 })));
  assert.equal(keptRuns(a, remote).length, 2 + 20, "A's runs and the runs of B's heads (no catalog yet)");
});
