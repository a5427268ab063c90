import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { Packr } from "msgpackr/pack";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import { StoreFormatError } from "../../src/sync/errors.js";
import {
  decodeCatalog,
  emptyView,
  loadAllRuns,
  loadRuns,
  plainEntry,
  readCatalog,
  refreshView,
  writeCatalog,
  type HeadEntry,
} from "../../src/sync/heads.js";
import { remoteRunsOf } from "../../src/sync/remote-runs.js";
import { entry as headEntry, putHead, runId, t } from "../helpers/head-entries.js";
import { skimStoreDoc } from "../../src/sync/skim.js";
import { SegmentTable } from "../../src/sync/segment-table.js";
import { decodeView, encodeView } from "../../src/sync/view-file.js";

const entry = (i: number, tree: string, prior: string[] = []): HeadEntry =>
  headEntry(i, tree, prior, { "01a216cc-e43c-4547-8000-000000000001.json": Buffer.from(`{"set":{"label":"r${i}"}}`) });

const HOUR = 3_600_000;

test("a catalog written from a view's bytes reads back as the same runs, diverged ones included", async () => {
  const storage = new MemoryStorage();
  const now = 100 * HOUR;
  await putHead(storage, [entry(1, t("b")), entry(2, t("c"))], now - 3 * HOUR);
  // Run 3 diverged: two entries neither of which supersedes the other.
  await putHead(storage, [entry(3, t("d")), entry(2, t("e"), [t("c")])], now - 2 * HOUR);
  await putHead(storage, [entry(3, t("f"))], now - HOUR);
  const writer = emptyView();
  await refreshView(storage, writer, now);
  const key = (await writeCatalog(storage, writer, now))!;
  const doc = await readCatalog(storage, key);
  assert.deepEqual(
    doc.entries.map((e) => [e.runId, e.run.tree]),
    [
      [runId(1), t("b")],
      [runId(2), t("e")],
      [runId(3), t("d")],
      [runId(3), t("f")],
    ],
  );
  // A catalog made again from a view that holds those runs as read is the same bytes.
  const reader = emptyView();
  await refreshView(storage, reader, now);
  await loadAllRuns(reader, storage);
  const segment = decodeCatalog(key, await storage.getBytes(key)).segments![0]!.key;
  assert.equal(reader.runs.raw(runId(1))?.from, segment, "a fresh reader takes the segment's runs as read");
  const again = (await writeCatalog(storage, reader, now))!;
  assert.equal(again, key);
  // Through the cached view's file too (kept: as runs the directory holds).
  const cached = decodeView(encodeView(reader, () => true).bytes)!.view;
  assert.deepEqual(cached.runs.get(runId(3))!.map((e) => e.run.tree), [t("d"), t("f")]);
  assert.deepEqual(cached.runs.get(runId(2))!, doc.entries.filter((e) => e.runId === runId(2)));
});

test("a fresh reader decodes only the runs it asks for; a reader that read every head adopts a new catalog without its entries", async () => {
  const storage = new MemoryStorage();
  const now = 100 * HOUR;
  await putHead(storage, Array.from({ length: 50 }, (_, i) => entry(i, t("b"))), now - 3 * HOUR);
  const member = emptyView();
  await refreshView(storage, member, now - 2 * HOUR);
  await putHead(storage, [entry(50, t("c"))], now - HOUR);
  const writer = emptyView();
  await refreshView(storage, writer, now);
  const catalog = (await writeCatalog(storage, writer, now))!;

  const fresh = emptyView();
  await refreshView(storage, fresh, now);
  assert.equal(fresh.runs.size, 51);
  await loadRuns(fresh, storage, [runId(3)]);
  assert.equal(fresh.runs.get(runId(3))![0]!.summary.started, 1_003);
  assert.ok(fresh.runs.decoded(runId(3)), "decoded once asked for");
  assert.ok(!fresh.runs.decoded(runId(4)), "others are left as read");
  const segment = decodeCatalog(catalog, await storage.getBytes(catalog)).segments![0]!.key;
  assert.equal(fresh.runs.raw(runId(4))?.from, segment);

  // The member read the first head, not the second: it merges the catalog.
  const lagging = member;
  await refreshView(storage, lagging, now);
  assert.equal(lagging.catalogKey, catalog);
  assert.ok(lagging.runs.has(runId(50)));
  assert.throws(() => lagging.runs.get(runId(5)), /not loaded/, "a run held from before the catalog waits for its segment");
  await loadAllRuns(lagging, storage);
  assert.equal(lagging.runs.get(runId(5))!.length, 1);

  // A member that read every head a new catalog covers keeps its own runs (the same objects),
  // taking only the key.
  const caughtUp = fresh;
  await putHead(storage, [entry(51, t("d"))], now + 1);
  await refreshView(storage, caughtUp, now + 2);
  const held = caughtUp.runs.get(runId(7));
  const newer = writer;
  await refreshView(storage, newer, now + 2);
  const second = (await writeCatalog(storage, newer, now + 3))!;
  await refreshView(storage, caughtUp, now + 4);
  assert.equal(caughtUp.catalogKey, second);
  assert.equal(caughtUp.runs.get(runId(7)), held, "the catalog's entries were not merged in");
  assert.equal(caughtUp.runs.raw(runId(3))?.from, segment, "nor taken in place of the ones held");
  assert.ok(caughtUp.runs.has(runId(51)));
  assert.equal(caughtUp.uncovered, 0);
});

