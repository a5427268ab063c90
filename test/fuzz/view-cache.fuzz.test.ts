import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { hashBytes } from "../../src/objects/index.js";
import { MemoryStorage } from "../../src/remotes/memory/index.js";
import { CATALOG_PREFIX, emptyView, encodeHead, HEAD_PREFIX, keyTime, loadAllRuns, refreshView, SKEW_MARGIN_MS, writeCatalog, type HeadEntry, type RemoteView } from "../../src/sync/heads.js";
import { decodeCatalog } from "../../src/sync/heads.js";
import { decodeView, encodeView } from "../../src/sync/view-file.js";
import { SEED } from "./fuzz-helpers.js";

// The cached view's one trust rule, over random histories: pushes (some landing late, as a slow
// writer's within the clock margin), catalogs, gc removing the heads a catalog holds, and a member
// that reads the remote now and then through its cached file. After each read, the member's
// cached view, with every segment loaded, holds what a fresh reader finds: no run dropped while a
// head the catalog does not hold changed it, none missing, none stale.

process.env.GAGE_CATALOG_SEGMENT_RUNS = "2";
const MIN = 60_000;
const runId = (i: number) => `0000000${i}-bf53-4585-9afb-cc19b62871d8`;
const tree = (s: string) => hashBytes(Buffer.from(s));

type Op =
  | { kind: "head"; runs: number[]; lagMin: number; diverge: boolean }
  | { kind: "catalog"; refresh: boolean }
  | { kind: "gc" }
  | { kind: "member"; here: number[] }
  | { kind: "tick"; min: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("head" as const), runs: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }), lagMin: fc.integer({ min: 0, max: 9 }), diverge: fc.boolean() }) },
  // A catalog's writer may have listed the heads a while before it writes (a slow push).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("catalog" as const), refresh: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "gc" as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("member" as const), here: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), min: fc.integer({ min: 0, max: 25 }) }) },
);

async function everyRun(storage: MemoryStorage, view: RemoteView): Promise<Map<string, string[]>> {
  await loadAllRuns(view, storage);
  assert.deepEqual(view.runs.staleIds(), []);
  const out = new Map<string, string[]>();
  // A divergence lists every entry merged in one go, and only the tips once merged step by step:
  // the tips (versions no other entry descends from) are what the run is.
  for (const id of [...view.runs.keys()].sort()) {
    const entries = view.runs.get(id)!;
    out.set(id, [...new Set(entries.filter((e) => !entries.some((o) => o.run.prior.includes(e.run.tree))).map((e) => e.run.tree))].sort());
  }
  return out;
}

async function keys(storage: MemoryStorage, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of storage.list(prefix)) out.push(e.key);
  return out;
}

async function play(ops: Op[]): Promise<void> {
  const storage = new MemoryStorage();
  let now = 1_000 * 60 * MIN;
  let member = emptyView();
  const writer = emptyView();
  let here = new Set<string>();
  const history = new Map<number, string[]>();
  let n = 0;
  for (const o of ops) {
    if (o.kind === "tick") now += o.min * MIN;
    else if (o.kind === "head") {
      // Each version descends from every earlier one (a fast-forward), or from none (a divergence).
      const entries: HeadEntry[] = o.runs.map((r) => {
        const t = tree(`${r}-${n++}`);
        const prior = o.diverge ? [] : [...(history.get(r) ?? [])];
        history.set(r, [...(history.get(r) ?? []), t]);
        return { runId: runId(r), run: { tree: t, prior }, meta: { tree: tree("m"), prior: [] }, user: {}, summary: { operation: "p:x", status: "completed" } };
      });
      const { key, bytes } = encodeHead(entries, now - o.lagMin * MIN);
      await storage.put(key, bytes);
    } else if (o.kind === "catalog") {
      if (o.refresh) await refreshView(storage, writer, now);
      await writeCatalog(storage, writer, now + 1);
      now += 2;
    } else if (o.kind === "gc") {
      // gc with no grace: heads the newest catalog holds, but those of the last 10 minutes; older catalogs.
      const catalogs = (await keys(storage, CATALOG_PREFIX)).sort();
      const newest = catalogs.at(-1);
      if (newest === undefined) continue;
      const doc = decodeCatalog(newest, await storage.getBytes(newest));
      const recent = new Set(doc.recent);
      for (const key of await keys(storage, HEAD_PREFIX)) {
        const t = keyTime(key)!;
        const held = key === doc.covers || recent.has(key) || t < keyTime(doc.covers)! - SKEW_MARGIN_MS;
        if (held && key <= doc.covers && t < now - SKEW_MARGIN_MS) await storage.delete(key);
      }
      for (const k of catalogs.slice(0, -1)) await storage.delete(k);
    } else {
      here = new Set(o.here.map(runId));
      await refreshView(storage, member, now);
      const bytes = encodeView(member, (id) => here.has(id)).bytes;
      const fresh = emptyView();
      await refreshView(storage, fresh, now);
      assert.deepEqual(await everyRun(storage, decodeView(bytes)!.view), await everyRun(storage, fresh));
      // Read as a command reads it: each block opened (or dropped unread) by the next refresh.
      member = decodeView(bytes, { lazy: true })!.view;
    }
  }
}

test("a member's cached view answers as a fresh reader after any history of pushes, late heads, catalogs and gc", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 30 }), async (ops) => play(ops)),
    { seed: SEED, numRuns: 300 },
  );
});
