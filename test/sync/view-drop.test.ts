import assert from "node:assert/strict";
import { test } from "node:test";
import { countingGets } from "../helpers/counting-storage.js";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import { emptyView, loadAllRuns, refreshView, writeCatalog, type HeadEntry, type RemoteView } from "../../src/sync/heads.js";
import { decodeView, encodeView, encodeViewFile } from "../../src/sync/view-file.js";
import { CachedViewDamaged } from "../../src/sync/view-blocks.js";
import { entry, putHead, runId, t } from "../helpers/head-entries.js";

// The cached view drops a run once the newest catalog holds every head it read for the run, and
// only then: a run a head the catalog does not hold changed must stay, or it would read as the
// segment says, without that head (which the view will not read again). Each case checks the
// cached view against a fresh reader's after every run is loaded.

process.env.GAGE_CATALOG_SEGMENT_RUNS = "4";
const MIN = 60_000;
const HOUR = 60 * MIN;
const NOW = 100 * HOUR;

/** The view as the next command finds it: written to its file and read back (its blocks opened by the next refresh). */
function cached(view: RemoteView, here: (id: string) => boolean = () => false): RemoteView {
  return decodeView(encodeView(view, here).bytes, { lazy: true })!.view;
}

/** The runs a view's file keeps as entries (not only listed by a segment). */
function kept(view: RemoteView, here: (id: string) => boolean = () => false): string[] {
  return [...decodeView(encodeView(view, here).bytes)!.view.runs.keysHeld()].sort();
}

/** A view's file read as a command reads it, noting each part read (start, length). */
function readBack(bytes: Buffer): { view: RemoteView; reads: [number, number][] } {
  const reads: [number, number][] = [];
  const file = { size: bytes.length, read: (start: number, length: number) => (reads.push([start, length]), bytes.subarray(start, start + length)), close: () => undefined };
  return { view: decodeView(file, { lazy: true })!.view, reads };
}

/** Every run's trees, after loading every segment. */
async function trees(storage: MemoryStorage, view: RemoteView): Promise<Map<string, string[]>> {
  await loadAllRuns(view, storage);
  const out = new Map<string, string[]>();
  for (const id of [...view.runs.keys()].sort()) out.set(id, view.runs.get(id)!.map((e) => e.run.tree));
  return out;
}

async function fresh(storage: MemoryStorage, now: number): Promise<Map<string, string[]>> {
  const view = emptyView();
  await refreshView(storage, view, now);
  return trees(storage, view);
}

/** A writer that read heads 1 and 3 (not 2, put after by a slow writer) writes the catalog. */
async function catalogWithoutSlowHead(storage: MemoryStorage, beforeSlowHead: () => Promise<void>): Promise<string> {
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await beforeSlowHead();
  return (await writeCatalog(storage, writer, NOW))!;
}

