import pLimit from "p-limit";
import { UsageError } from "../errors.js";
import { PackIndex, PackWriter, packIndexKey, packKey, type WrittenPack } from "../objects/index.js";
import { encodePackIndex, PACK_HEADER_BYTES, type PackIndexEntry } from "../objects/pack.js";
import type { Storage } from "../remotes/storage.js";
import { StoreIncompleteError } from "./errors.js";
import { IdSet, PackEntries, storedBytes } from "./gc-entries.js";
import { planHeads, planPacks, planSegments, packBytes, type HeadsPlan, type PackChange } from "./gc-plan.js";
import { markReachable, type MarkProgress } from "./closure.js";
import { garbageKey } from "./gc-keys.js";
import { catchUp, CONCURRENCY, fullEntries, readStore, removeUnnamedSegments, rootsOf, type PackState, type Store } from "./gc-store.js";
import { CATALOG_PREFIX, keyTime, writeCatalog } from "./heads.js";
import { closeRemote, openRemote, remoteOrDefault, type OpenRemote, type RemoteContext } from "./remote.js";

export { GARBAGE_PREFIX } from "./gc-keys.js";

/**
 * `gage gc`: removes from a store remote what no run needs any more (docs/design.md §6), without locks
 * and without harming a push that runs meanwhile.
 *
 * What is kept: every object reachable from the tree each run stands at on the remote (the merge
 * of its heads; every side of a divergence), and from heads a catalog does not hold. The trees a
 * version supersedes (`prior` in heads) are history that merging compares by id and never reads,
 * so their objects go.
 *
 * Objects: an old pack (its file older than the grace period) whose objects no run reaches is set
 * aside: its index is copied under `garbage/` and removed, so that readers and pushes no longer
 * see it (a push that needs one of its objects uploads it again). A later gc, once the set-aside
 * copy is older than the grace period, removes the pack file; a gc that finds a head reaching a
 * set-aside object first puts its index back. A pack some runs still use has its index rewritten
 * without the others (set aside the same way), or, when at least `repackThreshold` of its bytes
 * are unreachable, its live objects are written into a new pack and the old one set aside. So an
 * index never lists an object whose trees or chunks are gone: pushes may trust that a tree they
 * find is whole. Young packs (an in-flight push's) are left alone, and what their trees reach stays
 * listed; pack files that never got an index (an interrupted push) are removed once older than the
 * grace period. A push that reused an object gc was taking out of use (it read the index before)
 * gets it back: gc checks the heads written while it ran, and every gc checks all heads first.
 *
 * Heads: a new catalog holds every head read; heads that a catalog at least the grace period old
 * holds are removed (and catalogs older than it), so a reader that listed catalogs just before it
 * appeared never misses a head. A grace period of 0 does everything in one run.
 */

/** Spare what is younger than this: an in-flight push may still need it (default one day). */
export const DEFAULT_GRACE_MS = 24 * 60 * 60 * 1000;

/** Rewrite a pack when at least this share of its bytes is unreachable. */
export const DEFAULT_REPACK_THRESHOLD = 0.25;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export interface GcOptions extends RemoteContext {
  /** The local runs directory: where the default remote is recorded. */
  runsDir: string;
  /** A configured remote name, URL or path, or an open `Storage`. Omitted: the runs directory's default remote. */
  remote?: string | Storage;
  /** Unreferenced packs, heads and catalogs younger than this are kept (default one day). */
  graceMs?: number;
  /** Share of a pack's bytes that must be unreachable for it to be rewritten (default 0.25; above 1: never). */
  repackThreshold?: number;
  /** Clock (ms since the epoch): ages of heads, catalogs and packs, and the name of the new catalog. */
  now?: () => number;
  onProgress?: (event: GcProgressEvent) => void;
  onWarning?: (message: string) => void;
}

export interface GcProgressEvent {
  /** `mark`: objects found reachable; `repack`: objects rewritten; `remove`: keys written or removed. */
  phase: "mark" | "repack" | "remove";
  /** Items done since the last event. */
  items: number;
  bytes: number;
  total?: { items: number; bytes: number };
}

export interface GcResult {
  remote: string;
  graceMs: number;
  objects: {
    /** Objects the runs reach. */
    kept: number;
    /** Objects in packs that no run reaches (set aside or removed now, or young). */
    unreachable: number;
  };
  packs: {
    /** Pack files removed, and their bytes. */
    removed: number;
    removedBytes: number;
    /** Packs out of use (index set aside, now or by an earlier gc): a gc after the grace period removes them. */
    setAside: number;
    setAsideBytes: number;
    /** Packs whose index now lists only what runs reach (the rest set aside). */
    trimmed: number;
    /** Indexes given back objects that a head turned out to reach. */
    restored: number;
    /** Packs rewritten without their unreachable objects, and the new packs written for them. */
    repacked: number;
    written: number;
    writtenBytes: number;
    /** Packs in use afterwards. */
    kept: number;
    keptBytes: number;
    /** Bytes of kept packs that no run reaches (below the repack threshold, or young). */
    reclaimableBytes: number;
  };
  heads: { removed: number; kept: number };
  catalogs: { removed: number; kept: number; written: boolean };
  /** Catalog segments no kept catalog names, older than the grace period, and their bytes. */
  segments: { removed: number; removedBytes: number };
}

