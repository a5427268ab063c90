import { Packr } from "msgpackr/pack";
import { hashBytes, listKeys } from "../objects/index.js";
import type { Storage } from "../remotes/storage.js";
import { StoreFormatError } from "./errors.js";
import { mergeRunVersions, mergedVersion, type RunVersion } from "./merge.js";
import { checkEntry, packHints, plainEntry, type EntryTimes, type HeadEntry } from "./head-entry.js";
import { LazyRuns, type RawRun } from "./lazy-runs.js";
import { HEAD_KEY_RE, docVersion, skimStoreDoc, verifyKey, type SkimmedDoc } from "./skim.js";
import { cutSegments, decodeCatalogRoot, encodeCatalogRoot, encodeSegment, MAX_SEGMENT_BYTES, newestOf, newestSegment, runBytesOf, segmentRuns, type NewestRuns } from "./catalog-v2.js";
import { idAt, type SegmentRef, type TableSegment } from "./segment-table.js";
import { blockRuns, runsOf, type CachedRuns, type OpenedBlock } from "./view-blocks.js";
import type { ViewFileLayout } from "./view-file.js";
export { checkEntry, isStoreRunId, isUserLogName, plainEntry, type EntryTimes, type HeadEntry, type RunSummary } from "./head-entry.js";

/**
 * Heads and catalogs: how a store remote says which runs it holds (docs/design.md §6–7, docs/formats.md).
 *
 * Key layout (fixed-length hex under fixed prefixes, so every backend lists them alike):
 *   packs/<64 hex>.pack, packs/<64 hex>.idx   objects (src/objects), written first
 *   heads/<12 hex ms>-<64 hex>                one push: the runs it wrote, written last
 *   catalog/<12 hex ms>-<64 hex>              a compaction of all heads up to a point (a root)
 *   segments/<64 hex>                         a root's runs, a range of run ids each
 *
 * A head is immutable and named by its write time then the SHA-256 of its bytes, so heads sort by
 * time, concurrent pushes never collide, and a reader verifies what it read. One push writes one
 * head however many runs it carries (thousands of runs cost one PUT, not thousands).
 *
 * A run's remote state is the merge of every head entry for it (merge.ts). A reader starts from the
 * newest catalog's root and lists only the heads written since (minus a clock-skew margin), so
 * listing a remote with 100,000 runs costs one small GET and one short listing; a command then
 * fetches the segments of the runs it touches (`loadRuns`).
 */

export const HEAD_PREFIX = "heads/";
export const CATALOG_PREFIX = "catalog/";

/** Heads written this long before the newest one seen are listed again: writers' clocks differ. */
export const SKEW_MARGIN_MS = 10 * 60 * 1000;

const packr = new Packr({ useRecords: false, variableMapSize: true });

export function timeKeyPart(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0");
}

/** The write time of a head or catalog key, or undefined for any other key. */
export function keyTime(key: string): number | undefined {
  const m = HEAD_KEY_RE.exec(key);
  return m ? Number.parseInt(m[1]!, 16) : undefined;
}

export function encodeHead(entries: readonly HeadEntry[], nowMs: number): { key: string; bytes: Buffer } {
  const bytes = Buffer.from(packr.pack({ v: 1, entries: entries.map(plainEntry) }));
  return { key: `${HEAD_PREFIX}${timeKeyPart(nowMs)}-${hashBytes(bytes)}`, bytes };
}

/** Parses and verifies a head's bytes against its key. */
export function decodeHead(key: string, bytes: Uint8Array): HeadEntry[] {
  const doc = decodeVerified(key, bytes) as { v?: unknown; entries?: unknown };
  if (doc.v !== 1 || !Array.isArray(doc.entries)) throw new StoreFormatError(key, `Head ${key} has an unknown format`);
  return doc.entries.map((e) => checkEntry(key, e));
}

export interface CatalogDoc {
  /** The newest head key this catalog includes. */
  covers: string;
  /** Every included head key within `SKEW_MARGIN_MS` before `covers`. */
  recent: string[];
  /** Format 1: every run's entries. Format 2: none (they are in `segments`: `readCatalog` reads them). */
  entries: HeadEntry[];
  /** Format 2: the segments holding the runs. */
  segments?: SegmentRef[];
  /** Format 2: the newest runs, and the segment that copies them. */
  newest?: NewestRuns;
}

