import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { hashBytes } from "../../src/objects/index.js";
import { decodeCatalog, decodeHead, emptyView, encodeCatalog, encodeHead, noteHead, plainEntry, readSegment, reduceEntries, timeKeyPart, writeCatalog, type HeadEntry } from "../../src/sync/heads.js";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import { remoteRunsOf } from "../../src/sync/remote-runs.js";
import { decodeView, encodeView } from "../../src/sync/view-file.js";
import { anyBytes, mutated, refusesOrDecodes, refusesOrDecodesAsync, RUNS, SEED } from "./fuzz-helpers.js";

// Heads and catalogs come from whoever can write to the remote: they are named by their hash, so a
// forger names them right. Each decodes to checked entries or is refused (FORMAT); what decodes
// merges and lists without a crash. The cached view is a local file: damaged, it is a cache miss.

const packr = new Packr({ useRecords: false, variableMapSize: true });
const RUN = "882cb503-0000-4000-8000-000000000000";
const USER = "01a216cc-e43c-4fff-bfff-ffffffffffff.json";
const id = (s: string) => hashBytes(Buffer.from(s));

const ENTRY: HeadEntry = {
  runId: RUN,
  run: { tree: id("files"), prior: [id("old files")] },
  meta: { tree: id("meta"), prior: [] },
  user: { [USER]: Buffer.from('{"author": "a", "set": {"label": "x"}, "delete": []}') },
  summary: { operation: "proj:hello", status: "completed", started: 1700000000000000 },
};
const VALID_HEAD = encodeHead([ENTRY, { ...ENTRY, runId: RUN.replace("8", "9"), run: { tree: id("other"), prior: [] } }], 1700000000000).bytes;
const VALID_CATALOG = encodeCatalog({ covers: `heads/${timeKeyPart(1700000000000)}-${id("h")}`, recent: [], entries: [ENTRY] }, 1700000000000).bytes;

/** The key a forger gives `bytes` (heads are checked against their own hash). */
const keyOf = (prefix: string, bytes: Uint8Array) => `${prefix}${timeKeyPart(1700000000000)}-${hashBytes(bytes)}`;

const field = fc.oneof(fc.anything(), fc.string(), fc.uint8Array({ maxLength: 64 }), fc.integer(), fc.constantFrom(RUN, USER, id("x"), "../../x"));
const nearEntry = fc.record(
  {
    runId: fc.oneof(fc.constant(RUN), field),
    run: fc.oneof(fc.record({ tree: fc.oneof(fc.constant(id("t")), field), prior: fc.oneof(fc.array(fc.constant(id("p")), { maxLength: 3 }), field) }), field),
    meta: fc.oneof(fc.record({ tree: fc.oneof(fc.constant(id("m")), field), prior: fc.array(field, { maxLength: 3 }) }), field),
    user: fc.oneof(fc.dictionary(fc.oneof(fc.constant(USER), fc.string()), fc.oneof(fc.uint8Array({ maxLength: 64 }), field), { maxKeys: 3 }), field),
    summary: fc.oneof(fc.record({ operation: fc.oneof(fc.string(), field), status: fc.oneof(fc.string(), field), started: field }), field),
  },
  { requiredKeys: [] },
);
const headDoc = fc.oneof(
  fc.anything(),
  fc.record({ v: fc.oneof(fc.constant(1), field), entries: fc.oneof(fc.array(nearEntry, { maxLength: 4 }), field) }),
);
const catalogDoc = fc.record({ v: fc.constant(1), covers: fc.oneof(fc.string(), field), recent: fc.oneof(fc.array(field, { maxLength: 3 }), field), entries: fc.array(nearEntry, { maxLength: 4 }) });

/** What a reader does with decoded entries: merge them into a view and list its runs. */
function mergeAndList(entries: HeadEntry[]): void {
  const view = emptyView();
  noteHead(view, keyOf("heads/", Buffer.from("k")), entries);
  noteHead(view, keyOf("heads/", Buffer.from("k2")), entries.map((e) => ({ ...e, run: { tree: id(`${e.run.tree}+`), prior: [] } })));
  for (const run of remoteRunsOf(view, "/runs", () => {})) void run.attrs;
}

