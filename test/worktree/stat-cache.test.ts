import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { MemoryObjectStorage, PackWriter, hashFile, snapshotDir } from "../../src/objects/index.js";
import { StatCache, WrittenRows } from "../../src/worktree/index.js";
import { pathHash } from "../../src/worktree/stat-cache.js";
import { withTempDir } from "../helpers/fixtures.js";

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
  await withTempDir("gage-objects-", async (tmp) => {
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
  });
});

test("entries written just now are not cached (racy timestamps)", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  writeFileSync(join(tmp.path, "f"), "x");
  const cache = new StatCache();
  const sink = new PackWriter(new MemoryObjectStorage());
  await snapshotDir(tmp.path, { sink, cache });
  assert.equal(cache.size, 0);
  const again = await snapshotDir(tmp.path, { sink, cache });
  assert.equal(again.stats.hashedFiles, 1);
  });
});

test("a cache hit whose object the sink lacks reads the file again", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  writeFileSync(join(tmp.path, "f"), "content");
  const cache = new StatCache({ now: LATER });
  await snapshotDir(tmp.path, { sink: new PackWriter(new MemoryObjectStorage()), cache });
  const fresh = new MemoryObjectStorage();
  const writer = new PackWriter(fresh);
  const { stats } = await snapshotDir(tmp.path, { sink: writer, cache });
  await writer.flush();
  assert.equal(stats.newObjects, 2, "the file and its tree");
  assert.equal(stats.hashedFiles, 1);
  });
});

test("a corrupt cache file is ignored, and ids match sha256sum", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const file = join(tmp.path, "cache");
  writeFileSync(file, "not msgpack at all \x00\x01");
  assert.equal((await StatCache.load(file)).size, 0);
  assert.equal((await StatCache.load(join(tmp.path, "missing"))).size, 0);
  const data = join(tmp.path, "data");
  writeFileSync(data, Buffer.alloc(5 * 1024 * 1024 + 17, 0xab));
  assert.equal(await hashFile(data), execFileSync("sha256sum", [data]).toString().split(" ")[0]);
  });
});

test("the cache file round-trips rows in any order, and a stale stamp is never answered", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const file = join(tmp.path, "cache");
  const id = (n: number) => n.toString(16).padStart(64, "0");
  // Unicode names whose UTF-16 and UTF-8 orders differ (an astral character sorts before U+FF5E
  // in UTF-16, after it in UTF-8), in shuffled order.
  const paths = Array.from({ length: 500 }, (_, i) => `/runs/r${i % 7}/${["a", "é", "\u{1F600}", "\uFF5E", "z"][i % 5]}-${i}`);
  const shuffled = [...paths].sort(() => Math.random() - 0.5);
  const stamp = (i: number) => ({ size: i, mtimeMs: 1e12 + i + 0.25, ctimeMs: 1e12 + i + 0.5, ino: 1000 + i });
  const cache = new StatCache({ now: LATER });
  for (const p of shuffled) {
    const i = paths.indexOf(p);
    cache.record(p, stamp(i), i % 3 === 0 ? { id: id(i), chunks: id(i + 1) } : { id: id(i) });
  }
  await cache.save(file);
  const loaded = await StatCache.load(file, { now: LATER });
  assert.equal(loaded.size, paths.length);
  paths.forEach((p, i) => {
    assert.deepEqual(loaded.lookup(p, stamp(i)), i % 3 === 0 ? { id: id(i), chunks: id(i + 1) } : { id: id(i) });
    for (const field of ["size", "mtimeMs", "ctimeMs", "ino"] as const) {
      assert.equal(loaded.lookup(p, { ...stamp(i), [field]: stamp(i)[field] + 1 }), undefined, `${p}: ${field} changed`);
    }
  });
  assert.equal(loaded.lookup("/runs/r0/missing", stamp(0)), undefined);

  // Changes merge into the loaded rows: one updated, one forgotten, new ones on both ends.
  loaded.record(paths[10]!, stamp(9999), { id: id(9999) });
  loaded.forget(paths[20]!);
  loaded.record("/a-first", stamp(1), { id: id(1) });
  loaded.record("/zz-last", stamp(2), { id: id(2) });
  await loaded.save(file);
  const merged = await StatCache.load(file, { now: LATER });
  assert.equal(merged.size, paths.length + 1);
  assert.equal(merged.lookup(paths[10]!, stamp(10)), undefined);
  assert.deepEqual(merged.lookup(paths[10]!, stamp(9999)), { id: id(9999) });
  assert.equal(merged.lookup(paths[20]!, stamp(20)), undefined);
  assert.deepEqual(merged.lookup("/a-first", stamp(1)), { id: id(1) });
  assert.deepEqual(merged.lookup("/zz-last", stamp(2)), { id: id(2) });
  assert.deepEqual(merged.lookup(paths[499]!, stamp(499)), { id: id(499) });

  // A cache in the earlier format (rows in any order) is dropped, not searched.
  const old = Buffer.from(await readFile(file));
  old.write("GAGESTC2", 0, "latin1");
  writeFileSync(file, old);
  assert.equal((await StatCache.load(file, { now: LATER })).size, 0);
  });
});

