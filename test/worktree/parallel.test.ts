import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  DEFAULT_CHUNKING,
  MemoryObjectStorage,
  ObjectReader,
  PackWriter,
  UnsafePathError,
  loadPackIndex,
  type ObjectSink,
  materializeTree,
  snapshotDir,
} from "../../src/objects/index.js";
import { StatCache, scanRunsHere, scanRunsOnWorkers, snapshotDirsOnWorkers, snapshotRun } from "../../src/worktree/index.js";
import { withTempDir } from "../helpers/fixtures.js";
import { describeDir, SMALL_CHUNKS } from "../objects/helpers.js";

const LATER = () => Date.now() + 60_000;

/** Directories with shared and unique files, nested folders, a symlink and chunked files. */
function makeDirs(root: string, count: number): string[] {
  const shared = randomBytes(3000);
  return Array.from({ length: count }, (_, i) => {
    const dir = join(root, `d${i}`);
    mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
    writeFileSync(join(dir, "shared.bin"), shared);
    writeFileSync(join(dir, "own.txt"), `dir ${i}\n`.repeat(i + 1));
    writeFileSync(join(dir, "sub", "big.bin"), randomBytes(5000 + i));
    writeFileSync(join(dir, "sub", "deeper", "empty"), "");
    symlinkSync("../own.txt", join(dir, "sub", "link"));
    return dir;
  });
}

/** The file paths `cache` is asked about from now on (each a file a scan walked to). */
function lookupsOf(cache: StatCache): string[] {
  const lookedUp: string[] = [];
  const lookup = cache.lookup.bind(cache);
  cache.lookup = (path, stamp) => {
    lookedUp.push(path);
    return lookup(path, stamp);
  };
  return lookedUp;
}

test("directories snapshotted on workers get the ids snapshotDir gives, and read back byte for byte", async () => {
  await withTempDir("gage-parallel-", async (tmp) => {
    const dirs = makeDirs(join(tmp.path, "src"), 9);
    const serial = [];
    const serialWriter = new PackWriter(new MemoryObjectStorage());
    for (const d of dirs) serial.push(await snapshotDir(d, { sink: serialWriter, chunking: SMALL_CHUNKS }));

    const storage = new MemoryObjectStorage();
    const writer = new PackWriter(storage, { packSize: 4096 });
    let progress = 0;
    const parallel = await snapshotDirsOnWorkers(dirs, {
      sink: writer,
      chunking: SMALL_CHUNKS,
      workers: 3,
      onProgress: (d) => (progress += d.files),
    });
    await writer.flush();
    assert.deepEqual(
      parallel.map((r) => r.treeId),
      serial.map((r) => r.treeId),
    );
    assert.equal(progress, dirs.length * 5, "four files and a symlink per directory, each reported once");
    const reader = await ObjectReader.open(storage);
    for (const [k, d] of dirs.entries()) {
      const out = join(tmp.path, `out${k}`);
      await materializeTree(reader, parallel[k]!.treeId, out, { fsync: false });
      const got = describeDir(out);
      assert.deepEqual(got, { ...describeDir(d), mode: got.mode });
    }
  });
});

test("batches that go round each worker's buffers many times, and an object larger than a batch, arrive whole", async () => {
  await withTempDir("gage-parallel-", async (tmp) => {
    // Unchunked: each file is one object, the 5 MiB one larger than a batch (it travels alone).
    const chunking = { ...DEFAULT_CHUNKING, threshold: 64 * 1024 * 1024 };
    const dirs = [0, 1].map((i) => {
      const dir = join(tmp.path, `d${i}`);
      mkdirSync(dir);
      for (let f = 0; f < 40; f++) writeFileSync(join(dir, `r${f}.bin`), randomBytes(300_000 + f));
      writeFileSync(join(dir, "text.csv"), "epoch,loss\n".repeat(50_000 + i));
      writeFileSync(join(dir, "whole.bin"), randomBytes(5 * 1024 * 1024 + i));
      return dir;
    });
    const serial = [];
    for (const d of dirs) serial.push((await snapshotDir(d, { sink: new PackWriter(new MemoryObjectStorage()), chunking })).treeId);
    for (const compress of [false, true]) {
      const storage = new MemoryObjectStorage();
      const writer = new PackWriter(storage, { compress });
      // A sink that takes its time before it copies (as the contract allows): a batch's buffer
      // must not be filled again before the sink is done with it.
      const slow: ObjectSink = { has: (id) => writer.has(id), add: async (id, data) => (await new Promise((r) => setTimeout(r, 1)), writer.add(id, data)) };
      const trees = await snapshotDirsOnWorkers(dirs, { sink: slow, chunking, workers: 2 });
      await writer.flush();
      assert.deepEqual(trees.map((r) => r.treeId), serial);
      const reader = await ObjectReader.open(storage);
      for (const [k, d] of dirs.entries()) {
        const out = join(tmp.path, `out-${compress}-${k}`);
        await materializeTree(reader, trees[k]!.treeId, out, { fsync: false });
        const got = describeDir(out);
        assert.deepEqual(got, { ...describeDir(d), mode: got.mode });
      }
    }
  });
});