/** A planned gc: inspect `result` (what it would do), then `execute` it or `close` it. */
export interface GcPlan {
  remote: string;
  result: GcResult;
  /** True when executing changes the store. */
  changes: boolean;
  execute(onProgress?: (event: GcProgressEvent) => void): Promise<GcResult>;
  close(): Promise<void>;
}

/** What a plan (or its execution) amounts to. */
function tally(store: Store, remote: string, graceMs: number, changes: readonly PackChange[], heads: HeadsPlan, segments: readonly { size: number }[]): GcResult {
  const byPack = new Map(changes.map((c) => [c.pack, c]));
  const result: GcResult = {
    remote,
    graceMs,
    objects: { kept: store.reachable.size, unreachable: 0 },
    packs: { removed: 0, removedBytes: 0, setAside: 0, setAsideBytes: 0, trimmed: 0, restored: 0, repacked: 0, written: 0, writtenBytes: 0, kept: 0, keptBytes: 0, reclaimableBytes: 0 },
    heads: { removed: heads.heads.length, kept: store.heads.size - heads.heads.length },
    catalogs: { removed: heads.catalogs.length, kept: 0, written: heads.catalogTime !== undefined },
    segments: { removed: segments.length, removedBytes: segments.reduce((n, s) => n + s.size, 0) },
  };
  result.catalogs.kept = store.catalogs.length - heads.catalogs.length + (result.catalogs.written ? 1 : 0);
  const unreachable = new IdSet();
  const r = result.packs;
  for (const p of store.packs.values()) {
    const full = fullEntries(p);
    // The pack's live bytes as it stands, counted in the same pass (one pass over every entry).
    let live = 0;
    if (full instanceof PackEntries) live = full.packedBytesIn(store.reachable, unreachable);
    else for (const e of full) if (!store.reachable.has(e.id)) unreachable.add(e.id);
    if (p.size === undefined) continue;
    const c = byPack.get(p);
    if (c?.why === "repack") r.repacked++;
    if (c?.why === "trim") r.trimmed++;
    if (c?.why === "restore") r.restored++;
    if (c?.removePack) {
      r.removed++;
      r.removedBytes += p.size;
      continue;
    }
    const index = c?.index === undefined ? p.index : (c.index ?? undefined);
    if (index === undefined) {
      if (c?.index === null || p.records.length > 0) {
        r.setAside++;
        r.setAsideBytes += p.size;
      }
      continue;
    }
    r.kept++;
    r.keptBytes += p.size;
    r.reclaimableBytes += p.size - (index === full ? PACK_HEADER_BYTES + live : packBytes(index.filter((e) => store.reachable.has(e.id))));
  }
  result.objects.unreachable = unreachable.size;
  return result;
}

function checkComplete(store: Store): void {
  if (store.missing.size === 0) return;
  throw new StoreIncompleteError([...store.missing.keys()].slice(0, 10), [...new Set(store.missing.values())].sort(), store.missing.size);
}

/**
 * Reads the remote, marks what its runs reach, and plans what gc would remove. Nothing changes
 * until `execute`.
 * @throws StoreIncompleteError when runs reach objects the store lacks (gc then removes nothing).
 * @throws CorruptObjectError, StoreFormatError when a tree, head, catalog or index is damaged.
 */