test("directory rows round-trip through the cache file, and recording over one replaces it", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const file = join(tmp.path, "cache");
    const hex = (n: number) => n.toString(16).padStart(64, "0");
    const paths = Array.from({ length: 300 }, (_, i) => `/runs/r${i}/${["meta", "é", "\u{1F600}"][i % 3]}`);
    const cache = new StatCache({ now: LATER });
    paths.forEach((p, i) => cache.recordDir(p, hex(i), hex(1000 + i), 0));
    await cache.save(file);
    const loaded = await StatCache.load(file, { now: LATER });
    paths.forEach((p, i) => {
      assert.equal(loaded.lookupDir(p, hex(i)), hex(1000 + i));
      assert.equal(loaded.lookupDir(p, hex(i + 1)), undefined, `${p}: another signature`);
    });
    assert.equal(loaded.dirty, false);

    // One replaced, one dropped (its children changed just now: racy), one new.
    loaded.recordDir(paths[5]!, hex(5555), hex(6666), 0);
    loaded.recordDir(paths[6]!, hex(6), hex(1006), Date.now() + 120_000);
    loaded.recordDir("/runs/new", hex(7), hex(8), 0);
    assert.equal(loaded.dirty, true);
    await loaded.save(file);
    const merged = await StatCache.load(file, { now: LATER });
    assert.equal(merged.lookupDir(paths[5]!, hex(5)), undefined);
    assert.equal(merged.lookupDir(paths[5]!, hex(5555)), hex(6666));
    assert.equal(merged.lookupDir(paths[6]!, hex(6)), undefined);
    assert.equal(merged.lookupDir("/runs/new", hex(7)), hex(8));
    assert.equal(merged.lookupDir(paths[299]!, hex(299)), hex(1299));
  });
});

