import pLimit from "p-limit";
import { GageError } from "../errors.js";
import { decodeChunkList, decodeTree, ObjectReader, PackIndex, PACK_PREFIX, parsePackIndexKey, readPackIndexBytes, type ObjectId } from "../objects/index.js";
import { checkIndexName, decodePackIndex, encodePackIndex, type PackIndexEntry } from "../objects/pack.js";
import type { Storage } from "../remotes/storage.js";
import {
  CATALOG_PREFIX,
  decodeHead,
  decodeCatalog,
  loadAllRuns,
  MAX_CATALOG_BYTES,
  MAX_HEAD_BYTES,
  readHeadBytes,
  emptyView,
  HEAD_PREFIX,
  keyTime,
  noteHead,
  SKEW_MARGIN_MS,
  timeKeyPart,
  type CatalogDoc,
  type HeadEntry,
  type RemoteView,
} from "./heads.js";
import { markReachable, type MarkProgress } from "./closure.js";
import { decodeCatalogRoot, type NewestRuns } from "./catalog-v2.js";
import { SEGMENT_KEY_RE, SEGMENT_PREFIX, type SegmentRef } from "./segment-table.js";
import { docVersion, skimStoreDoc } from "./skim.js";
import { IdSet, PackEntries } from "./gc-entries.js";
import { decodeRawRun } from "./lazy-runs.js";
import { skimRoots, type EntryRoots } from "./gc-skim.js";
import { GARBAGE_PREFIX, keysOf, packFileId, parseGarbageKey } from "./gc-keys.js";
import { EMPTY_TREE, type TreeVersion } from "./merge.js";

/**
 * What `gage gc` reads of a store remote before deciding anything: every head and the newest
 * catalog (merged as a reader merges them), every pack index and set-aside index, and the set of
 * objects the runs reach, marked by reading their trees and chunk lists (each one verified).
 * Set-aside indexes: gc-keys.ts.
 */
/** Requests gc has in flight at once (GETs of heads and indexes, stats, deletes). */
export const CONCURRENCY = 8;

/** One pack: its file, its index, and the indexes gc set aside for it. */
export interface PackState {
  id: ObjectId;
  /** Bytes of `packs/<id>.pack`; undefined when there is no pack file. */
  size?: number;
  /**
   * What the pack's listed index files list (their union: two while a gc that replaced one was
   * stopped before removing the other); undefined when there is none (set aside, or never written).
   */
  index?: PackEntries;
  /** The keys of its index files listed now (`packIndexKey`, or a 0.1.0 `legacyPackIndexKey`). */
  indexKeys: string[];
  /** `garbage/` records of this pack (normally at most one). */
  records: { key: string; time: number; entries: PackIndexEntry[] }[];
  /** The pack file's modification time once asked; null when the backend does not say. */
  mtimeMs?: number | null;
  /** Its trees and chunk lists have been followed (markFromYoung). */
  followed?: boolean;
}

/** Adds an index file read under `key` to its pack's state (the union of its listed indexes). */
function addIndexFile(p: PackState, key: string, bytes: Buffer): void {
  checkIndexName(key, bytes);
  const entries = PackEntries.read(p.id, bytes, key);
  p.indexKeys.push(key);
  if (p.index === undefined) p.index = entries;
  else {
    const have = new Set(p.index.ids());
    p.index = PackEntries.of(p.id, [...p.index, ...entries.filter((e) => !have.has(e.id))]);
  }
}

/** Every object a pack is known to hold: its index, and what gc set aside from it. */
export function fullEntries(p: PackState): PackEntries | PackIndexEntry[] {
  if (p.records.length === 0) return p.index ?? [];
  const byId = new Map<ObjectId, PackIndexEntry>();
  for (const e of [...(p.index ?? []), ...p.records.flatMap((r) => r.entries)]) if (!byId.has(e.id)) byId.set(e.id, e);
  return [...byId.values()];
}

/** A head as read, and whether the view (hence the next catalog) holds all it says. */
export interface HeadInfo {
  key: string;
  time: number;
  /** What it says, while the view does not hold it (empty once covered: gc keeps no copy). */
  entries: HeadEntry[];
  covered: boolean;
}