export async function planGc(opts: GcOptions): Promise<GcPlan> {
  const now = opts.now ?? Date.now;
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const threshold = opts.repackThreshold ?? DEFAULT_REPACK_THRESHOLD;
  if (!(graceMs >= 0)) throw new UsageError(`The grace period must be 0 or more, got ${graceMs} ms`);
  const remote = await openRemote(await remoteOrDefault(opts.runsDir, opts.remote), opts);
  try {
    const store = await readStore(remote.storage, now(), opts.onWarning);
    let total: MarkProgress["total"];
    for (const p of store.packs.values()) {
      if (p.size === undefined) continue;
      total ??= { objects: 0, bytes: 0 };
      const entries = fullEntries(p);
      total.objects += entries.length;
      total.bytes += storedBytes(entries);
    }
    if (total) opts.onProgress?.({ phase: "mark", items: 0, bytes: 0, total: { items: total.objects, bytes: total.bytes } });
    const onMark = (p: MarkProgress) => opts.onProgress?.({ phase: "mark", items: p.objects, bytes: p.bytes });
    await markReachable(store, rootsOf(store), onMark);
    checkComplete(store);
    const changes = await planPacks(store, now(), graceMs, threshold);
    const heads = await planHeads(store, now(), graceMs);
    const segments = await planSegments(store, heads, now(), graceMs);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await closeRemote(remote);
    };
    return {
      remote: remote.url,
      result: tally(store, remote.url, graceMs, changes, heads, segments),
      changes: changes.length > 0 || heads.catalogTime !== undefined || heads.heads.length > 0 || heads.catalogs.length > 0 || segments.length > 0,
      execute: async (onProgress) => {
        try {
          return await executeGc(remote, store, { ...opts, now, graceMs, threshold, onProgress: onProgress ?? opts.onProgress });
        } finally {
          await close();
        }
      },
      close,
    };
  } catch (err) {
    await closeRemote(remote);
    throw err;
  }
}

/** Plans and executes a gc in one call (no confirmation: the library caller decides). */
export async function gc(opts: GcOptions): Promise<GcResult> {
  return (await planGc(opts)).execute();
}

interface ExecOptions {
  now: () => number;
  graceMs: number;
  threshold: number;
  onProgress?: ((event: GcProgressEvent) => void) | undefined;
  onWarning?: ((message: string) => void) | undefined;
}

async function executeGc(remote: OpenRemote, store: Store, opts: ExecOptions): Promise<GcResult> {
  const { storage } = remote;
  const onMark = (p: MarkProgress) => opts.onProgress?.({ phase: "mark", items: p.objects, bytes: p.bytes });
  // Pushes that finished since planning: what they reach is kept too.
  await catchUp(store, opts.now(), onMark);
  checkComplete(store);
  const changes = await planPacks(store, opts.now(), opts.graceMs, opts.threshold);
  const heads = await planHeads(store, opts.now(), opts.graceMs);

  // Counted before anything changes: the changes below consume what the tally reads.
  const result = tally(store, remote.url, opts.graceMs, changes, heads, []);
  const steps = changes.length + heads.heads.length + heads.catalogs.length + (heads.catalogTime === undefined ? 0 : 1);
  opts.onProgress?.({ phase: "remove", items: 0, bytes: 0, total: { items: steps, bytes: 0 } });
  const done = (n = 1) => opts.onProgress?.({ phase: "remove", items: n, bytes: 0 });

  let catalogKey: string | undefined;
  if (heads.catalogTime !== undefined) {
    catalogKey = await writeCatalog(storage, store.view, heads.catalogTime);
    done();
  }

  const written = await repack(remote, store, changes.filter((c) => c.repack), opts);
  for (const w of written) {
    result.packs.written++;
    result.packs.writtenBytes += w.bytes;
    result.packs.kept++;
    result.packs.keptBytes += w.bytes;
  }
  const limit = pLimit(CONCURRENCY);
  const nowMs = opts.now();
  const apply = (c: PackChange) => limit(() => applyChange(storage, c, nowMs).then(() => done()));
  // Objects a head reaches go back into use before anything is taken out of use.
  await Promise.all(changes.filter((c) => c.why === "restore").map(apply));
  await Promise.all(changes.filter((c) => c.why !== "restore").map(apply));

  const removal = await removeHeads(storage, heads, catalogKey, opts.onWarning);
  done(removal.heads.length + removal.catalogs.length);
  for (const h of removal.heads) store.heads.delete(h.key);

  result.heads = { removed: removal.heads.length, kept: store.heads.size };
  result.catalogs.removed = removal.catalogs.length;
  result.catalogs.kept = store.catalogs.length - removal.catalogs.length + (catalogKey === undefined ? 0 : 1);
  result.segments = await removeUnnamedSegments(storage, nowMs, opts.graceMs);
  await keepLatecomers(store, opts);
  return result;
}

/** Writes the objects of packs being repacked into new packs (skipping what other kept packs list). */
async function repack(remote: OpenRemote, store: Store, changes: PackChange[], opts: ExecOptions): Promise<WrittenPack[]> {
  if (changes.length === 0) return [];
  const leaving = new Set(changes.map((c) => c.pack));
  const kept = new PackIndex();
  for (const p of store.packs.values()) if (!leaving.has(p) && p.size !== undefined && p.index !== undefined && p.index.length > 0) kept.addIndex(p.id, p.index.bytes);
  const objects = changes.flatMap((c) => c.repack!).filter((e) => !kept.has(e.id));
  opts.onProgress?.({ phase: "repack", items: 0, bytes: 0, total: { items: objects.length, bytes: objects.reduce((n, e) => n + e.rawLength, 0) } });
  const writer = new PackWriter(remote.storage, { index: kept, compress: remote.compress });
  for await (const { id, data } of store.reader.readMany(objects.map((e) => e.id))) {
    await writer.add(id, data);
    opts.onProgress?.({ phase: "repack", items: 1, bytes: data.length });
  }
  // The new packs and their indexes are durable before the old ones are taken out of use.
  const written = await writer.flush();
  for (const w of written) {
    const bytes = await remote.storage.getBytes(w.indexKey);
    store.packs.set(w.packId, { id: w.packId, size: w.bytes, index: PackEntries.read(w.packId, bytes, w.indexKey), indexKeys: [w.indexKey], records: [], mtimeMs: opts.now() });
    store.reader.index.addIndex(w.packId, bytes, w.indexKey);
  }
  return written;
}