test("list rows round-trip beside file and directory rows; a racy one is dropped; a GAGESTC5 cache still reads", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const file = join(tmp.path, "cache");
    const hex = (n: number) => n.toString(16).padStart(64, "0");
    const payload = (i: number) => Buffer.from(`entries of ${i} `.repeat(i % 5));
    const paths = Array.from({ length: 200 }, (_, i) => `/runs/r${i}.user\0`);
    const cache = new StatCache({ now: LATER });
    paths.forEach((p, i) => cache.recordList(p, hex(i), payload(i), 0));
    cache.recordDir("/runs/r0", hex(1), hex(2), 0);
    cache.record("/runs/r0/a", { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1 }, { id: hex(3) });
    await cache.save(file);
    const loaded = await StatCache.load(file, { now: LATER });
    paths.forEach((p, i) => {
      assert.deepEqual(loaded.lookupList(p, hex(i)), payload(i), p);
      assert.equal(loaded.lookupList(p, hex(i + 1)), undefined, `${p}: another signature`);
    });
    assert.equal(loaded.lookupDir("/runs/r0", hex(1)), hex(2));
    assert.deepEqual(loaded.lookup("/runs/r0/a", { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1 }), { id: hex(3) });
    assert.equal(loaded.dirty, false);

    loaded.recordList(paths[3]!, hex(3), payload(3), 0);
    assert.equal(loaded.dirty, false, "recording the same row again changes nothing");
    loaded.recordList(paths[4]!, hex(44), payload(44), 0);
    loaded.recordList(paths[5]!, hex(5), payload(5), Date.now() + 120_000);
    assert.equal(loaded.lookupList(paths[5]!, hex(5)), undefined, "a folder changed just now is not answered");
    await loaded.save(file);
    const merged = await StatCache.load(file, { now: LATER });
    assert.deepEqual(merged.lookupList(paths[4]!, hex(44)), payload(44));
    assert.equal(merged.lookupList(paths[4]!, hex(4)), undefined);
    assert.equal(merged.lookupList(paths[5]!, hex(5)), undefined);
    assert.deepEqual(merged.lookupList(paths[199]!, hex(199)), payload(199));

    // The previous formats, with the same rows and no tables: GAGESTC6, and GAGESTC5 without the
    // list rows (and no delta: a delta extends only the file it was written beside).
    rmSync(`${file}.delta`, { force: true });
    const bytes = await readFile(file);
    writeFileSync(file, olderCache(bytes, 6));
    const v6 = await StatCache.load(file, { now: LATER });
    assert.equal(v6.lookupDir("/runs/r0", hex(1)), hex(2));
    assert.deepEqual(v6.lookup("/runs/r0/a", { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1 }), { id: hex(3) });
    assert.deepEqual(v6.lookupList(paths[199]!, hex(199)), payload(199));
    writeFileSync(file, olderCache(bytes, 5));
    const v5 = await StatCache.load(file, { now: LATER });
    assert.equal(v5.lookupDir("/runs/r0", hex(1)), hex(2));
    assert.deepEqual(v5.lookup("/runs/r0/a", { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1 }), { id: hex(3) });
    assert.equal(v5.lookupList(paths[4]!, hex(44)), undefined);
  });
});

/**
 * The rows of a GAGESTC7 cache as an older cache file: GAGESTC6 ([u32 length] file rows, [u32
 * length] directory rows, list rows) or GAGESTC5 (file rows and directory rows only).
 */
function olderCache(bytes: Buffer, version: 5 | 6): Buffer {
  assert.equal(bytes.toString("latin1", 0, 8), "GAGESTC7");
  const [files, dirs, lists] = [0, 1, 2].map((k) => bytes.readUInt32LE(8 + 4 * k));
  const [filesLength, dirsLength, listsLength] = [0, 1, 2].map((k) => bytes.readUInt32LE(20 + 4 * k));
  const dirsStart = 32 + 8 * (files! + dirs! + lists!);
  const listsStart = dirsStart + dirsLength!;
  const filesStart = listsStart + listsLength!;
  const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
  const fileRows = bytes.subarray(filesStart, filesStart + filesLength!);
  const dirRows = bytes.subarray(dirsStart, listsStart);
  return version === 6
    ? Buffer.concat([Buffer.from("GAGESTC6"), u32(filesLength!), fileRows, u32(dirsLength!), dirRows, bytes.subarray(listsStart, filesStart)])
    : Buffer.concat([Buffer.from("GAGESTC5"), u32(filesLength!), fileRows, dirRows]);
}

test("file rows are read from the file the cache was loaded from as they are looked up; one saved over it answers nothing through it", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const file = join(tmp.path, "cache");
    const hex = (n: number) => n.toString(16).padStart(64, "0");
    const stamp = (i: number) => ({ size: i, mtimeMs: 1e12 + i, ctimeMs: 1e12 + i, ino: i });
    const path = (i: number) => `/runs/r${i}/file-${i}`;
    const cache = new StatCache({ now: LATER });
    for (let i = 0; i < 1000; i++) cache.record(path(i), stamp(i), { id: hex(i), ...(i % 7 === 0 ? { chunks: hex(i + 1) } : {}) });
    await cache.save(file);

    // More lookups than are read one by one, then the whole section: every answer as recorded.
    const loaded = await StatCache.load(file, { now: LATER });
    for (let i = 0; i < 1000; i += 3) {
      assert.deepEqual(loaded.lookup(path(i), stamp(i)), { id: hex(i), ...(i % 7 === 0 ? { chunks: hex(i + 1) } : {}) }, path(i));
      assert.equal(loaded.lookup(path(i), stamp(i + 1)), undefined);
      assert.equal(loaded.lookup(`${path(i)}x`, stamp(i)), undefined);
    }

    // Another process saves the same paths and stamps under other ids over the file: a cache
    // loaded before does not read the new file's rows through its own tables.
    const early = await StatCache.load(file, { now: LATER });
    assert.deepEqual(early.lookup(path(1), stamp(1)), { id: hex(1) });
    // (Rows of the same lengths: the new file's rows sit where the old one's did.)
    const other = new StatCache({ now: LATER });
    for (let i = 0; i < 1000; i++) other.record(path(i), stamp(i), { id: hex(50_000 + i), ...(i % 7 === 0 ? { chunks: hex(i + 1) } : {}) });
    await other.save(file);
    const answer = early.lookup(path(2), stamp(2));
    assert.ok(answer === undefined || answer.id === hex(2), `answered ${answer?.id}`);
    assert.deepEqual((await StatCache.load(file, { now: LATER })).lookup(path(2), stamp(2)), { id: hex(50_002) });
  });
});