/** Encodes a catalog of format 1 (what release 0.1.0 wrote; tests make legacy stores with it). */
export function encodeCatalog(doc: CatalogDoc, nowMs: number): { key: string; bytes: Buffer } {
  const bytes = Buffer.from(packr.pack({ v: 1, covers: doc.covers, recent: doc.recent, entries: doc.entries.map(plainEntry) }));
  return { key: `${CATALOG_PREFIX}${timeKeyPart(nowMs)}-${hashBytes(bytes)}`, bytes };
}

/** Decodes a catalog: a format 1 one whole, a format 2 root without its segments' entries. */
export function decodeCatalog(key: string, bytes: Uint8Array): CatalogDoc {
  if (docVersion(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)) === 2) {
    const root = decodeCatalogRoot(key, bytes);
    return { covers: root.covers, recent: root.recent, entries: [], segments: root.segments, newest: root.newest };
  }
  const doc = decodeVerified(key, bytes) as Record<string, unknown>;
  if (doc.v !== 1 || typeof doc.covers !== "string" || !Array.isArray(doc.recent) || !Array.isArray(doc.entries)) {
    throw new StoreFormatError(key, `Catalog ${key} has an unknown format`);
  }
  return {
    covers: doc.covers,
    recent: doc.recent.filter((k): k is string => typeof k === "string"),
    entries: doc.entries.map((e) => checkEntry(key, e)),
  };
}

/** A catalog with every run's entries: a format 2 root's segments are fetched and checked against it. */
export async function readCatalog(storage: Pick<Storage, "getBytes">, key: string): Promise<CatalogDoc> {
  const doc = decodeCatalog(key, await readHeadBytes(storage, key, MAX_CATALOG_BYTES));
  if (doc.segments === undefined) return doc;
  // The copy of the newest runs is checked too (its runs are the ones its root lists).
  const newest = doc.newest === undefined ? undefined : newestSegment(doc.newest);
  if (newest !== undefined) await readSegment(storage, newest);
  const entries: HeadEntry[] = [];
  for (const seg of doc.segments) {
    const runs = await readSegment(storage, seg);
    for (const [id, raw] of runs) entries.push(...decodeAdopted(id, raw));
  }
  return { ...doc, entries };
}

/** A segment's runs, verified against its key and checked to be exactly the runs its root lists, in order. */
export async function readSegment(storage: Pick<Storage, "getBytes">, seg: SegmentRef): Promise<Map<string, RawRun>> {
  const doc = skimStoreDoc(seg.key, await readHeadBytes(storage, seg.key, MAX_SEGMENT_BYTES));
  const runs = [...doc.runs.keys()];
  const mismatch = doc.scattered.length > 0 || runs.length !== seg.n || runs.some((id, i) => id !== idAt(seg.ids, i));
  if (mismatch) throw new StoreFormatError(seg.key, `Catalog segment ${seg.key} does not hold the runs its catalog lists`, { hint: "Remove the newest catalog (the heads or an older catalog still hold the runs), then push again." });
  return doc.runs;
}