export interface Store {
  storage: Storage;
  /** The remote's runs as a fresh reader sees them (the next catalog's content). */
  view: RemoteView;
  catalogs: string[];
  newestCatalog?: { key: string; doc: CatalogDoc };
  heads: Map<string, HeadInfo>;
  /** Heads merged into the view beyond the newest catalog (a catalog is worth writing). */
  merged: number;
  packs: Map<ObjectId, PackState>;
  /** Reads objects from every pack file, set-aside entries included. */
  reader: ObjectReader;
  reachable: IdSet;
  /** Objects the runs reach that no pack holds → a run that reaches it. */
  missing: Map<ObjectId, string>;
}

async function readHeads(storage: Storage, keys: readonly string[]): Promise<{ key: string; entries: HeadEntry[] }[]> {
  const limit = pLimit(CONCURRENCY);
  return Promise.all(keys.map((key) => limit(async () => ({ key, entries: decodeHead(key, await readHeadBytes(storage, key, MAX_HEAD_BYTES)) }))));
}

/** Heads read CONCURRENCY at a time and handed to `each` in key order: only a batch is decoded at once. */
async function eachHead(storage: Storage, keys: readonly string[], each: (key: string, entries: HeadEntry[]) => void): Promise<void> {
  for (let i = 0; i < keys.length; i += CONCURRENCY) {
    for (const { key, entries } of await readHeads(storage, keys.slice(i, i + CONCURRENCY))) each(key, entries);
  }
}

/**
 * A run's entries, decoded for this use and not kept: the view would otherwise hold every run of
 * the remote decoded, next to the bytes it keeps to write the next catalog.
 */
function runEntries(view: RemoteView, id: string): HeadEntry[] | undefined {
  const raw = view.runs.decoded(id) ? undefined : view.runs.raw(id);
  return raw === undefined ? view.runs.get(id) : decodeRawRun(id, raw);
}

/** Where a reader holding `view` starts listing heads (refreshView in heads.ts). */
function listingFloor(view: RemoteView, nowMs: number): number {
  return view.newest === undefined ? 0 : Math.max(0, Math.floor(Math.min(keyTime(view.newest)!, nowMs) - SKEW_MARGIN_MS));
}

/**
 * True when the view already holds everything `e` says about its run: each tree is the view's or
 * one it supersedes, each user log entry is there. Such a head adds nothing; removing it loses
 * nothing.
 */
function subsumed(e: HeadEntry, view: RemoteView): boolean {
  const mine = runEntries(view, e.runId);
  if (!mine) return false;
  const has = (v: TreeVersion, pick: (m: HeadEntry) => TreeVersion) =>
    v.tree === EMPTY_TREE || mine.some((m) => pick(m).tree === v.tree || pick(m).prior.includes(v.tree));
  return has(e.run, (m) => m.run) && has(e.meta, (m) => m.meta) && Object.keys(e.user).every((n) => mine.some((m) => n in m.user));
}

/**
 * True when the view holds everything the head `key` says. A run whose entries in the head are
 * the very bytes the view holds for it (a catalog copies a head's runs as their bytes) is held
 * without decoding either; the view's bytes are decoded and checked when the run is marked.
 */
function coveredHead(key: string, bytes: Buffer, view: RemoteView): boolean {
  const doc = skimStoreDoc(key, bytes);
  if (!doc.scattered.every((e) => subsumed(e, view))) return false;
  for (const [id, raw] of doc.runs) {
    const mine = view.runs.decoded(id) ? undefined : view.runs.raw(id);
    if (mine !== undefined && mine.n === raw.n && mine.b.subarray(mine.p, mine.end).equals(raw.b.subarray(raw.p, raw.end))) continue;
    if (!decodeRawRun(id, raw).every((e) => subsumed(e, view))) return false;
  }
  return true;
}

/**
 * Reads the store: heads and catalogs first, packs after, so that every pack a listed head
 * reaches is listed too (a push writes its packs before its head).
 */