/** Ids, stamps and long paths for caches of many file rows. */
const hexId = (n: number) => n.toString(16).padStart(64, "0");
const stampOf = (i: number) => ({ size: i, mtimeMs: 1e12 + i, ctimeMs: 1e12 + i, ino: i });
const longPath = (i: number) => `/runs/r${i}/file-${"x".repeat(40)}`;

/** A cache of `rows` file rows (`longPath(i)` at `stampOf(i)` is `hexId(i)`), not yet saved. */
function cacheOfRows(rows: number): StatCache {
  const cache = new StatCache({ now: LATER });
  for (let i = 0; i < rows; i++) cache.record(longPath(i), stampOf(i), { id: hexId(i) });
  return cache;
}

test("looking up files the cache never saw (a new run's) reads nothing of its file rows; seen ones are read one by one", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const file = join(tmp.path, "cache");
    await cacheOfRows(5000).save(file);
    const section = statSync(file).size / 2;
    // Bytes this thread has read (Linux): the lookups are synchronous, so nothing else counts.
    const readHere = () => Number(/^rchar: (\d+)$/m.exec(readFileSync("/proc/thread-self/io", "utf8"))![1]);

    const loaded = await StatCache.load(file, { now: LATER });
    const before = readHere();
    for (let i = 0; i < 1000; i++) assert.equal(loaded.lookup(`/runs/new/file-${i}`, stampOf(i)), undefined);
    const afterMisses = readHere();
    for (let i = 0; i < 10; i++) assert.deepEqual(loaded.lookup(longPath(i * 400), stampOf(i * 400)), { id: hexId(i * 400) });
    const afterHits = readHere();
    assert.ok(afterMisses - before < 4096, `misses read ${afterMisses - before} bytes`);
    assert.ok(afterHits - afterMisses < section / 10, `10 hits read ${afterHits - afterMisses} bytes of a ${section}-byte file`);
  });
});

