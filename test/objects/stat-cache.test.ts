import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { MemoryObjectStorage, PackWriter, StatCache, hashFile, snapshotDir } from "../../src/objects/index.js";
import { tempDir } from "../helpers/fixtures.js";

const LATER = () => Date.now() + 60_000;

/** Rewrites a file with same-size content and restores its mtime to the nanosecond (touch -r). */
function rewriteKeepingMtime(path: string, content: string, ref: string): void {
  const before = statSync(path, { bigint: true });
  execFileSync("touch", ["-r", path, ref]);
  writeFileSync(path, content);
  execFileSync("touch", ["-r", ref, path]);
  const after = statSync(path, { bigint: true });
  assert.equal(after.mtimeNs, before.mtimeNs);
  assert.equal(after.size, before.size);
}

test("an unchanged file is answered by the cache; a changed one is re-hashed", async () => {
  const tmp = tempDir("gage-objects-");
  try {
    const dir = join(tmp.path, "run");
    execFileSync("mkdir", ["-p", join(dir, "sub")]);
    writeFileSync(join(dir, "a.txt"), "alpha");
    writeFileSync(join(dir, "sub", "b.txt"), "bravo");
    const cache = new StatCache({ now: LATER });
    const sink = new PackWriter(new MemoryObjectStorage());
    const first = await snapshotDir(dir, { sink, cache });
    assert.equal(first.stats.hashedFiles, 2);

    const cacheFile = join(tmp.path, "cache", "stat-cache");
    await cache.save(cacheFile);
    const loaded = await StatCache.load(cacheFile, { now: LATER });
    assert.equal(loaded.size, 2);
    const second = await snapshotDir(dir, { sink, cache: loaded });
    assert.equal(second.stats.hashedFiles, 0);
    assert.equal(second.treeId, first.treeId);

    // Same size, mtime put back exactly: the inode change time still moved, so it is re-hashed.
    const path = join(dir, "a.txt");
    rewriteKeepingMtime(path, "ALPHA", join(tmp.path, "ref"));
    const third = await snapshotDir(dir, { sink, cache: loaded });
    assert.equal(third.stats.hashedFiles, 1);
    assert.notEqual(third.treeId, first.treeId);

    // A change deep down is seen though its directory's own entries did not change.
    rewriteKeepingMtime(join(dir, "sub", "b.txt"), "BRAVO", join(tmp.path, "ref"));
    const deeper = await snapshotDir(dir, { sink, cache: loaded });
    assert.equal(deeper.stats.hashedFiles, 1);
    assert.notEqual(deeper.treeId, third.treeId);
    await loaded.save(cacheFile);
    const reloaded = await StatCache.load(cacheFile, { now: LATER });
    assert.equal((await snapshotDir(dir, { sink, cache: reloaded })).treeId, deeper.treeId);

    // A mode change alone changes the tree.
    chmodSync(path, 0o755);
    const fourth = await snapshotDir(dir, { sink, cache: reloaded });
    assert.notEqual(fourth.treeId, deeper.treeId);
  } finally {
    tmp.cleanup();
  }
});

test("entries written just now are not cached (racy timestamps)", async () => {
  const tmp = tempDir("gage-objects-");
  try {
    writeFileSync(join(tmp.path, "f"), "x");
    const cache = new StatCache();
    const sink = new PackWriter(new MemoryObjectStorage());
    await snapshotDir(tmp.path, { sink, cache });
    assert.equal(cache.size, 0);
    const again = await snapshotDir(tmp.path, { sink, cache });
    assert.equal(again.stats.hashedFiles, 1);
  } finally {
    tmp.cleanup();
  }
});

test("a cache hit whose object the sink lacks reads the file again", async () => {
  const tmp = tempDir("gage-objects-");
  try {
    writeFileSync(join(tmp.path, "f"), "content");
    const cache = new StatCache({ now: LATER });
    await snapshotDir(tmp.path, { sink: new PackWriter(new MemoryObjectStorage()), cache });
    const fresh = new MemoryObjectStorage();
    const writer = new PackWriter(fresh);
    const { stats } = await snapshotDir(tmp.path, { sink: writer, cache });
    await writer.flush();
    assert.equal(stats.newObjects, 2, "the file and its tree");
    assert.equal(stats.hashedFiles, 1);
  } finally {
    tmp.cleanup();
  }
});

test("a corrupt cache file is ignored, and ids match sha256sum", async () => {
  const tmp = tempDir("gage-objects-");
  try {
    const file = join(tmp.path, "cache");
    writeFileSync(file, "not msgpack at all \x00\x01");
    assert.equal((await StatCache.load(file)).size, 0);
    assert.equal((await StatCache.load(join(tmp.path, "missing"))).size, 0);
    const data = join(tmp.path, "data");
    writeFileSync(data, Buffer.alloc(5 * 1024 * 1024 + 17, 0xab));
    assert.equal(await hashFile(data), execFileSync("sha256sum", [data]).toString().split(" ")[0]);
  } finally {
    tmp.cleanup();
  }
});
