import pLimit from "p-limit";
import { packKey, parsePackIndexKey } from "../objects/index.js";
import { PACK_HEADER_BYTES, PACK_RECORD_HEADER_BYTES, type PackIndexEntry } from "../objects/pack.js";
import type { Storage } from "../remotes/storage.js";
import { cutSegments, encodeSegment, newestOf, runBytesOf, segmentRuns } from "./catalog-v2.js";
import { CONCURRENCY, fullEntries, markFromYoung, rootSegments, segmentsNamedBy, unnamedSegments, type HeadInfo, type PackState, type Store } from "./gc-store.js";
import { decodeCatalog, keyTime, MAX_CATALOG_BYTES, readHeadBytes, SKEW_MARGIN_MS, type CatalogDoc, type RemoteView } from "./heads.js";

// What `gage gc` decides (gc.ts says why), from what gc-store.ts read and marked.

/** What gc does to one pack. Steps run in this order: repack, record, index, pack, records. */
export interface PackChange {
  pack: PackState;
  /** `settle`: the set-aside index of a pack in use is old enough to forget, or its index gets its immutable key. */
  why: "restore" | "trim" | "settle" | "retire" | "repack" | "remove" | "orphan" | "stray";
  /** Objects to write into new packs first. */
  repack?: PackIndexEntry[];
  /** Copy the pack's full index under `garbage/` before changing its index. */
  record: boolean;
  /** The index afterwards: entries to write, or `null` to delete it; undefined leaves it. */
  index?: PackIndexEntry[] | null;
  /** Delete the pack file. */
  removePack: boolean;
  /** Delete the pack's `garbage/` records. */
  dropRecords: boolean;
}

export interface HeadsPlan {
  /** Time of the catalog to write, when one is worth writing. */
  catalogTime?: number;
  /** The catalog that heads are removed against; `new` is the one this gc writes. */
  anchor?: string | "new";
  heads: HeadInfo[];
  catalogs: string[];
}

function lastRecordTime(p: PackState): number {
  return Math.max(...p.records.map((r) => r.time));
}

export function packBytes(entries: readonly PackIndexEntry[]): number {
  let n = PACK_HEADER_BYTES;
  for (const e of entries) n += PACK_RECORD_HEADER_BYTES + e.storedLength;
  return n;
}

/** Asks the backend how old the packs whose fate depends on it are (one stat each). */
async function statPacks(storage: Storage, packs: PackState[]): Promise<void> {
  const limit = pLimit(CONCURRENCY);
  await Promise.all(
    packs
      .filter((p) => p.mtimeMs === undefined)
      .map((p) => limit(async () => void (p.mtimeMs = (await storage.stat(packKey(p.id)))?.mtimeMs ?? null))),
  );
}

/**
 * Decides the fate of every pack from what is reachable now. A pack's age is its file's mtime; a
 * pack whose backend gives none is never taken out of use (it could be an in-flight push's).
 */
export async function planPacks(store: Store, nowMs: number, graceMs: number, threshold: number): Promise<PackChange[]> {
  const { reachable } = store;
  const unsettled = new Set(
    [...store.packs.values()].filter(
      (p) => p.size !== undefined && (p.records.length > 0 || p.index === undefined || !p.index.allIn(reachable)),
    ),
  );
  await statPacks(store.storage, [...unsettled]);
  const old = (p: PackState) => typeof p.mtimeMs === "number" && nowMs - p.mtimeMs >= graceMs;
  await markFromYoung(store, [...unsettled].filter((p) => !old(p)));
  const expired = (p: PackState) => graceMs === 0 || (p.records.length > 0 && nowMs - lastRecordTime(p) >= graceMs);
  const changes: PackChange[] = [];
  const change = (pack: PackState, why: PackChange["why"], c: Partial<Omit<PackChange, "pack" | "why">>) =>
    changes.push({ pack, why, record: false, removePack: false, dropRecords: false, ...c });
  for (const p of store.packs.values()) {
    if (p.size === undefined) {
      // An index or record without its pack file: what it lists is gone already.
      if (p.index !== undefined || p.records.length > 0) change(p, "stray", { index: p.index === undefined ? undefined : null, dropRecords: p.records.length > 0 });
      continue;
    }
    if (!unsettled.has(p)) continue;
    const full = fullEntries(p);
    if (p.index === undefined && p.records.length === 0) {
      if (old(p)) change(p, "orphan", { removePack: true });
      continue;
    }
    const keep = full.filter((e) => reachable.has(e.id));
    const current = new Set(p.index?.ids());
    const missingHere = keep.filter((e) => !current.has(e.id));
    if (!old(p)) {
      if (missingHere.length > 0) change(p, "restore", { index: [...(p.index ?? []), ...missingHere] });
      continue;
    }
    const retire = (why: "retire" | "repack" | "remove", repack?: PackIndexEntry[]) => {
      if (expired(p)) change(p, why === "retire" ? "remove" : why, { ...(repack ? { repack } : {}), index: p.index === undefined ? undefined : null, removePack: true, dropRecords: p.records.length > 0 });
      else change(p, why, { ...(repack ? { repack } : {}), record: p.records.length === 0, index: p.index === undefined ? undefined : null });
    };
    if (keep.length === 0) {
      if (p.index !== undefined || expired(p)) retire("retire");
      continue;
    }
    if ((p.size - packBytes(keep)) / p.size >= threshold) {
      retire("repack", keep);
      continue;
    }
    // Entries of the index that no run reaches any more.
    const dropping = current.size - (keep.length - missingHere.length);
    const changed = missingHere.length > 0 || dropping > 0;
    const final = p.records.length > 0 && expired(p);
    if (!changed && !final) continue;
    change(p, dropping > 0 ? "trim" : changed ? "restore" : "settle", {
      ...(changed ? { index: keep } : {}),
      record: dropping > 0 && graceMs > 0 && p.records.length === 0,
      dropRecords: final,
    });
  }
  // An index under a 0.1.0 key, or a pack left with two (a gc stopped halfway), gets one immutable key.
  const changing = new Set(changes.map((c) => c.pack));
  for (const p of store.packs.values()) {
    if (p.size === undefined || p.index === undefined || changing.has(p)) continue;
    if (p.indexKeys.length !== 1 || parsePackIndexKey(p.indexKeys[0]!)?.sum === undefined) change(p, "settle", { index: [...p.index] });
  }
  return changes;
}