test("a save of a few changed rows writes them to a delta beside the file; a large one writes the file and drops the delta", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const file = join(tmp.path, "cache");
    const [hex, stamp, path] = [hexId, stampOf, longPath];
    const cache = cacheOfRows(3000);
    cache.recordDir("/runs/r1", hex(1), hex(2), 0);
    cache.recordList("/runs/r1.user\0", hex(3), Buffer.from("one"), 0);
    await cache.save(file);
    const base = await readFile(file);
    assert.equal(existsSync(`${file}.delta`), false);

    // A few changes, in two saves: the file stays as it was, the delta holds both.
    const first = await StatCache.load(file, { now: LATER });
    first.record(path(1), stamp(10_001), { id: hex(10_001) });
    first.forget(path(2));
    first.recordDir("/runs/r1", hex(11), hex(12), 0);
    await first.save(file);
    const second = await StatCache.load(file, { now: LATER });
    second.recordList("/runs/r1.user\0", hex(13), Buffer.from("two"), 0);
    second.recordDir("/runs/r2", hex(21), hex(22), Date.now() + 120_000);
    second.record("/runs/new", stamp(5), { id: hex(5) });
    await second.save(file);
    assert.deepEqual(await readFile(file), base, "the file itself is not written again");
    assert.ok(existsSync(`${file}.delta`));
    const check = async (size: number) => {
      const c = await StatCache.load(file, { now: LATER });
      assert.deepEqual(c.lookup(path(1), stamp(10_001)), { id: hex(10_001) });
      assert.equal(c.lookup(path(1), stamp(1)), undefined);
      assert.equal(c.lookup(path(2), stamp(2)), undefined, "forgotten");
      assert.deepEqual(c.lookup(path(2999), stamp(2999)), { id: hex(2999) });
      assert.deepEqual(c.lookup("/runs/new", stamp(5)), { id: hex(5) });
      assert.equal(c.lookupDir("/runs/r1", hex(11)), hex(12));
      assert.equal(c.lookupDir("/runs/r2", hex(21)), undefined, "racy");
      assert.deepEqual(c.lookupList("/runs/r1.user\0", hex(13)), Buffer.from("two"));
      assert.equal(c.lookupList("/runs/r1.user\0", hex(3)), undefined);
      assert.equal(c.size, size);
      return c;
    };
    const third = await check(3000);

    // Past the delta's limit: everything goes into the file, the delta goes away, nothing is lost.
    for (let i = 3000; i < 6000; i++) third.record(path(i), stamp(i), { id: hex(i) });
    await third.save(file);
    assert.equal(existsSync(`${file}.delta`), false);
    const grown = await check(6000);
    assert.deepEqual(grown.lookup(path(5999), stamp(5999)), { id: hex(5999) });

    // A delta over no file is dropped with it.
    grown.record("/runs/later", stamp(7), { id: hex(7) });
    await grown.save(file);
    assert.ok(existsSync(`${file}.delta`));
    rmSync(file);
    assert.equal((await StatCache.load(file, { now: LATER })).size, 0);
  });
});

test("rows of paths refused are left out of the next save, which writes the whole file; the others still answer", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const runs = ["keep", "gone"].map((name) => join(tmp.path, "runs", name));
    for (const dir of runs) {
      execFileSync("mkdir", ["-p", join(dir, "sub")]);
      writeFileSync(join(dir, "a.txt"), `${dir} a`);
      writeFileSync(join(dir, "sub", "b.txt"), `${dir} b`);
    }
    const sink = new PackWriter(new MemoryObjectStorage());
    const cacheFile = join(tmp.path, "cache", "stat-cache");
    const cache = new StatCache({ now: LATER });
    for (const dir of runs) await snapshotDir(dir, { sink, cache });
    await cache.save(cacheFile);
    const keep = (path: string) => !path.startsWith(runs[1]!);

    const loaded = await StatCache.load(cacheFile, { now: LATER });
    assert.equal(loaded.forgetUnless(() => true), false, "nothing refused: nothing to do");
    assert.equal(loaded.dirty, false);
    assert.equal(loaded.forgetUnless(keep), true);
    await loaded.save(cacheFile);
    assert.ok(!existsSync(cacheFile + ".delta"), "written whole");
    assert.ok(!(await readFile(cacheFile)).includes(runs[1]!), "no row of the refused paths");

    const after = await StatCache.load(cacheFile, { now: LATER });
    assert.equal((await snapshotDir(runs[0]!, { sink, cache: after })).stats.hashedFiles, 0, "the kept rows answer");
    assert.equal((await snapshotDir(runs[1]!, { sink, cache: after })).stats.hashedFiles, 2, "the refused ones are hashed again");
    assert.equal(after.forgetUnless(keep), false, "once saved, nothing left to refuse");
  });
});