export async function readStore(storage: Storage, nowMs: number, onWarning?: (message: string) => void): Promise<Store> {
  const headKeys = (await keysOf(storage, HEAD_PREFIX)).map((e) => e.key).filter((k) => keyTime(k) !== undefined);
  const catalogs = (await keysOf(storage, CATALOG_PREFIX)).map((e) => e.key).filter((k) => keyTime(k) !== undefined);
  const view = emptyView();
  let newestCatalog: Store["newestCatalog"];
  const newest = catalogs.at(-1);
  if (newest !== undefined) {
    const bytes = await readHeadBytes(storage, newest, MAX_CATALOG_BYTES);
    const doc = decodeCatalog(newest, bytes);
    // A format 2 catalog's runs are taken as their segments' bytes: the catalog gc writes then
    // reuses every segment whose runs did not change (not written again).
    if (doc.segments !== undefined) {
      view.runs.setSegments(doc.segments);
      await loadAllRuns(view, storage);
    }
    noteHead(view, doc.covers, doc.entries);
    for (const k of doc.recent) noteHead(view, k, []);
    view.catalogKey = newest;
    newestCatalog = { key: newest, doc };
  }
  // Merged as a reader merges them: the catalog, then the heads from its listing point on. Older
  // heads are in the catalog already; merging them again could read a tree that dropped out of a
  // long history (MAX_PRIOR) as a divergence, so they are only checked against the view.
  // A head's entries are kept only while it is not covered (the view holds what the others say).
  const floor = listingFloor(view, nowMs);
  const inCatalog = new Set(view.recent);
  const heads = new Map<string, HeadInfo>();
  const newer = (key: string) => !inCatalog.has(key) && keyTime(key)! >= floor;
  let merged = 0;
  await eachHead(storage, headKeys.filter(newer), (key, entries) => {
    heads.set(key, { key, time: keyTime(key)!, entries: [], covered: true });
    noteHead(view, key, entries);
    merged++;
  });
  const older = headKeys.filter((k) => !newer(k));
  for (let i = 0; i < older.length; i += CONCURRENCY) {
    const batch = await Promise.all(older.slice(i, i + CONCURRENCY).map(async (key) => ({ key, bytes: await readHeadBytes(storage, key, MAX_HEAD_BYTES) })));
    for (const { key, bytes } of batch) {
      const covered = coveredHead(key, bytes, view);
      heads.set(key, { key, time: keyTime(key)!, entries: covered ? [] : decodeHead(key, bytes), covered });
      if (!covered) onWarning?.(`${key} is older than the newest catalog but not part of it (a writer's clock was off?); it is kept, and what it reaches`);
    }
  }
  view.uncovered = merged;

  const packs = new Map<ObjectId, PackState>();
  const pack = (id: ObjectId): PackState => {
    let p = packs.get(id);
    if (p === undefined) packs.set(id, (p = { id, records: [], indexKeys: [] }));
    return p;
  };
  const indexes: string[] = [];
  for (const { key, size } of await keysOf(storage, PACK_PREFIX)) {
    const file = packFileId(key);
    if (file !== undefined) pack(file).size = size;
    else if (parsePackIndexKey(key) !== undefined) indexes.push(key);
  }
  const records = (await keysOf(storage, GARBAGE_PREFIX)).flatMap(({ key }) => {
    const r = parseGarbageKey(key);
    return r ? [{ key, time: r.time, id: r.packId }] : [];
  });
  const limit = pLimit(CONCURRENCY);
  await Promise.all([
    ...indexes.map((key) => limit(async () => addIndexFile(pack(parsePackIndexKey(key)!.packId), key, await readPackIndexBytes(storage, key)))),
    ...records.map((r) =>
      limit(async () => void pack(r.id).records.push({ key: r.key, time: r.time, entries: decodePackIndex(r.id, await readPackIndexBytes(storage, r.key), r.key) })),
    ),
  ]);

  const readable = new PackIndex();
  let listed = 0;
  for (const p of packs.values()) {
    if (p.size === undefined) continue;
    const entries = fullEntries(p);
    listed += entries.length;
    // The index's own bytes when gc holds them as read: the lookup index shares them.
    if (entries instanceof PackEntries) readable.addIndex(p.id, entries.bytes);
    else if (entries.length > 0) readable.addIndex(p.id, encodePackIndex(p.id, entries));
  }
  // Marking looks up every object.
  readable.merge();
  const store: Store = {
    storage,
    view,
    catalogs,
    ...(newestCatalog ? { newestCatalog } : {}),
    heads,
    merged,
    packs,
    reader: new ObjectReader(storage, readable),
    // Most of what the packs list is usually reachable.
    reachable: new IdSet(listed),
    missing: new Map(),
  };
  return store;
}

/**
 * The trees of every run in the view, and of every head the view does not cover. Each entry's
 * times objects are kept as it passes (`markTimeIds`: leaves, so marking them first changes
 * nothing), so that every run is read once; a run read as bytes has only those fields decoded.
 */