test("a hostile catalog is refused: a wrong hash, a bad run id, a malformed entry, bytes that are not msgpack", async () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const catalogOf = (entries: unknown[]) => withKey(Buffer.from(packr.pack({ v: 1, covers: `heads/000000000001-${t("0")}`, recent: [], entries })));
  const withKey = (bytes: Buffer) => ({ key: `catalog/000000000002-${hashOf(bytes)}`, bytes });
  const good = catalogOf([plainEntry(entry(1, t("b")))]);
  assert.equal(skimStoreDoc(good.key, good.bytes).runs.size, 1);

  const flipped = Buffer.from(good.bytes);
  flipped[flipped.length - 1]! ^= 1;
  assert.throws(() => skimStoreDoc(good.key, flipped), StoreFormatError, "bytes that do not hash to the key");

  const badId = catalogOf([{ ...(plainEntry(entry(1, t("b"))) as object), runId: "../../etc" }]);
  assert.throws(() => skimStoreDoc(badId.key, badId.bytes), /malformed run entry/);

  // A malformed tree is found when the run is used: the reader refuses it then.
  const badTree = catalogOf([{ ...(plainEntry(entry(1, t("b"))) as object), run: { tree: "x", prior: [] } }]);
  const storage = new MemoryStorage();
  await storage.put(badTree.key, badTree.bytes);
  const view = emptyView();
  await refreshView(storage, view, 10);
  assert.throws(() => view.runs.get(runId(1)), StoreFormatError);

  const truncated = withKey(good.bytes.subarray(0, good.bytes.length - 5));
  assert.throws(() => skimStoreDoc(truncated.key, truncated.bytes), StoreFormatError);
  // An array header claiming four billion entries is refused before any loop over them.
  const huge = withKey(Buffer.concat([good.bytes.subarray(0, good.bytes.indexOf(Buffer.from("entries")) + 7), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]));
  assert.throws(() => skimStoreDoc(huge.key, huge.bytes), StoreFormatError);
  const notMsgpack = withKey(Buffer.from([0xc1, 0, 0]));
  assert.throws(() => skimStoreDoc(notMsgpack.key, notMsgpack.bytes), StoreFormatError);
});

function hashOf(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

test("damaged catalog bytes are refused with a StoreFormatError, never another error or a hang", async () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const good = Buffer.from(packr.pack({ v: 1, covers: `heads/000000000001-${t("0")}`, recent: [], entries: [1, 2, 3].map((i) => plainEntry(entry(i, t("b")))) }));
  // A format 2 root and its segment, damaged alike.
  const storage = new MemoryStorage();
  await putHead(storage, [1, 2, 3].map((i) => entry(i, t("b"))), 10);
  const writer = emptyView();
  await refreshView(storage, writer, 20);
  const rootKey = (await writeCatalog(storage, writer, 30))!;
  const root = await storage.getBytes(rootKey);
  const segment = decodeCatalog(rootKey, root).segments![0]!;
  const segmentBytes = await storage.getBytes(segment.key);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const damaged = (from: Buffer) => {
    const bytes = Buffer.from(from);
    for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    return random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
  };
  const refusedOrListed = (round: number, read: () => Iterable<string>) => {
    try {
      for (const id of read()) assert.match(id, /^[0-9a-f-]{36}$/);
    } catch (err) {
      assert.ok(err instanceof StoreFormatError, `round ${round}: ${(err as Error).stack}`);
    }
  };
  for (let round = 0; round < 2_000; round++) {
    const cut = damaged(good);
    refusedOrListed(round, () => skimStoreDoc(`catalog/000000000002-${hashOf(cut)}`, cut).runs.keys());
    const rootCut = damaged(root);
    refusedOrListed(round, () => new SegmentTable(decodeCatalog(`catalog/000000000002-${hashOf(rootCut)}`, rootCut).segments ?? []).pendingIds());
    const segmentCut = damaged(segmentBytes);
    refusedOrListed(round, () => skimStoreDoc(`segments/${hashOf(segmentCut)}`, segmentCut).runs.keys());
  }
});