test("not thorough, rows refused are left out when the whole file is next written, unless the first row is refused: then at once", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const sig = "ab".repeat(32);
    const tree = "cd".repeat(32);
    // Rows are kept in the order of their paths' hashes: the one refused is not the first.
    const here = ["a", "b", "c", "d"].map((n) => `/runs/here-${n}`);
    const goneRow = Array.from({ length: 100 }, (_, n) => `/runs/gone-${n}/sub`).find((p) => here.some((h) => pathHash(h) < pathHash(p)))!;
    const keep = (path: string) => !path.startsWith("/runs/gone-");
    const cache = new StatCache({ now: LATER });
    for (const path of [...here, goneRow]) cache.recordDir(path, sig, tree, 0);
    const file = join(tmp.path, "stat-cache");
    await cache.save(file);

    const loaded = await StatCache.load(file, { now: LATER });
    assert.equal(loaded.forgetUnless(keep, { thorough: false }), false, "the first row is kept: nothing found");
    assert.equal(loaded.dirty, false);
    loaded.recordDir("/runs/here-e", sig, tree, 0);
    await loaded.save(file);
    assert.ok(existsSync(`${file}.delta`), "a small save: the delta");
    const after = await StatCache.load(file, { now: LATER });
    assert.equal(after.lookupDir(goneRow, sig), tree, "left in the file the delta extends");

    after.forgetUnless(keep, { thorough: false });
    const whole = join(tmp.path, "elsewhere", "stat-cache");
    await after.save(whole);
    const rewritten = await StatCache.load(whole, { now: LATER });
    assert.equal(rewritten.lookupDir(goneRow, sig), undefined, "left out of the whole file");
    for (const path of [...here, "/runs/here-e"]) assert.equal(rewritten.lookupDir(path, sig), tree, path);

    const thorough = await StatCache.load(file, { now: LATER });
    assert.equal(thorough.forgetUnless(keep), true, "thorough: every row is checked");
    const moved = await StatCache.load(file, { now: LATER });
    assert.equal(moved.forgetUnless((path) => path.startsWith("/moved/"), { thorough: false }), true, "a folder moved: the first row is refused");
  });
});

test("rows noted in bulk as a pull writes (WrittenRows) are found by their joined paths (multi-byte names too); recent ones are not kept", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    const cache = new StatCache({ now: () => now });
    const id = "ab".repeat(32);
    const chunks = "cd".repeat(32);
    // An older row for a path the bulk rows write again: the newer one answers.
    cache.record("/runs/r1/a.txt", { size: 1, mtimeMs: 5, ctimeMs: 5, ino: 1 }, { id: "ef".repeat(32) });
    const rows = new WrittenRows();
    const odd = `ü-€-${"x".repeat(40)}`;
    rows.add("/runs/r1", "a.txt", 3, 1000, now, 7, id);
    rows.add("/runs/r1", `sub/${odd}`, 4, 2000, now, 8, id, chunks);
    rows.add("/runs/r1.meta", "id", 5, now - 10, now, 9, id);
    assert.equal(rows.count, 3);
    assert.equal(rows.newestMtimeMs, now - 10);
    cache.recordWrittenRows(rows.rows());
    assert.deepEqual(cache.lookup("/runs/r1/a.txt", { size: 3, mtimeMs: 1000, ctimeMs: now, ino: 7 }), { id });
    assert.deepEqual(cache.lookup(`/runs/r1/sub/${odd}`, { size: 4, mtimeMs: 2000, ctimeMs: now, ino: 8 }), { id, chunks });
    // Written within the racy window: not kept.
    assert.equal(cache.lookup("/runs/r1.meta/id", { size: 5, mtimeMs: now - 10, ctimeMs: now, ino: 9 }), undefined);
    const file = join(tmp.path, "stat-cache");
    await cache.save(file);
    const loaded = await StatCache.load(file, { now: () => now });
    assert.equal(loaded.size, 2);
    assert.deepEqual(loaded.lookup(`/runs/r1/sub/${odd}`, { size: 4, mtimeMs: 2000, ctimeMs: now, ino: 8 }), { id, chunks });
    assert.equal(loaded.lookup("/runs/r1/a.txt", { size: 1, mtimeMs: 5, ctimeMs: 5, ino: 1 }), undefined);
  });
});