test("heads: arbitrary bytes, any msgpack value, near-valid entries and damaged heads end typed", () => {
  const bytes = fc.oneof(anyBytes, headDoc.map((d) => packr.pack(d)), mutated(VALID_HEAD));
  let decoded = 0;
  fc.assert(
    fc.property(bytes, (b) => {
      const entries = refusesOrDecodes(() => decodeHead(keyOf("heads/", b), b), ["FORMAT"]);
      if (entries !== undefined) decoded++, refusesOrDecodes(() => mergeAndList(entries), ["FORMAT"]);
    }),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(decoded > 0 && decoded < RUNS, `some inputs decode, some are refused (${decoded} of ${RUNS} decoded)`);
});

test("a head whose bytes do not hash to its key is refused", () => {
  assert.throws(() => decodeHead(keyOf("heads/", Buffer.from("other")), VALID_HEAD), { code: "FORMAT" });
});

test("catalogs: arbitrary bytes, near-valid documents and damaged catalogs end typed", () => {
  const bytes = fc.oneof(anyBytes, catalogDoc.map((d) => packr.pack(d)), mutated(VALID_CATALOG));
  let decoded = 0;
  fc.assert(
    fc.property(bytes, (b) => {
      const doc = refusesOrDecodes(() => decodeCatalog(keyOf("catalog/", b), b), ["FORMAT"]);
      if (doc !== undefined) {
        decoded++;
        assert.ok(doc.recent.every((k) => typeof k === "string"));
        refusesOrDecodes(() => mergeAndList(doc.entries), ["FORMAT"]);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(decoded > 0 && decoded < RUNS, `some inputs decode, some are refused (${decoded} of ${RUNS} decoded)`);
});

test("the cached view: arbitrary and damaged files are a cache miss or a view whose runs decode typed", () => {
  const view = emptyView();
  noteHead(view, keyOf("heads/", Buffer.from("k")), [ENTRY]);
  const valid = encodeView(view).bytes;
  assert.ok(decodeView(valid) !== undefined, "the valid file decodes");
  assert.deepEqual(plainEntry(decodeView(valid)!.view.runs.get(RUN)![0]!), plainEntry(ENTRY));
  fc.assert(
    fc.property(fc.oneof(anyBytes, mutated(valid)), (b) => {
      const got = refusesOrDecodes(() => decodeView(b));
      if (got === undefined) return;
      refusesOrDecodes(() => {
        for (const [, entries] of got.view.runs) assert.ok(entries.every((e) => typeof e.runId === "string"));
      }, ["FORMAT"]);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test("catalog roots of format 2 and their segments: damaged and near-valid ones end typed; what decodes lists", async () => {
  const storage = new MemoryStorage();
  const writer = emptyView();
  const runs = [RUN, RUN.replace("8", "9"), RUN.replace("8", "a")];
  noteHead(writer, keyOf("heads/", Buffer.from("k")), runs.map((runId) => ({ ...ENTRY, runId })));
  const rootKey = (await writeCatalog(storage, writer, 1700000000000))!;
  const root = await storage.getBytes(rootKey);
  const segment = decodeCatalog(rootKey, root).segments![0]!;
  const segmentBytes = await storage.getBytes(segment.key);
  const nearRoot = fc.record({
    v: fc.constant(2),
    covers: fc.oneof(fc.string(), field),
    recent: fc.oneof(fc.array(field, { maxLength: 3 }), field),
    count: fc.oneof(fc.integer({ min: -1, max: 2 ** 32 }), field),
    segments: fc.oneof(
      fc.array(fc.record({ key: fc.oneof(fc.constant(segment.key), field), n: fc.oneof(fc.integer({ min: -1, max: 2 ** 32 }), field), ids: fc.oneof(fc.constant(segment.ids), fc.uint8Array({ maxLength: 80 }), field) }), { maxLength: 3 }),
      field,
    ),
    newest: fc.oneof(fc.record({ ids: fc.oneof(fc.uint8Array({ maxLength: 48 }), fc.constant(segment.ids), field), t: fc.oneof(fc.array(field, { maxLength: 3 }), field) }), field),
  });
  let decoded = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyBytes, nearRoot.map((d) => packr.pack(d)), mutated(root)), async (b) => {
      const doc = refusesOrDecodes(() => decodeCatalog(keyOf("catalog/", b), b), ["FORMAT"]);
      if (doc?.segments === undefined) return;
      decoded++;
      // A root that decodes lists within what its bytes hold: its ids, then its segments' runs.
      const view = emptyView();
      view.runs.setSegments(doc.segments);
      assert.ok(view.runs.size * 16 <= b.length);
      for (const id of view.runs.keys()) assert.ok(view.runs.has(id));
      const copy = new MemoryStorage();
      await copy.put(segment.key, segmentBytes);
      for (const seg of doc.segments) {
        const got = await refusesOrDecodesAsync(() => readSegment(copy, seg), ["FORMAT", "NOT_FOUND"]);
        if (got !== undefined) view.runs.loadSegment(view.runs.segments().find((s) => s.key === seg.key)!, got, (a, c) => reduceEntries([...a, ...c]));
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(decoded > 0, "some roots decode");
  let read = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyBytes, mutated(segmentBytes)), async (b) => {
      const key = `segments/${hashBytes(b)}`;
      const copy = new MemoryStorage();
      await copy.put(key, Buffer.from(b));
      const got = await refusesOrDecodesAsync(() => readSegment(copy, { ...segment, key }), ["FORMAT"]);
      if (got === undefined) return;
      read++;
      const view = emptyView();
      view.runs.setSegments([{ ...segment, key }]);
      view.runs.loadSegment(view.runs.segments()[0]!, got, (a, c) => reduceEntries([...a, ...c]));
      refusesOrDecodes(() => mergeAndList([...view.runs.values()].flat()), ["FORMAT"]);
    }),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(read < RUNS, "damaged segments are refused");
});