test("with the saved stat cache and the store's index, workers read nothing unchanged, and see a change", async () => {
  await withTempDir("gage-parallel-", async (tmp) => {
    const dirs = makeDirs(join(tmp.path, "src"), 6);
    const cacheFile = join(tmp.path, "cache");
    const storage = new MemoryObjectStorage();
    const first = new StatCache({ now: LATER });
    const writer = new PackWriter(storage);
    const cold = await snapshotDirsOnWorkers(dirs, { sink: writer, cache: first, workers: 2 });
    await writer.flush();
    await first.save(cacheFile);

    const index = await loadPackIndex(storage);
    const cache = await StatCache.load(cacheFile, { now: LATER });
    const again = new PackWriter(storage, { index });
    const warm = await snapshotDirsOnWorkers(dirs, { sink: again, cache, cacheFile, stored: index, workers: 2 });
    assert.deepEqual(
      warm.map((r) => r.treeId),
      cold.map((r) => r.treeId),
    );
    assert.equal(warm.reduce((n, r) => n + r.stats.hashedFiles, 0), 0);
    assert.equal((await again.flush()).length, 0, "no pack written");

    // A store that lacks the objects (another remote): the cache alone does not skip reading.
    const other = new MemoryObjectStorage();
    const elsewhere = new PackWriter(other);
    const copied = await snapshotDirsOnWorkers(dirs, { sink: elsewhere, cache, cacheFile, stored: await loadPackIndex(other), workers: 2 });
    await elsewhere.flush();
    assert.deepEqual(
      copied.map((r) => r.treeId),
      cold.map((r) => r.treeId),
    );
    const reader = await ObjectReader.open(other);
    await materializeTree(reader, copied[0]!.treeId, join(tmp.path, "copy"), { fsync: false });

    writeFileSync(join(dirs[2]!, "own.txt"), "changed\n");
    const changed = await snapshotDirsOnWorkers(dirs, { sink: new PackWriter(storage, { index }), cache, cacheFile, stored: index, workers: 2 });
    assert.notEqual(changed[2]!.treeId, cold[2]!.treeId);
    assert.equal(changed.reduce((n, r) => n + r.stats.hashedFiles, 0), 1);
  });
});

test("runs scanned on workers give snapshotRun's ids; an unsafe name on a worker is a typed error", async () => {
  await withTempDir("gage-parallel-", async (tmp) => {
    const runsDir = join(tmp.path, "runs");
    const ids = ["a1", "b2", "c3"].map((s) => `${s}000000-0000-4000-8000-000000000000`);
    for (const [i, id] of ids.entries()) {
      makeDirs(join(tmp.path, `gen${i}`), 1);
      mkdirSync(join(runsDir, `${id}.meta`), { recursive: true });
      writeFileSync(join(runsDir, `${id}.meta`, "opref"), "1 test train");
      mkdirSync(join(runsDir, `${id}.user`));
      writeFileSync(join(runsDir, `${id}.user`, "01.json"), `{"n":${i}}`);
      mkdirSync(join(runsDir, id));
      writeFileSync(join(runsDir, id, "out.txt"), `run ${i}`);
    }
    const idOnly = { has: () => true, add: async () => false };
    const scans = await scanRunsOnWorkers(
      ids.map((runId) => ({ runsDir, runId, metaDir: join(runsDir, `${runId}.meta`) })),
      { workers: 2 },
    );
    for (const [k, runId] of ids.entries()) {
      const { snapshot } = await snapshotRun(runsDir, runId, { sink: idOnly });
      assert.equal(scans[k]!.files, snapshot.files);
      assert.equal(scans[k]!.meta, snapshot.meta);
      assert.deepEqual(scans[k]!.user, snapshot.user);
    }

    const dirs = makeDirs(join(tmp.path, "bad"), 3);
    writeFileSync(join(dirs[1]!, "sub", "back\\slash"), "x");
    await assert.rejects(
      snapshotDirsOnWorkers(dirs, { sink: new PackWriter(new MemoryObjectStorage()), workers: 2 }),
      (err: unknown) => err instanceof UnsafePathError && err.path.endsWith("back\\slash"),
    );
  });
});