test("rows whose paths share a hash answer only their own path, ASCII or not", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    // Pairs of paths of one 32-bit hash, found by trying names: one ASCII pair, and ASCII with
    // each of a two-byte and a four-byte character (the lookup compares ASCII in place).
    const kinds = ["r", "é", "\u{1F600}"];
    const seen = new Map<number, string>();
    const pairs = new Map<string, [string, string]>();
    for (let n = 0; pairs.size < 3 && n < 3_000_000; n++) {
      const path = `/runs/${kinds[n % 3]}${n}`;
      const other = seen.get(pathHash(path));
      const kind = [other?.[6], path[6]].sort().join();
      if (other !== undefined && kind.includes("r") && !pairs.has(kind)) pairs.set(kind, [other, path]);
      seen.set(pathHash(path), path);
    }
    assert.equal(pairs.size, 3);
    const hex = (n: number) => n.toString(16).padStart(64, "0");
    // Each of a pair recorded alone, and the other looked up in its place.
    for (const [k, [a, b]] of [...pairs.values()].flatMap((p) => [p, [p[1], p[0]] as const]).entries()) {
      const file = join(tmp.path, `cache${k}`);
      const cache = new StatCache({ now: LATER });
      cache.recordDir(a, hex(k), hex(100 + k), 0);
      await cache.save(file);
      const loaded = await StatCache.load(file, { now: LATER });
      assert.equal(pathHash(a), pathHash(b));
      assert.equal(loaded.lookupDir(a, hex(k)), hex(100 + k), a);
      assert.equal(loaded.lookupDir(b, hex(k)), undefined, `${b} shares ${a}'s hash, not its row`);
    }
  });
});

test("a whole save keeps the newest row of each path from the file, its delta, bulk rows and recorded ones; paths sharing a hash stay apart", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    // Two paths of one hash, `dir/rel` as a pull notes them.
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let n = 0; pair === undefined; n++) {
      const rel = `c${n}`;
      const other = seen.get(pathHash(`/runs/${rel}`));
      if (other !== undefined) pair = [other, rel];
      seen.set(pathHash(`/runs/${rel}`), rel);
    }
    const [a, b] = pair;
    const now = Date.parse("2026-01-01T00:00:00Z");
    const stamp = (n: number) => ({ size: n, mtimeMs: now - 60_000 + n, ctimeMs: now - 60_000 + n, ino: n });
    const id = (n: number) => n.toString(16).padStart(64, "0");
    const file = join(tmp.path, "cache");
    const first = new StatCache({ now: () => now });
    for (const [n, path] of [[1, "/runs/p"], [2, `/runs/${a}`], [3, "/runs/x"], [4, "/runs/y"], [5, "/runs/z"]] as const) first.record(path, stamp(n), { id: id(n) });
    await first.save(file);
    // A small change is saved as a delta beside the file.
    const second = await StatCache.load(file, { now: () => now });
    second.record("/runs/y", stamp(40), { id: id(40) });
    await second.save(file);
    assert.ok(existsSync(`${file}.delta`));

    const third = await StatCache.load(file, { now: () => now });
    const rows = new WrittenRows();
    rows.add("/runs", "p", 10, stamp(10).mtimeMs, stamp(10).ctimeMs, 10, id(10));
    rows.add("/runs", b, 20, stamp(20).mtimeMs, stamp(20).ctimeMs, 20, id(20));
    rows.add("/runs", "y", 41, stamp(41).mtimeMs, stamp(41).ctimeMs, 41, id(41));
    rows.add("/runs", "p", 11, stamp(11).mtimeMs, stamp(11).ctimeMs, 11, id(11));
    third.recordWrittenRows(rows.rows());
    third.forget("/runs/x");
    third.record("/runs/new", stamp(50), { id: id(50) });
    // Saved to another file: written whole, every row merged.
    const whole = join(tmp.path, "whole");
    await third.save(whole);
    assert.equal(existsSync(`${whole}.delta`), false);
    const saved = await StatCache.load(whole, { now: () => now });
    const answers = (path: string, n: number) => saved.lookup(path, stamp(n))?.id === id(n);
    assert.ok(answers("/runs/p", 11), "the last bulk row of a path");
    assert.ok(!answers("/runs/p", 10) && !answers("/runs/p", 1), "older rows of it are gone");
    assert.ok(answers(`/runs/${a}`, 2), "a path of the file kept beside a new one of its hash");
    assert.ok(answers(`/runs/${b}`, 20));
    assert.ok(answers("/runs/y", 41) && !answers("/runs/y", 40), "a bulk row over the delta's");
    assert.ok(!answers("/runs/x", 3), "forgotten");
    assert.ok(answers("/runs/z", 5) && answers("/runs/new", 50));
    assert.equal(saved.size, 6);
    assert.equal(third.size, 6);
  });
});