function decodeVerified(key: string, bytes: Uint8Array): unknown {
  verifyKey(key, bytes);
  try {
    const doc = packr.unpack(bytes) as unknown;
    if (typeof doc !== "object" || doc === null) throw new Error("not a map");
    return doc;
  } catch (err) {
    throw new StoreFormatError(key, `${key} cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
}

/** The times of the entry among `entries` that holds each tree of `target`, and of every user log file. */
export function timesFor(entries: readonly HeadEntry[], target: { run: string; meta: string }): EntryTimes | undefined {
  const out: EntryTimes = {};
  for (const e of entries) {
    if (e.times === undefined) continue;
    if (out.run === undefined && e.run.tree === target.run && e.times.run !== undefined) out.run = e.times.run;
    if (out.meta === undefined && e.meta.tree === target.meta && e.times.meta !== undefined) out.meta = e.times.meta;
    if (e.times.user !== undefined) out.user = { ...e.times.user, ...out.user };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

// Every command compares each remote run with its local copy, hashing the run's user log entries
// each time; a view's entries are not changed once read, so their ids are computed once.
const userIdsOf = new WeakMap<Readonly<Record<string, Uint8Array>>, Record<string, string>>();

/** A head entry as a merge version (user entries by their bytes' hash). */
export function entryVersion(e: HeadEntry): RunVersion {
  let user = userIdsOf.get(e.user);
  if (user === undefined) {
    user = {};
    for (const [name, bytes] of Object.entries(e.user)) user[name] = hashBytes(bytes);
    userIdsOf.set(e.user, user);
  }
  return { run: e.run, meta: e.meta, user: { ...user } };
}

/**
 * Folds head entries of one run into as few as describe it: one when they merge cleanly (its
 * summary from the entry whose meta won), else every entry (a divergence shown to the user).
 */
export function reduceEntries(entries: readonly HeadEntry[]): HeadEntry[] {
  if (entries.length <= 1) return [...entries];
  const merged = mergedVersion(mergeRunVersions(entries.map(entryVersion)));
  if (!merged) return [...entries];
  const user: Record<string, Uint8Array> = {};
  for (const e of entries) for (const [name, bytes] of Object.entries(e.user)) user[name] ??= bytes;
  const summaryFrom = [...entries].reverse().find((e) => e.meta.tree === merged.meta.tree) ?? entries.at(-1)!;
  const out: HeadEntry = { runId: entries[0]!.runId, run: merged.run, meta: merged.meta, user, summary: summaryFrom.summary };
  const times = timesFor(entries, { run: merged.run.tree, meta: merged.meta.tree });
  if (times !== undefined) out.times = times;
  Object.assign(out, packHints(entries, { run: merged.run.tree, meta: merged.meta.tree }));
  return [out];
}

/** Everything a reader knows about a remote's runs, and how far its listing got. */
export interface RemoteView {
  /** Every run's merged entries, decoded when first asked for. */
  runs: LazyRuns;
  /** The newest catalog read, if any. */
  catalogKey?: string;
  /** The newest runs its root lists (format 2), newest first: a listing's first page starts there. */
  newestRuns?: NewestRuns;
  /** The newest head key seen. */
  newest?: string;
  /** Head keys seen within `SKEW_MARGIN_MS` before `newest` (read again otherwise). */
  recent: Set<string>;
  /** Heads read that no catalog covers yet (a push compacts when there are many). */
  uncovered: number;
  /**
   * Heads read that the newest catalog read does not hold, each with the runs it changed: what
   * the view holds for a run none of them changed is what the catalog's segment says, so a cached
   * view need not keep it (docs/formats.md, Local state). As read from a cached view: a table of
   * 16-byte ids, converted only when used.
   */
  ahead: Map<string, AheadIds>;
  /** A cached view's blocks of runs not opened yet (`openCachedRuns`; `refreshView` opens them). */
  cached?: CachedRuns;
  /** The blocks `openCachedRuns` opened whole (encodeView copies those unchanged). */
  opened?: OpenedBlock[];
  /** The cached view's file this view was read from (`encodeViewFile` writes over it in place). */
  file?: ViewFileLayout;
}

/** The runs a head ahead changed: ids, or a cached view's table of 16-byte ids. */
export type AheadIds = readonly string[] | Buffer;

/** The ids of an `ahead` list. */
export function* aheadIds(ids: AheadIds): Generator<string> {
  if (!Buffer.isBuffer(ids)) yield* ids;
  else for (let i = 0; i < ids.length / 16; i++) yield idAt(ids, i);
}

export function emptyView(): RemoteView {
  return { runs: new LazyRuns(), recent: new Set(), uncovered: 0, ahead: new Map() };
}

/** Notes the runs a head read (or written) changed, until a catalog holds the head. */
function noteAhead(view: RemoteView, key: string, ids: Iterable<string>): void {
  const list = [...new Set(ids)];
  if (list.length > 0) view.ahead.set(key, list);
}

/** Runs changed by heads the newest catalog read does not hold. */
export function runsAhead(view: RemoteView): Set<string> {
  const out = new Set<string>();
  for (const ids of view.ahead.values()) for (const id of aheadIds(ids)) out.add(id);
  return out;
}

/**
 * Opens a cached view's blocks of runs: with a new catalog (`covers`, `recent`), the block of each
 * head it holds is dropped unread, as the runs a new catalog holds are (its segment holds all the
 * view knew of them), but for the runs an older head it does not hold also changed (a run is in
 * the block of the newest head ahead that changed it); every other block is adopted as read.
 * @throws CachedViewDamaged when a block opened does not match its digest.
 */
export function openCachedRuns(view: RemoteView, catalog?: { covers: string; recent: readonly string[] }): void {
  const cached = view.cached;
  if (cached === undefined) return;
  delete view.cached;
  const holds = new Set(catalog?.recent ?? []);
  const held = (key: string) => catalog !== undefined && catalogHolds(catalog.covers, holds, key);
  const remaining = [...view.ahead.keys()].filter((k) => !held(k));
  for (const block of cached.blocks) {
    if (block.head === undefined || !held(block.head)) {
      const bytes = block.read();
      const runs = runsOf(block, bytes);
      for (const { id, raw } of runs) view.runs.adopt(id, raw);
      (view.opened ??= []).push({ ...(block.head === undefined ? {} : { head: block.head }), offset: block.offset, bytes, sha: block.sha, ids: runs.map((r) => r.id) });
      continue;
    }
    const older = remaining.filter((k) => k < block.head!);
    if (older.length === 0) continue;
    const rescue = new Set<string>();
    for (const k of older) for (const id of aheadIds(view.ahead.get(k)!)) rescue.add(id);
    for (const { id, raw } of blockRuns(block)) if (rescue.has(id)) view.runs.adopt(id, raw);
  }
  view.runs.markStale(cached.stale);
}

/**
 * Whether a catalog holds a head, by the listing's clock rule: its `covers`, its `recent` heads,
 * and every head older than the margin before `covers` (a reader lists only from there).
 */
function catalogHolds(covers: string, recent: ReadonlySet<string>, key: string): boolean {
  return key === covers || recent.has(key) || keyTime(key)! < keyTime(covers)! - SKEW_MARGIN_MS;
}

/**
 * Whether the view read every head a catalog holds: its newest head is at or after `covers`, and
 * each of the catalog's recent heads is one the view read or older than the view's own margin
 * (a head a slow writer added that this view missed, and the catalog's writer saw, is not).
 */
function readAllOf(view: RemoteView, covers: string, recent: readonly string[]): boolean {
  if (view.newest === undefined || covers > view.newest) return false;
  const floor = keyTime(view.newest)! - SKEW_MARGIN_MS;
  return recent.every((k) => view.recent.has(k) || keyTime(k)! < floor);
}

/** Forgets the heads ahead that a catalog now holds. */
function pruneAhead(view: RemoteView, covers: string, recent: readonly string[]): void {
  const held = new Set(recent);
  for (const key of [...view.ahead.keys()]) if (catalogHolds(covers, held, key)) view.ahead.delete(key);
}

/** Merges entries into the view, each run once per call: one merge per run, not per entry. */
function addEntries(view: RemoteView, entries: readonly HeadEntry[]): void {
  const byRun = new Map<string, HeadEntry[]>();
  for (const e of entries) {
    const list = byRun.get(e.runId);
    if (list === undefined) byRun.set(e.runId, [e]);
    else list.push(e);
  }
  for (const [runId, added] of byRun) view.runs.set(runId, reduceEntries([...(view.runs.get(runId) ?? []), ...added]));
}

/**
 * Head and catalog sizes beyond which a file is damaged or hostile (a sparse gigabyte file costs
 * a few KB of disk): a head holds one push, a catalog a whole remote's runs.
 */
export const MAX_HEAD_BYTES = 64 * 1024 * 1024;
export const MAX_CATALOG_BYTES = 256 * 1024 * 1024;

/** Reads a head or catalog, never more than `max` bytes: a bigger one is refused unread. */
export async function readHeadBytes(storage: Pick<Storage, "getBytes">, key: string, max: number): Promise<Buffer> {
  const bytes = await storage.getBytes(key, { start: 0, end: max + 1 });
  if (bytes.length > max) throw new StoreFormatError(key, `${key} is larger than ${max} bytes; refusing to read it`, { hint: "The remote holds a damaged or hostile file: remove it, then push the affected runs again from a good copy." });
  return bytes;
}

/** Notes head keys seen, then drops the recent ones the newest puts out of the margin (once, not per key). */
function noteHeadKeys(view: RemoteView, keys: Iterable<string>): void {
  for (const key of keys) {
    if (view.newest === undefined || key > view.newest) view.newest = key;
    view.recent.add(key);
  }
  if (view.newest === undefined) return;
  const floor = keyTime(view.newest)! - SKEW_MARGIN_MS;
  for (const k of view.recent) if (keyTime(k)! < floor) view.recent.delete(k);
}

/** Records a head this process wrote, so the next refresh need not read it back. */
export function noteHead(view: RemoteView, key: string, entries: readonly HeadEntry[]): void {
  addEntries(view, entries);
  noteAhead(view, key, entries.map((e) => e.runId));
  noteHeadKeys(view, [key]);
  view.uncovered++;
}

export interface RefreshStats {
  /** Heads and catalogs fetched (GETs). */
  fetched: number;
}

/**
 * Brings `view` up to date with the storage: the newest catalog when there is a newer one, then
 * the heads written since (one listing each of `catalog/` and `heads/`). Every head and catalog
 * read is verified against its key. `nowMs` is this reader's clock.
 */
export async function refreshView(storage: Storage, view: RemoteView, nowMs: number = Date.now()): Promise<RefreshStats> {
  let fetched = 0;
  const knownNewest = view.newest;
  const knownCatalog = view.catalogKey;
  let newestCatalog: string | undefined;
  for await (const key of listKeys(storage, CATALOG_PREFIX, view.catalogKey ? { startAfter: view.catalogKey } : {})) {
    if (keyTime(key) !== undefined) newestCatalog = key;
  }
  if (newestCatalog !== undefined) {
    const bytes = await readHeadBytes(storage, newestCatalog, MAX_CATALOG_BYTES);
    fetched++;
    // A view that read every head the catalog covers already holds its runs, merged as the
    // catalog merged them: it only adopts the key. Else the catalog's runs are merged in (taken
    // as read for the runs the view lacks); what the view had beyond `covers` is kept. A format 2
    // root's runs are merged when their segment is loaded: a held run that a head the catalog
    // does not hold changed turns stale; any other is forgotten (its segment holds all of it).
    const root = docVersion(bytes) === 2 ? decodeCatalogRoot(newestCatalog, bytes) : undefined;
    const catalog = root ?? skimStoreDoc(newestCatalog, bytes);
    const covers = catalog.covers!;
    // A format 1 catalog's runs are all in the view (it has no segments): no block is dropped.
    openCachedRuns(view, root === undefined ? undefined : { covers, recent: catalog.recent! });
    let caughtUp = readAllOf(view, covers, catalog.recent!);
    if (!caughtUp && root !== undefined) {
      const read = await catchUp(storage, view, covers, catalog.recent!, nowMs);
      fetched += read ?? 0;
      caughtUp = read !== undefined && readAllOf(view, covers, catalog.recent!);
    }
    pruneAhead(view, covers, catalog.recent!);
    if (root !== undefined) {
      if (caughtUp) view.runs.setSegments(root.segments);
      else {
        const ahead = runsAhead(view);
        const held = [...view.runs.keysHeld()];
        view.runs.setSegments(root.segments, { staleIds: held.filter((id) => ahead.has(id)), forget: held.filter((id) => !ahead.has(id)) });
      }
      view.newestRuns = root.newest;
    } else {
      view.runs.setSegments([]);
      delete view.newestRuns;
      if (!caughtUp) addEntries(view, adoptRuns(view, catalog as SkimmedDoc));
    }
    view.catalogKey = newestCatalog;
    noteHeadKeys(view, [...catalog.recent!, covers]);
    view.uncovered = [...view.recent].filter((k) => k > covers).length;
  }
  openCachedRuns(view);
  // A head named by a clock far ahead must not hide the heads of writers with right clocks: the
  // listing starts no later than this reader's own clock allows.
  const from = view.newest === undefined ? undefined : listingStart(view.newest, nowMs);
  const toRead: string[] = [];
  let sawNewest = false;
  for await (const key of listKeys(storage, HEAD_PREFIX, from ? { startAfter: from } : {})) {
    if (key === knownNewest) sawNewest = true;
    if (keyTime(key) === undefined || view.recent.has(key)) continue;
    toRead.push(key);
  }
  // The newest head this view knows is gone only when gc removed it under a catalog that holds
  // it (the one known, or a newer one just read). Else the remote lost what the view remembers
  // (emptied, or made anew at the same place): trusting the view would have a push skip runs
  // the remote no longer has. Start again from nothing.
  if (knownNewest !== undefined && !sawNewest && newestCatalog === undefined && (knownCatalog === undefined || (await storage.stat(knownCatalog)) === undefined)) {
    view.runs.clear();
    view.recent.clear();
    view.ahead.clear();
    delete view.cached;
    delete view.opened;
    delete view.file;
    delete view.newest;
    delete view.catalogKey;
    delete view.newestRuns;
    view.uncovered = 0;
    return { fetched: 1 + (await refreshView(storage, view, nowMs)).fetched };
  }
  // Entries of every head are merged in one pass: merging head by head re-merged a run's growing
  // list of diverged entries once per entry (quadratic).
  const read: HeadEntry[] = [];
  for (const key of toRead) {
    const doc = skimStoreDoc(key, await readHeadBytes(storage, key, MAX_HEAD_BYTES));
    noteAhead(view, key, [...doc.runs.keys(), ...doc.scattered.map((e) => e.runId)]);
    read.push(...adoptRuns(view, doc));
    view.uncovered++;
    fetched++;
  }
  noteHeadKeys(view, toRead);
  // Heads' entries for runs of segments not loaded merge with them: those segments come first.
  fetched += await loadRuns(view, storage, new Set(read.map((e) => e.runId)));
  addEntries(view, read);
  return { fetched };
}

/** The key a listing of heads starts after: the margin before the newest head, no later than this reader's clock allows. */
function listingStart(newest: string, nowMs: number): string {
  return `${HEAD_PREFIX}${timeKeyPart(Math.min(keyTime(newest)!, nowMs) - SKEW_MARGIN_MS)}`;
}

/**
 * Reads the heads a new catalog holds that the view has not read, when they are few and all
 * there: the view's newest head is one of the catalog's recent ones (so every head the catalog
 * holds and the view missed is named by it or within the view's own margin), and each of those is
 * still listed. Only the runs the view holds take their entries (the catalog's segment holds
 * them for any other run). The view has then read every head the catalog holds: its held runs
 * need no segment. Returns the heads read, or `undefined` (nothing changed) when it cannot.
 */
async function catchUp(storage: Storage, view: RemoteView, covers: string, recent: readonly string[], nowMs: number): Promise<number | undefined> {
  if (view.newest === undefined || !(view.newest === covers || recent.includes(view.newest))) return undefined;
  const listed = new Set<string>();
  for await (const key of listKeys(storage, HEAD_PREFIX, { startAfter: listingStart(view.newest, nowMs) })) if (keyTime(key) !== undefined) listed.add(key);
  // A gc removed heads the view read up to: the catalog alone says what they held.
  if (!listed.has(view.newest)) return undefined;
  const floor = keyTime(view.newest)! - SKEW_MARGIN_MS;
  for (const k of [...recent, covers]) if (!view.recent.has(k) && keyTime(k)! >= floor && !listed.has(k)) return undefined;
  const holds = new Set(recent);
  const toRead = [...listed].filter((k) => !view.recent.has(k) && catalogHolds(covers, holds, k));
  const entries: HeadEntry[] = [];
  for (const key of toRead) {
    const doc = skimStoreDoc(key, await readHeadBytes(storage, key, MAX_HEAD_BYTES));
    for (const [id, raw] of doc.runs) if (view.runs.holdsWhole(id)) entries.push(...decodeAdopted(id, raw));
    for (const e of doc.scattered) if (view.runs.holdsWhole(e.runId)) entries.push(e);
  }
  addEntries(view, entries);
  noteHeadKeys(view, toRead);
  return toRead.length;
}

/**
 * Fetches the catalog segments that hold `ids` (those not loaded yet), and merges their runs into
 * the view as a catalog's runs are merged. Returns how many segments were fetched.
 */
export async function loadRuns(view: RemoteView, storage: Pick<Storage, "getBytes">, ids: Iterable<string>): Promise<number> {
  return loadSegments(view, storage, view.runs.unloaded(ids));
}

/**
 * Fetches the root's copy of its newest runs (one small segment), and takes those the view does
 * not hold: a first page of a listing needs no other segment. Returns how many were fetched.
 */
export async function loadNewestRuns(view: RemoteView, storage: Pick<Storage, "getBytes">): Promise<number> {
  const ref = view.newestRuns === undefined ? undefined : newestSegment(view.newestRuns);
  if (ref === undefined) return 0;
  view.runs.takeCopies(await readSegment(storage, ref));
  return 1;
}

/** Fetches every catalog segment not loaded yet: the view then holds every run. */
export async function loadAllRuns(view: RemoteView, storage: Pick<Storage, "getBytes">): Promise<number> {
  view.runs.skipHeldSegments();
  return loadSegments(view, storage, view.runs.unloaded());
}

/** Segments fetched at once (each a GET of up to a few MB). */
const SEGMENT_CONCURRENCY = 4;

async function loadSegments(view: RemoteView, storage: Pick<Storage, "getBytes">, segments: TableSegment[]): Promise<number> {
  const merge = (held: HeadEntry[], segment: HeadEntry[]) => reduceEntries([...held, ...segment]);
  for (let i = 0; i < segments.length; i += SEGMENT_CONCURRENCY) {
    const batch = segments.slice(i, i + SEGMENT_CONCURRENCY);
    const runs = await Promise.all(batch.map((seg) => readSegment(storage, seg)));
    batch.forEach((seg, k) => view.runs.loadSegment(seg, runs[k]!, merge));
  }
  return segments.length;
}

/**
 * Takes the runs of a head or catalog the view lacks as read (one entry, or a catalog's merged
 * entries); returns the entries to merge: those of runs the view holds, decoded.
 */
function adoptRuns(view: RemoteView, doc: SkimmedDoc): HeadEntry[] {
  const merged: HeadEntry[] = [...doc.scattered];
  const catalog = doc.covers !== undefined;
  for (const [id, raw] of doc.runs) {
    if (!view.runs.has(id) && (catalog || raw.n === 1)) view.runs.adopt(id, raw);
    else merged.push(...decodeAdopted(id, raw));
  }
  return merged;
}

/** A catalog run's entries, decoded (a run the view already holds is merged with them). */
function decodeAdopted(id: string, raw: RawRun): HeadEntry[] {
  const runs = new LazyRuns();
  runs.adopt(id, raw);
  return runs.get(id)!;
}

/**
 * Writes a catalog of `view` (after a push, when many heads are uncovered; gc): the view's runs in
 * id order, cut into segments along the previous root's ranges (an unchanged range is the same
 * segment, not written again), then the root naming them. Every segment is loaded first: a
 * catalog holds every run. Runs held as read are copied as their bytes, not decoded.
 */
export async function writeCatalog(storage: Storage, view: RemoteView, nowMs: number): Promise<string | undefined> {
  if (view.newest === undefined) return undefined;
  await loadAllRuns(view, storage);
  const runs = runBytesOf(view.runs);
  const before = new Set(view.runs.segments().map((s) => s.key));
  const segments = cutSegments(runs, view.runs.segments(), segmentRuns()).map(encodeSegment);
  for (let i = 0; i < segments.length; i += SEGMENT_CONCURRENCY) {
    await Promise.all(segments.slice(i, i + SEGMENT_CONCURRENCY).filter((seg) => !before.has(seg.key)).map((seg) => storage.put(seg.key, seg.bytes)));
  }
  const refs = segments.map((seg) => seg.ref);
  const newest = newestOf(view.runs, runs.map((r) => r.id));
  if (newest.ids.length > 0) {
    const top = new Set(newest.ids);
    const copy = encodeSegment(runs.filter((r) => top.has(r.id)));
    if (copy.key !== view.newestRuns?.key && !before.has(copy.key)) await storage.put(copy.key, copy.bytes);
    newest.key = copy.key;
  }
  const bytes = encodeCatalogRoot({ covers: view.newest, recent: [...view.recent], count: runs.length, segments: refs, newest });
  const key = `${CATALOG_PREFIX}${timeKeyPart(nowMs)}-${hashBytes(bytes)}`;
  await storage.put(key, bytes);
  view.runs.setSegments(refs, { loaded: true });
  pruneAhead(view, view.newest, [...view.recent]);
  view.newestRuns = newest;
  view.catalogKey = key;
  view.uncovered = 0;
  return key;
}
