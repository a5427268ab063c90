import assert from "node:assert/strict";
import { appendFileSync, lutimesSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeTimes, digestTrees, MemoryObjectStorage, ObjectReader, PackWriter, snapshotDir, type TreeSumLookup } from "../../src/objects/index.js";
import { snapshotDirsOnWorkers, StatCache } from "../../src/worktree/index.js";
import { fileTimes } from "../helpers/file-times.js";
import { withTempDir } from "../helpers/fixtures.js";

const LATER = () => Date.now() + 60_000;
const YEAR_2020 = Date.UTC(2020, 0, 1) / 1000;

/** A folder with files two levels down and a symlink, each with its own old modification time. */
function makeTree(dir: string): void {
  mkdirSync(join(dir, "sub", "deep"), { recursive: true });
  mkdirSync(join(dir, "other"));
  const files = ["a.txt", "sub/b.txt", "sub/deep/c.bin", "other/d.json", "other/e.log"];
  files.forEach((f, k) => {
    writeFileSync(join(dir, f), `file ${f}\n`.repeat(k + 1));
    utimesSync(join(dir, f), YEAR_2020 + k * 1000, YEAR_2020 + k * 1000 + 0.123456);
  });
  symlinkSync("a.txt", join(dir, "sub", "link"));
  // Whole microseconds: a time in nanoseconds may round either way through a float of milliseconds.
  lutimesSync(join(dir, "sub", "link"), YEAR_2020 + 0.5, YEAR_2020 + 0.5);
}

async function storedTimes(storage: MemoryObjectStorage, id: string): Promise<Map<string, number>> {
  const reader = await ObjectReader.open(storage);
  return decodeTimes(await reader.read(id));
}

const sorted = (m: Map<string, number>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

test("a snapshot with times stores every file's and symlink's modification time below the folder, in the same packs", async () => {
  await withTempDir("gage-times-", async (tmp) => {
    const dir = join(tmp.path, "run");
    makeTree(dir);
    const storage = new MemoryObjectStorage();
    const writer = new PackWriter(storage);
    const { times } = await snapshotDir(dir, { sink: writer, times: true });
    await writer.flush();
    assert.ok(times !== undefined);
    const stored = await storedTimes(storage, times);
    assert.deepEqual(sorted(stored), sorted(fileTimes(dir)));
    assert.equal(stored.size, 6);
    assert.equal(stored.get("sub/deep/c.bin"), (YEAR_2020 + 2000) * 1e6 + 123456);
    // Without asking, no times object.
    assert.equal((await snapshotDir(dir, { sink: writer })).times, undefined);
  });
});

test("folders the stat cache answers (by their listing, or whole by their sum) still give their files' times", async () => {
  await withTempDir("gage-times-", async (tmp) => {
    const dir = join(tmp.path, "run");
    makeTree(dir);
    const storage = new MemoryObjectStorage();
    const writer = new PackWriter(storage);
    const cache = new StatCache({ now: LATER });
    await snapshotDir(dir, { sink: writer, cache });
    // One file changes: its folder is walked, the others are answered by their cached rows.
    appendFileSync(join(dir, "other", "e.log"), "more\n");
    utimesSync(join(dir, "other", "e.log"), YEAR_2020 + 9000, YEAR_2020 + 9000);
    const second = await snapshotDir(dir, { sink: writer, cache, times: true });
    assert.ok(second.stats.hashedFiles === 1, `${second.stats.hashedFiles} files read`);
    await writer.flush();
    const stored = await storedTimes(storage, second.times!);
    assert.deepEqual(sorted(stored), sorted(fileTimes(dir)));
    assert.equal(stored.get("other/e.log"), (YEAR_2020 + 9000) * 1e6);

    // The whole tree answered by one row (folders summed up ahead, with the addon).
    const sums: TreeSumLookup | undefined = digestTrees([dir], 1);
    if (sums === undefined) return;
    await snapshotDir(dir, { sink: writer, cache, treeSums: sums });
    const reported: string[] = [];
    const whole = await snapshotDir(dir, { sink: writer, cache, treeSums: sums, times: true, onProgress: (p) => reported.push(p.path) });
    assert.deepEqual(reported, [dir], "the tree was walked, not answered by its sum's row");
    await writer.flush();
    assert.deepEqual(sorted(await storedTimes(storage, whole.times!)), sorted(fileTimes(dir)));
  });
});

test("folders snapshot on worker threads each store their times object", async () => {
  await withTempDir("gage-times-", async (tmp) => {
    const dirs = [join(tmp.path, "one"), join(tmp.path, "two")];
    for (const d of dirs) makeTree(d);
    utimesSync(join(dirs[1]!, "a.txt"), YEAR_2020 - 5000, YEAR_2020 - 5000);
    const storage = new MemoryObjectStorage();
    const writer = new PackWriter(storage);
    const results = await snapshotDirsOnWorkers(dirs, { sink: writer, workers: 2, times: true });
    await writer.flush();
    for (const [k, d] of dirs.entries()) {
      assert.deepEqual(sorted(await storedTimes(storage, results[k]!.times!)), sorted(fileTimes(d)));
    }
    assert.notEqual(results[0]!.times, results[1]!.times);
  });
});