export function* rootsOf(store: Store): Generator<[ObjectId, string]> {
  const { view } = store;
  for (const id of view.runs.keys()) {
    const raw = view.runs.decoded(id) ? undefined : view.runs.raw(id);
    const skimmed = raw === undefined ? undefined : skimRoots(raw);
    const entries = skimmed ?? (raw === undefined ? view.runs.get(id) : decodeRawRun(id, raw))?.map(entryRoots) ?? [];
    for (const e of entries) {
      markTimeIds(store, e.times);
      yield [e.run, id];
      yield [e.meta, id];
    }
  }
  for (const h of store.heads.values()) {
    if (h.covered) continue;
    for (const e of h.entries.map(entryRoots)) {
      markTimeIds(store, e.times);
      yield [e.run, e.runId];
      yield [e.meta, e.runId];
    }
  }
}

function entryRoots(e: HeadEntry): EntryRoots & { runId: string } {
  return { runId: e.runId, run: e.run.tree, meta: e.meta.tree, times: [e.times?.run, e.times?.meta].filter((id): id is ObjectId => id !== undefined) };
}

/**
 * Keeps the times objects that `entries` name (docs/formats.md): leaves, looked up and not read;
 * one the store lacks is no loss (times are hints), so it is never counted missing.
 */
export function markTimes(store: Store, entries: Iterable<HeadEntry>): void {
  for (const e of entries) markTimeIds(store, entryRoots(e).times);
}

function markTimeIds(store: Store, ids: readonly ObjectId[]): void {
  for (const id of ids) {
    if (store.reachable.has(id)) continue;
    const loc = store.reader.index.get(id);
    if (loc !== undefined && store.packs.get(loc.packId)?.size !== undefined) store.reachable.add(id);
  }
}

// Trees and chunk lists are small; larger objects in a young pack are file data, not read.
const MAX_STRUCTURE_BYTES = 4 * 1024 * 1024;

/**
 * Keeps what the trees and chunk lists of young packs reach, reachable from a run or not: pushes
 * trust that a tree an index lists is whole (the stat cache answers an unchanged folder with its
 * tree id), and a young pack's index is left as it is. Their objects are read (the small ones, each
 * verified) and those that decode as a tree or chunk list are followed. What they reach but the
 * store lacks does not stop gc: no run reaches it.
 */
export async function markFromYoung(store: Store, packs: readonly PackState[]): Promise<void> {
  const todo = packs.filter((p) => !p.followed);
  for (const p of todo) p.followed = true;
  const ids = todo.flatMap((p) => (p.index ?? []).filter((e) => !store.reachable.has(e.id) && e.rawLength <= MAX_STRUCTURE_BYTES).map((e) => e.id));
  const trees: [ObjectId, string][] = [];
  const lists: [ObjectId, string][] = [];
  for await (const { id, data } of store.reader.readMany(ids)) {
    // msgpack arrays of 3 (tree) or 4 (chunk list) fields: anything else is file data.
    if (data[0] === 0x93 && isDecodable(() => decodeTree(data))) trees.push([id, "young pack"]);
    else if (data[0] === 0x94 && isDecodable(() => decodeChunkList(data))) lists.push([id, "young pack"]);
  }
  await markReachable(store, trees, undefined, { chunkLists: lists, missing: new Map() });
}

function isDecodable(decode: () => unknown): boolean {
  try {
    decode();
    return true;
  } catch (err) {
    if (err instanceof GageError) return false;
    throw err;
  }
}

/**
 * Reads the heads written since the store was read (a push that finished meanwhile), merges them
 * into the view and marks what they reach. Returns the heads found.
 */