test("a run changed by a head the catalog does not hold stays in the cached view; the others go", async () => {
  const storage = new MemoryStorage();
  await putHead(storage, Array.from({ length: 8 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  await putHead(storage, [entry(9, t("b"))], NOW - MIN);
  let member = emptyView();
  await catalogWithoutSlowHead(storage, async () => {
    // Head 2 is older than the catalog's newest head, within the margin, and not in the catalog.
    await putHead(storage, [entry(1, t("c"), [t("b")])], NOW - 2 * MIN);
    await refreshView(storage, member, NOW);
    member = cached(member);
  });
  assert.equal(kept(member).length, 9, "no catalog read yet: every run is kept");
  // The member had read every head the catalog holds (and one more): it only adopts the catalog.
  await refreshView(storage, member, NOW + 1_000);
  assert.ok(member.catalogKey !== undefined);
  assert.deepEqual(kept(member), [runId(1)], "run 1 is kept (its newest head is not in the catalog); runs the catalog holds as they are go");
  const again = cached(member);
  await refreshView(storage, again, NOW + 2_000);
  const expected = await fresh(storage, NOW + 2_000);
  assert.deepEqual(expected.get(runId(1)), [t("c")], "a fresh reader reads head 2 (the catalog does not hold it)");
  assert.deepEqual(await trees(storage, again), expected);
});

test("a view behind a new catalog forgets the runs it holds whole and merges the others with their segment", async () => {
  const storage = new MemoryStorage();
  await putHead(storage, Array.from({ length: 8 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  // A slow writer's head (run 1 changed) that the member reads and the catalog's writer does not.
  const slow = await putHead(storage, [entry(1, t("c"), [t("b")])], NOW - 2 * MIN);
  const slowBytes = await storage.getBytes(slow);
  let member = emptyView();
  await refreshView(storage, member, NOW - 2 * MIN);
  member = cached(member);
  await storage.delete(slow);
  // The writer reads a head the member does not (run 9, and run 2 changed): the member is behind.
  await putHead(storage, [entry(9, t("b")), entry(2, t("d"), [t("b")])], NOW - MIN);
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await writeCatalog(storage, writer, NOW);
  await storage.put(slow, slowBytes);
  await refreshView(storage, member, NOW + 1_000);
  assert.deepEqual(member.runs.staleIds(), [runId(1)], "only run 1 waits for its segment: a head the catalog does not hold changed it");
  assert.deepEqual(kept(member), [runId(1)]);
  const again = cached(member);
  await refreshView(storage, again, NOW + 2_000);
  const expected = await fresh(storage, NOW + 2_000);
  assert.deepEqual(expected.get(runId(1)), [t("c")]);
  assert.deepEqual(expected.get(runId(2)), [t("d")]);
  assert.deepEqual(await trees(storage, again), expected);
});

test("a catalog that holds a head the view missed (a slow writer's) is not taken as read: the view's runs come from its segments", async () => {
  const storage = new MemoryStorage();
  await putHead(storage, Array.from({ length: 8 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  await putHead(storage, [entry(9, t("b"))], NOW - MIN);
  const member = emptyView();
  await refreshView(storage, member, NOW);
  // A slow writer's head lands after the member listed: older than the member's newest head.
  await putHead(storage, [entry(1, t("c"), [t("b")])], NOW - 2 * MIN);
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await writeCatalog(storage, writer, NOW);
  const member2 = cached(member, () => true);
  await refreshView(storage, member2, NOW + 1_000);
  const expected = await fresh(storage, NOW + 1_000);
  assert.deepEqual(expected.get(runId(1)), [t("c")]);
  assert.deepEqual(await trees(storage, member2), expected, "the member sees head 2's change though the catalog names its newest head");
});

test("a member's cached view keeps its runs and those of heads no catalog holds, however many runs the others push", async () => {
  const storage = new MemoryStorage();
  const mine = new Set([runId(0), runId(1)]);
  await putHead(storage, [entry(0, t("b")), entry(1, t("b"))], NOW);
  let member = emptyView();
  let time = NOW;
  let next = 2;
  for (let round = 0; round < 6; round++) {
    // Another member pushes 3 heads of 5 new runs each, then writes a catalog; our member reads
    // the remote after each head (as its commands do), and pushes a change to one of its runs.
    for (let h = 0; h < 3; h++) {
      time += HOUR;
      await putHead(storage, Array.from({ length: 5 }, () => entry(next++, t("b"))), time);
      await refreshView(storage, member, time);
      member = cached(member, (id) => mine.has(id));
    }
    const writer = emptyView();
    await refreshView(storage, writer, time);
    await writeCatalog(storage, writer, time);
    time += HOUR;
    const other = await putHead(storage, Array.from({ length: 5 }, () => entry(next++, t("b"))), time);
    await refreshView(storage, member, time);
    member = cached(member, (id) => mine.has(id));
    const ahead = Array.from({ length: 5 }, (_, i) => runId(next - 5 + i));
    assert.deepEqual(kept(member, (id) => mine.has(id)), [...mine, ...ahead].sort(), `round ${round}: the member's runs and the runs of ${other}, not the remote's ${next}`);
  }
  const expected = await fresh(storage, time);
  assert.equal(expected.size, next);
  assert.deepEqual(await trees(storage, member), expected);
});

test("a member one head behind a new catalog reads that head, not the segments of the runs it holds", async () => {
  const storage = new MemoryStorage();
  const mine = new Set(Array.from({ length: 6 }, (_, i) => runId(i)));
  await putHead(storage, Array.from({ length: 20 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  await putHead(storage, [entry(30, t("b"))], NOW - 3 * MIN);
  let member = emptyView();
  await refreshView(storage, member, NOW - 3 * MIN);
  member = cached(member, (id) => mine.has(id));
  // Another member changes run 2 (one of ours) and adds run 31; its push writes a catalog.
  await putHead(storage, [entry(2, t("c"), [t("b")]), entry(31, t("b"))], NOW - 2 * MIN);
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await writeCatalog(storage, writer, NOW);
  const counted = countingGets(storage);
  await refreshView(counted, member, NOW + 1_000);
  assert.equal(counted.gets.get("heads"), 1, "the one head the member missed");
  assert.equal(counted.gets.get("segments"), undefined, "no segment: the member read every head the catalog holds");
  assert.deepEqual(member.runs.get(runId(2))!.map((e) => e.run.tree), [t("c")]);
  for (const id of mine) assert.ok(member.runs.holdsWhole(id));
  assert.deepEqual(kept(member, (id) => mine.has(id)), [...mine].sort(), "its runs only: the catalog holds every head read");
  assert.deepEqual(await trees(storage, member), await fresh(storage, NOW + 1_000));
});

test("a head the catalog names that is gone (gc) is not caught up on: the view's runs come from their segments", async () => {
  const storage = new MemoryStorage();
  await putHead(storage, Array.from({ length: 8 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  await putHead(storage, [entry(30, t("b"))], NOW - 3 * MIN);
  const member = emptyView();
  await refreshView(storage, member, NOW - 3 * MIN);
  const gone = await putHead(storage, [entry(2, t("c"), [t("b")])], NOW - 2 * MIN);
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await writeCatalog(storage, writer, NOW);
  await storage.delete(gone);
  const again = cached(member, () => true);
  await refreshView(storage, again, NOW + 1_000);
  assert.ok(again.runs.unloaded([runId(2)]).length > 0, "run 2 is read from its segment");
  assert.deepEqual(await trees(storage, again), await fresh(storage, NOW + 1_000));
  assert.deepEqual(again.runs.get(runId(2))!.map((e) => e.run.tree), [t("c")]);
});

test("the last ids of a view come out as its keys do, last first, without listing the others", async () => {
  const storage = new MemoryStorage();
  await putHead(storage, Array.from({ length: 11 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await writeCatalog(storage, writer, NOW);
  await putHead(storage, [entry(3, t("c"), [t("b")]), entry(20, t("b"))], NOW);
  const view = emptyView();
  await refreshView(storage, view, NOW + 1_000);
  assert.ok(view.runs.unloaded().length > 0 && view.runs.unloaded().length < view.runs.segments().length, "some segments loaded (run 3's), some not");
  view.runs.set(runId(21), [entry(21, t("b"))]);
  assert.deepEqual([...view.runs.keysFromLast()], [...view.runs.keys()].reverse());
  assert.equal(new Set(view.runs.keys()).size, view.runs.size);
});

test("a new catalog that holds every head the view read drops their runs without reading them; one it does not hold is read", async () => {
  const storage = new MemoryStorage();
  for (let h = 0; h < 4; h++) await putHead(storage, Array.from({ length: 5 }, (_, i) => entry(h * 5 + i, t("b"))), NOW - (4 - h) * HOUR);
  const member = emptyView();
  await refreshView(storage, member, NOW - HOUR);
  const bytes = encodeView(member).bytes;
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  // No new catalog yet: every block is read (each run is one the view must hold).
  await putHead(storage, [entry(40, t("b"))], NOW + 1_000);
  const behind = readBack(bytes);
  await refreshView(storage, behind.view, NOW + 2_000);
  assert.equal(behind.reads.length, 3 + 4, "the magic, the trailer, the header and the block of each of the 4 heads");
  assert.deepEqual(await trees(storage, behind.view), await fresh(storage, NOW + 2_000));
  await writeCatalog(storage, writer, NOW + 3_000);
  const held = readBack(bytes);
  await refreshView(storage, held.view, NOW + 4_000);
  assert.equal(held.reads.length, 3, "the magic, the trailer and the header only: no block of runs read");
  assert.deepEqual([...held.view.runs.keysHeld()], [runId(40)], "only the run of the head the catalog does not hold");
  assert.deepEqual(await trees(storage, held.view), await fresh(storage, NOW + 4_000));
});

test("a run a head the new catalog holds changed, and an older head it does not hold changed too, is kept", async () => {
  const storage = new MemoryStorage();
  const withMeta = (e: HeadEntry, meta: string): HeadEntry => ({ ...e, meta: { tree: meta, prior: [t("a")] } });
  await putHead(storage, Array.from({ length: 8 }, (_, i) => entry(i, t("b"))), NOW - 3 * HOUR);
  // Run 1's files change in the catalog's newest head; a slow writer's older head changes its meta.
  await putHead(storage, [entry(1, t("c"), [t("b")])], NOW - MIN);
  const writer = emptyView();
  await refreshView(storage, writer, NOW);
  await putHead(storage, [withMeta(entry(1, t("b")), t("e"))], NOW - 2 * MIN);
  const member = emptyView();
  await refreshView(storage, member, NOW);
  const bytes = encodeView(member).bytes;
  await writeCatalog(storage, writer, NOW);
  const again = decodeView(bytes, { lazy: true })!.view;
  await refreshView(storage, again, NOW + 1_000);
  const reader = emptyView();
  await refreshView(storage, reader, NOW + 1_000);
  const runOne = async (view: RemoteView) => (await loadAllRuns(view, storage), view.runs.get(runId(1))!.map((e) => [e.run.tree, e.meta.tree]));
  assert.deepEqual(await runOne(reader), [[t("c"), t("e")]], "a fresh reader merges the slow head's meta with the catalog's files");
  assert.deepEqual(await runOne(again), [[t("c"), t("e")]], "the cached view kept run 1 (the meta of a head the catalog does not hold)");
  const expected = await fresh(storage, NOW + 1_000);
  assert.deepEqual(await trees(storage, again), expected);
});

test("a damaged block of a cached view is found as it is opened: refreshView throws CachedViewDamaged, and a command reads the remote afresh", async () => {
  const storage = new MemoryStorage();
  await putHead(storage, [entry(1, t("b")), entry(2, t("b"))], NOW - HOUR);
  const member = emptyView();
  await refreshView(storage, member, NOW);
  const bytes = Buffer.from(encodeView(member).bytes);
  // Blocks come first, after the 8-byte magic.
  bytes[10] = bytes[10]! ^ 1;
  assert.ok(decodeView(bytes) === undefined, "read whole, a damaged block is a cache miss");
  await assert.rejects(refreshView(storage, decodeView(bytes, { lazy: true })!.view, NOW), CachedViewDamaged);
});

test("a view written back copies the blocks whose runs are unchanged and encodes the others again: every run reads back as held", async () => {
  const storage = new MemoryStorage();
  for (let h = 0; h < 3; h++) await putHead(storage, Array.from({ length: 4 }, (_, i) => entry(h * 4 + i, t("b"))), NOW - (3 - h) * HOUR);
  const first = emptyView();
  await refreshView(storage, first, NOW - HOUR);
  const view = cached(first);
  // A newer head changes run 1 (of the first head's block); run 5 (of the second's) is set anew.
  await putHead(storage, [entry(1, t("c"), [t("b")])], NOW);
  await refreshView(storage, view, NOW + 1_000);
  view.runs.set(runId(5), [entry(5, t("d"), [t("b")])]);
  const back = decodeView(encodeView(view).bytes)!.view;
  const all = (v: RemoteView) => new Map([...v.runs.keysHeld()].sort().map((id) => [id, v.runs.get(id)!.map((e) => e.run.tree)]));
  assert.equal(all(back).size, 12);
  assert.deepEqual(all(back), all(view));
  assert.deepEqual(all(back).get(runId(1)), [t("c")]);
  assert.deepEqual(all(back).get(runId(5)), [t("d")]);
  assert.deepEqual(all(back).get(runId(9)), [t("b")]);
});

test("an update in place reads back as the view written anew; once the blocks no longer used outweigh the used, the file is written anew", async () => {
  const storage = new MemoryStorage();
  for (let h = 0; h < 3; h++) await putHead(storage, Array.from({ length: 4 }, (_, i) => entry(h * 4 + i, t("b"))), NOW - (4 - h) * HOUR);
  const writer = emptyView();
  await refreshView(storage, writer, NOW - 2 * HOUR);
  await putHead(storage, Array.from({ length: 4 }, (_, i) => entry(12 + i, t("b"))), NOW - HOUR);
  const first = emptyView();
  await refreshView(storage, first, NOW - HOUR);
  const bytes = encodeView(first).bytes;
  const open = (b: Buffer) => decodeView({ size: b.length, version: "v1", read: (start: number, length: number) => b.subarray(start, start + length), close: () => undefined }, { lazy: true })!.view;
  const all = async (v: RemoteView) => trees(storage, v);
  // One new head: the four blocks stay, its block and the header are written over the old header.
  await putHead(storage, [entry(20, t("b")), entry(1, t("c"), [t("b")])], NOW);
  const view = open(bytes);
  await refreshView(storage, view, NOW + 1_000);
  const encoded = encodeViewFile(view, view.file!);
  assert.ok("update" in encoded, "written in place");
  const update = encoded.update;
  assert.ok(update.at < bytes.length);
  const inPlace = Buffer.concat([bytes.subarray(0, update.at), update.tail]);
  assert.ok(inPlace.length < 2 * bytes.length);
  assert.equal(decodeView(inPlace)!.stamp, update.stamp);
  assert.deepEqual(await all(decodeView(inPlace)!.view), await all(decodeView(encodeView(view).bytes)!.view));
  assert.deepEqual(await all(decodeView(inPlace)!.view), await fresh(storage, NOW + 1_000));
  // A catalog of the first three heads: their blocks (and the first header) outweigh the two used, so the file is written anew.
  await writeCatalog(storage, writer, NOW + 2_000);
  const later = open(inPlace);
  await refreshView(storage, later, NOW + 3_000);
  assert.equal(later.opened?.length, 2, "the blocks of the two heads the catalog does not hold");
  const anew = encodeViewFile(later, later.file!);
  assert.ok("whole" in anew, "written anew");
  assert.ok(anew.whole.bytes.equals(encodeView(later).bytes));
  assert.deepEqual(await all(decodeView(anew.whole.bytes)!.view), await fresh(storage, NOW + 3_000));
});

test("the runs kept for this directory are in blocks by their id's first character: a push of one of them writes its block alone, in place", async () => {
  const storage = new MemoryStorage();
  const id = (i: number) => `${(i % 16).toString(16)}${runId(i).slice(1)}`;
  await putHead(storage, Array.from({ length: 64 }, (_, i) => ({ ...entry(i, t("b")), runId: id(i) })), NOW - HOUR);
  const first = emptyView();
  await refreshView(storage, first, NOW - HOUR);
  const here = () => true;
  const bytes = encodeView(first, here).bytes;
  const view = decodeView({ size: bytes.length, version: "v1", read: (start: number, length: number) => bytes.subarray(start, start + length), close: () => undefined }, { lazy: true })!.view;
  await refreshView(storage, view, NOW);
  view.runs.set(id(5), [{ ...entry(5, t("c"), [t("b")]), runId: id(5) }]);
  const encoded = encodeViewFile(view, view.file!, here);
  assert.ok("update" in encoded, "written in place");
  // 16 blocks of 4 runs each: the tail is the changed block and the header.
  assert.ok(encoded.update.tail.length < (bytes.length * 3) / 16, `${encoded.update.tail.length} of ${bytes.length} bytes written`);
  const back = decodeView(Buffer.concat([bytes.subarray(0, encoded.update.at), encoded.update.tail]))!.view;
  const all = (v: RemoteView) => new Map([...v.runs.keysHeld()].sort().map((k) => [k, v.runs.get(k)!.map((e) => e.run.tree)]));
  assert.equal(all(back).size, 64);
  assert.deepEqual(all(back), all(view));
  assert.deepEqual(all(back).get(id(5)), [t("c")]);
});