test("a listing's labels are read from a run's user log alone; a malformed one is refused with the file's key", async () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const storage = new MemoryStorage();
  const bad = { ...(plainEntry(entry(2, t("b"))) as object), user: { "not-a-log.json": Buffer.from("{}") } };
  const bytes = Buffer.from(packr.pack({ v: 1, covers: `heads/000000000001-${t("0")}`, recent: [], entries: [plainEntry(entry(1, t("b"))), bad] }));
  const key = `catalog/000000000002-${hashOf(bytes)}`;
  await storage.put(key, bytes);
  const view = emptyView();
  await refreshView(storage, view, 10);
  const runs = remoteRunsOf(view, "/nowhere");
  assert.equal(runs.find((r) => r.id === runId(1))!.label, "r1");
  assert.ok(!view.runs.decoded(runId(1)), "the label needed no decode of the run's trees");
  assert.equal(view.runs.count(runId(1)), 1);
  assert.throws(() => runs.find((r) => r.id === runId(2))!.label, (err: unknown) => err instanceof StoreFormatError && err.message.includes(key));
});

test("a hostile root of format 2 is refused: ids out of order, counts beyond the bytes, a segment that holds other runs", async () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const storage = new MemoryStorage();
  const writer = emptyView();
  await putHead(storage, [1, 2, 3].map((i) => entry(i, t("b"))), 10);
  await refreshView(storage, writer, 20);
  const key = (await writeCatalog(storage, writer, 30))!;
  const good = decodeCatalog(key, await storage.getBytes(key));
  const seg = good.segments![0]!;
  const rootOf = (fields: Record<string, unknown>) => {
    const bytes = Buffer.from(packr.pack({ v: 2, covers: good.covers, recent: [], count: 3, segments: [{ key: seg.key, n: 3, ids: seg.ids }], newest: { ids: Buffer.alloc(0), t: [] }, ...fields }));
    return { key: `catalog/000000000040-${hashOf(bytes)}`, bytes };
  };
  const reversed = Buffer.concat([seg.ids.subarray(32, 48), seg.ids.subarray(16, 32), seg.ids.subarray(0, 16)]);
  const cases: Record<string, Record<string, unknown>> = {
    "ids out of order": { segments: [{ key: seg.key, n: 3, ids: reversed }] },
    "a count beyond its bytes": { segments: [{ key: seg.key, n: 2 ** 31, ids: seg.ids }], count: 2 ** 31 },
    "a total that is not its segments'": { count: 4 },
    "a bad segment key": { segments: [{ key: "segments/../../x", n: 3, ids: seg.ids }] },
    "a newest run no segment lists": { newest: { ids: Buffer.alloc(16, 0xee), t: [1] } },
  };
  for (const [why, fields] of Object.entries(cases)) {
    const root = rootOf(fields);
    assert.throws(() => decodeCatalog(root.key, root.bytes), StoreFormatError, why);
  }
  // A root that names a segment holding other runs than it lists: refused when the segment is read.
  const other = Buffer.concat([seg.ids.subarray(0, 32), Buffer.alloc(16, 0xff)]);
  const liar = rootOf({ segments: [{ key: seg.key, n: 3, ids: other }] });
  await storage.put(liar.key, liar.bytes);
  const reader = emptyView();
  await refreshView(storage, reader, 50);
  assert.equal(reader.catalogKey, liar.key);
  await assert.rejects(loadAllRuns(reader, storage), (err: unknown) => err instanceof StoreFormatError && err.message.includes(seg.key));
  await assert.rejects(readCatalog(storage, liar.key), StoreFormatError);
});