export async function catchUp(store: Store, nowMs: number, onProgress?: (p: MarkProgress) => void): Promise<HeadInfo[]> {
  // Packs first (see readStore): those of the heads found below are among them.
  const listed = new Map<ObjectId, { size?: number; indexKeys: string[] }>();
  const entry = (id: ObjectId) => {
    let l = listed.get(id);
    if (l === undefined) listed.set(id, (l = { indexKeys: [] }));
    return l;
  };
  for (const { key, size } of await keysOf(store.storage, PACK_PREFIX)) {
    const file = packFileId(key);
    if (file !== undefined) entry(file).size = size;
    else {
      const named = parsePackIndexKey(key);
      if (named !== undefined) entry(named.packId).indexKeys.push(key);
    }
  }
  const fresh: [PackState, string][] = [];
  for (const [id, l] of listed) {
    if (l.size === undefined) continue;
    let p = store.packs.get(id);
    if (p === undefined) store.packs.set(id, (p = { id, size: l.size, records: [], indexKeys: [] }));
    // An index that came after its pack: a push that was under way when the store was read.
    if (p.index === undefined && p.records.length === 0) for (const key of l.indexKeys) fresh.push([p, key]);
  }
  const limit = pLimit(CONCURRENCY);
  await Promise.all(
    fresh.map(([p, key]) =>
      limit(async () => {
        const bytes = await readPackIndexBytes(store.storage, key);
        addIndexFile(p, key, bytes);
        store.reader.index.addIndex(p.id, bytes, key);
      }),
    ),
  );
  const from = `${HEAD_PREFIX}${timeKeyPart(listingFloor(store.view, nowMs))}`;
  const keys = (await keysOf(store.storage, HEAD_PREFIX, from)).map((e) => e.key).filter((k) => keyTime(k) !== undefined && !store.heads.has(k));
  const found: HeadInfo[] = [];
  for (const { key, entries } of await readHeads(store.storage, keys)) {
    const info: HeadInfo = { key, time: keyTime(key)!, entries, covered: true };
    store.heads.set(key, info);
    noteHead(store.view, key, entries);
    store.merged++;
    found.push(info);
  }
  // The new heads' own trees, not only the merge's winners: a push's trees are kept whatever a
  // concurrent push did, until a gc that sees both decides.
  await markReachable(store, found.flatMap((h) => h.entries.flatMap((e): [ObjectId, string][] => [[e.run.tree, e.runId], [e.meta.tree, e.runId]])), onProgress);
  markTimes(store, found.flatMap((h) => h.entries));
  // Merged into the view: what they say is there.
  for (const h of found) h.entries = [];
  return found;
}

/** The segments a catalog names (its copy of the newest runs included); none for a catalog of format 1. */
export async function segmentsNamedBy(storage: Storage, key: string): Promise<string[]> {
  const bytes = await readHeadBytes(storage, key, MAX_CATALOG_BYTES);
  // A catalog of format 1 names none (and is not decoded whole to say so).
  if (docVersion(bytes) !== 2) return [];
  return rootSegments(decodeCatalogRoot(key, bytes));
}

/** The segment keys of a decoded root: its segments and its copy of the newest runs. */
export function rootSegments(root: { segments?: readonly SegmentRef[] | undefined; newest?: NewestRuns | undefined }): string[] {
  const keys = (root.segments ?? []).map((s) => s.key);
  if (root.newest?.key !== undefined) keys.push(root.newest.key);
  return keys;
}

/**
 * The segments no catalog of `named` names, older than the grace period (as packs: a writer puts
 * its segments before the root that names them, and one of unknown age is kept). One stat each.
 */
export async function unnamedSegments(storage: Storage, named: ReadonlySet<string>, nowMs: number, graceMs: number): Promise<{ key: string; size: number }[]> {
  const limit = pLimit(CONCURRENCY);
  const candidates = (await keysOf(storage, SEGMENT_PREFIX)).filter((e) => SEGMENT_KEY_RE.test(e.key) && !named.has(e.key));
  const ripe = await Promise.all(
    candidates.map((e) =>
      limit(async () => {
        const mtime = (await storage.stat(e.key))?.mtimeMs;
        return mtime !== undefined && nowMs - mtime >= graceMs;
      }),
    ),
  );
  return candidates.filter((_, i) => ripe[i]);
}

/**
 * Removes catalog segments no listed catalog names, once older than the grace period. Returns
 * how many were removed, and their bytes.
 */
export async function removeUnnamedSegments(storage: Storage, nowMs: number, graceMs: number): Promise<{ removed: number; removedBytes: number }> {
  const named = new Set<string>();
  for (const { key } of await keysOf(storage, CATALOG_PREFIX)) {
    if (keyTime(key) === undefined) continue;
    for (const s of await segmentsNamedBy(storage, key)) named.add(s);
  }
  const gone = await unnamedSegments(storage, named, nowMs, graceMs);
  const limit = pLimit(CONCURRENCY);
  await Promise.all(gone.map((e) => limit(() => storage.delete(e.key))));
  return { removed: gone.length, removedBytes: gone.reduce((n, e) => n + e.size, 0) };
}