/**
 * One pack's change, in an order that leaves the store sound wherever it stops: the full index is
 * copied aside before the live one shrinks, the index goes before the pack file, and the records
 * last. `store.packs` is updated to match.
 */
async function applyChange(storage: Storage, c: PackChange, nowMs: number): Promise<void> {
  const p = c.pack;
  if (c.record) {
    const key = garbageKey(p.id, nowMs);
    const entries = [...fullEntries(p)];
    await storage.put(key, encodePackIndex(p.id, entries));
    p.records.push({ key, time: nowMs, entries });
  }
  if (c.index === null) {
    for (const key of p.indexKeys) await storage.delete(key);
    p.indexKeys = [];
    delete p.index;
  } else if (c.index !== undefined) await replaceIndex(storage, p, c.index);
  if (c.removePack) {
    await storage.delete(packKey(p.id));
    delete p.size;
  }
  if (c.dropRecords) {
    for (const r of p.records) await storage.delete(r.key);
    p.records = [];
  }
}

/**
 * Gives a pack the index `entries` under its own new key, then removes its other index keys: an
 * index is never rewritten in place, so a reader's kept copy of the old one no longer matches
 * what is listed (docs/formats.md, Pack indexes). A reader between the two steps sees the union.
 */
async function replaceIndex(storage: Storage, p: PackState, entries: PackIndexEntry[]): Promise<void> {
  const bytes = encodePackIndex(p.id, entries);
  const key = packIndexKey(p.id, bytes);
  if (!p.indexKeys.includes(key)) await storage.put(key, bytes);
  for (const old of p.indexKeys) if (old !== key) await storage.delete(old);
  p.indexKeys = [key];
  p.index = PackEntries.encoded(bytes, entries);
}

/**
 * Removes the heads and catalogs planned, unless the catalog they were planned against is this
 * gc's own and a newer one appeared meanwhile (a push compacting concurrently, which may not hold
 * what those heads say).
 */
async function removeHeads(storage: Storage, plan: HeadsPlan, catalogKey: string | undefined, onWarning?: (m: string) => void): Promise<HeadsPlan> {
  if (plan.anchor === "new" && catalogKey !== undefined) {
    for await (const { key } of storage.list(CATALOG_PREFIX, { startAfter: catalogKey })) {
      if (keyTime(key) === undefined) continue;
      onWarning?.(`A catalog was written while gc ran (${key}); heads are left for the next gc`);
      return { ...plan, heads: [], catalogs: [] };
    }
  }
  const limit = pLimit(CONCURRENCY);
  await Promise.all([...plan.heads.map((h) => h.key), ...plan.catalogs].map((key) => limit(() => storage.delete(key))));
  return plan;
}

/**
 * A push that ran alongside may have written a head, after gc marked, that reaches objects gc has
 * just taken out of use (it found them in an index it had read before). Their indexes are put back.
 */
async function keepLatecomers(store: Store, opts: ExecOptions): Promise<void> {
  try {
    const found = await catchUp(store, opts.now());
    if (found.length === 0) return;
    const held = new IdSet();
    for (const p of store.packs.values()) {
      if (p.size === undefined) continue;
      const current = new Set(p.index?.ids());
      const back = fullEntries(p).filter((e) => store.reachable.has(e.id) && !current.has(e.id));
      if (back.length > 0) {
        await replaceIndex(store.storage, p, [...(p.index ?? []), ...back]);
      }
      for (const e of p.index ?? []) held.add(e.id);
    }
    const lost = store.reachable.countNotIn(held) + store.missing.size;
    if (lost > 0) {
      const runs = [...new Set(store.missing.values())].sort().join(", ");
      opts.onWarning?.(
        `Pushes that ran during gc (${found.map((h) => h.key).join(", ")}) reach ${plural(lost, "object")} gc removed: ` +
          `runs ${runs} are incomplete on the remote (a longer grace period prevents this)`,
      );
    }
  } catch (err) {
    opts.onWarning?.(`Could not check the heads written during gc: ${(err as Error).message}`);
  }
}