/** The catalog to write, and the heads and catalogs that may go. */
export async function planHeads(store: Store, nowMs: number, graceMs: number): Promise<HeadsPlan> {
  const newest = store.catalogs.at(-1);
  const catalogTime = store.merged > 0 ? Math.max(nowMs, newest === undefined ? 0 : keyTime(newest)! + 1) : undefined;
  const ripe = nowMs - graceMs;
  let anchor: HeadsPlan["anchor"];
  let anchorTime = 0;
  if (catalogTime !== undefined && catalogTime <= ripe) [anchor, anchorTime] = ["new", catalogTime];
  else {
    const k = store.catalogs.filter((c) => keyTime(c)! <= ripe).at(-1);
    if (k !== undefined) [anchor, anchorTime] = [k, keyTime(k)!];
  }
  const plan: HeadsPlan = { ...(catalogTime === undefined ? {} : { catalogTime }), heads: [], catalogs: [] };
  if (anchor === undefined) return plan;
  plan.anchor = anchor;
  let holds = (h: HeadInfo) => h.covered;
  if (anchor !== "new") {
    const doc: CatalogDoc =
      anchor === store.newestCatalog?.key ? store.newestCatalog.doc : decodeCatalog(anchor, await readHeadBytes(store.storage, anchor, MAX_CATALOG_BYTES));
    const coversTime = keyTime(doc.covers) ?? 0;
    const recent = new Set(doc.recent);
    holds = (h) => h.covered && h.key <= doc.covers && (h.time < coversTime - SKEW_MARGIN_MS || recent.has(h.key));
  }
  plan.heads = [...store.heads.values()].filter((h) => h.time <= ripe && h.time < anchorTime - SKEW_MARGIN_MS && holds(h));
  plan.catalogs = store.catalogs.filter((c) => (anchor === "new" || c < anchor) && keyTime(c)! <= ripe);
  return plan;
}

/**
 * The segment keys the catalog gc writes will name: cut and encoded as `writeCatalog` does it (the
 * same functions), nothing written. Every run of the view must be loaded.
 */
function newCatalogSegments(view: RemoteView): string[] {
  const runs = runBytesOf(view.runs);
  const previous = new Map(view.runs.segments().map((s) => [s.first, s]));
  // A range whose runs are the previous segment's, each as read from it, is that segment's bytes again.
  const same = (g: { id: string }[]) => {
    const seg = previous.get(g[0]!.id);
    return seg !== undefined && seg.n === g.length && g.every((r) => view.runs.fromSegment(r.id)) ? seg.key : undefined;
  };
  const keys = cutSegments(runs, view.runs.segments(), segmentRuns()).map((g) => same(g) ?? encodeSegment(g).key);
  const newest = newestOf(view.runs, runs.map((r) => r.id));
  if (newest.ids.length > 0) {
    const top = new Set(newest.ids);
    keys.push(encodeSegment(runs.filter((r) => top.has(r.id))).key);
  }
  return keys;
}

/**
 * The catalog segments gc would remove after `heads`: those no catalog it keeps names (nor the
 * one it writes), older than the grace period.
 */
export async function planSegments(store: Store, heads: HeadsPlan, nowMs: number, graceMs: number): Promise<{ key: string; size: number }[]> {
  const leaving = new Set(heads.catalogs);
  const named = new Set<string>();
  for (const key of store.catalogs) {
    if (leaving.has(key)) continue;
    const keys = key === store.newestCatalog?.key ? rootSegments(store.newestCatalog.doc) : await segmentsNamedBy(store.storage, key);
    for (const k of keys) named.add(k);
  }
  if (heads.catalogTime !== undefined) for (const k of newCatalogSegments(store.view)) named.add(k);
  return unnamedSegments(store.storage, named, nowMs, graceMs);
}