test("runs scanned here, their folders summed up ahead, give snapshotRun's ids and counts, and see an in-place edit", async () => {
  await withTempDir("gage-parallel-", async (tmp) => {
    const runsDir = join(tmp.path, "runs");
    mkdirSync(runsDir);
    const ids = ["a1", "b2", "c3", "d4"].map((s) => `${s}000000-0000-4000-8000-000000000000`);
    for (const [i, id] of ids.entries()) {
      mkdirSync(join(runsDir, `${id}.meta`));
      writeFileSync(join(runsDir, `${id}.meta`, "opref"), "1 test train");
      if (i !== 1) {
        mkdirSync(join(runsDir, `${id}.user`));
        writeFileSync(join(runsDir, `${id}.user`, "01.json"), `{"n":${i}}`);
      }
      // Run 2 has no ID/ folder at all; the others have nested folders and a symlink.
      if (i !== 2) renameSync(makeDirs(join(tmp.path, `gen${i}`), 1)[0]!, join(runsDir, id));
    }
    const jobs = ids.map((runId) => ({ runsDir, runId, metaDir: join(runsDir, `${runId}.meta`) }));
    const cache = new StatCache({ now: LATER });
    const scans = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    const idOnly = { has: () => true, add: async () => false };
    for (const [k, runId] of ids.entries()) {
      const { snapshot, stats } = await snapshotRun(runsDir, runId, { sink: idOnly });
      assert.equal(scans[k]!.files, snapshot.files);
      assert.equal(scans[k]!.meta, snapshot.meta);
      assert.deepEqual(scans[k]!.user, snapshot.user);
      assert.equal(scans[k]!.stats.files, stats.files);
    }
    // Again through the cache (whole trees and user log folders answered by their sums): no file
    // read or even looked up, the same ids and the same counts as the walk.
    const lookedUp = lookupsOf(cache);
    const again = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    assert.deepEqual(lookedUp, []);
    assert.deepEqual(again.map((s) => s.stats.hashedFiles), [0, 0, 0, 0]);
    assert.deepEqual(again.map((s) => [s.files, s.meta, s.user]), scans.map((s) => [s.files, s.meta, s.user]));
    for (const k of ["files", "dirs", "symlinks", "bytes"] as const) assert.deepEqual(again.map((s) => s.stats[k]), scans.map((s) => s.stats[k]), k);

    // A new user log entry (a label) is seen, and only it is read.
    writeFileSync(join(runsDir, `${ids[0]}.user`, "02.json"), '{"label":"x"}');
    const labelled = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    assert.deepEqual(labelled[0]!.user.map((u) => u.name), ["01.json", "02.json"]);
    assert.deepEqual(labelled.map((s) => s.stats.hashedFiles), [1, 0, 0, 0]);

    // A file rewritten in place, its size and mtime put back: the sum still sees it (ctime).
    const edited = join(runsDir, ids[0]!, "sub", "big.bin");
    const { atime, mtime, size } = statSync(edited);
    writeFileSync(edited, randomBytes(size));
    utimesSync(edited, atime, mtime);
    const third = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    assert.notEqual(third[0]!.files, scans[0]!.files);
    assert.equal(third[0]!.stats.hashedFiles, 1);
    assert.deepEqual(third.slice(1).map((s) => s.files), scans.slice(1).map((s) => s.files));

    writeFileSync(join(runsDir, ids[3]!, "sub", "deeper", "back\\slash"), "x");
    await assert.rejects(scanRunsHere(jobs, { cache }), (err: unknown) => err instanceof UnsafePathError && err.path.endsWith("back\\slash"));
  });
});

test("runs scanned here across several batches, their sums in flight ahead, match the walk and see a change in a late batch", async () => {
  await withTempDir("gage-parallel-", async (tmp) => {
    // More runs than two batches of sums (256 runs each) hold, so a third is summed while two are.
    const runsDir = join(tmp.path, "runs");
    const ids = Array.from({ length: 600 }, (_, i) => `${i.toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`);
    for (const [i, id] of ids.entries()) {
      mkdirSync(join(runsDir, id, "out"), { recursive: true });
      writeFileSync(join(runsDir, id, "out", "log.txt"), `run ${i}\n`);
      mkdirSync(join(runsDir, `${id}.meta`));
      writeFileSync(join(runsDir, `${id}.meta`, "opref"), "1 test train");
    }
    const jobs = ids.map((runId) => ({ runsDir, runId, metaDir: join(runsDir, `${runId}.meta`) }));
    const cache = new StatCache({ now: LATER });
    const first = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    const idOnly = { has: () => true, add: async () => false };
    for (const k of [0, 255, 256, 511, 512, 599]) {
      const { snapshot } = await snapshotRun(runsDir, ids[k]!, { sink: idOnly });
      assert.deepEqual([first[k]!.files, first[k]!.meta], [snapshot.files, snapshot.meta], `run ${k}`);
    }
    // Again, every run answered by its sums (a sum read for the wrong run would make it walk its files).
    const lookedUp = lookupsOf(cache);
    const again = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    assert.deepEqual(lookedUp, []);
    assert.deepEqual(again.map((s) => [s.files, s.meta]), first.map((s) => [s.files, s.meta]));

    writeFileSync(join(runsDir, ids[550]!, "out", "log.txt"), "changed\n");
    const third = await scanRunsHere(jobs, { cache, listingThreads: 2 });
    assert.deepEqual(
      third.flatMap((s, k) => (s.files === first[k]!.files ? [] : [k])),
      [550],
    );
  });
});
