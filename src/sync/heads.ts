import { Packr } from "msgpackr/pack";
import { hashBytes, isObjectId, listKeys } from "../objects/index.js";
import type { Storage } from "../remotes/storage.js";
import { isRunId } from "../runs/layout.js";
import { StoreFormatError } from "./errors.js";
import { mergeRunVersions, mergedVersion, type RunVersion, type TreeVersion } from "./merge.js";

/**
 * Heads and catalogs: how a store remote says which runs it holds (docs/design.md §6–7, docs/formats.md).
 *
 * Key layout (fixed-length hex under fixed prefixes, so every backend lists them alike):
 *   packs/<64 hex>.pack, packs/<64 hex>.idx   objects (src/objects), written first
 *   heads/<12 hex ms>-<64 hex>                one push: the runs it wrote, written last
 *   catalog/<12 hex ms>-<64 hex>              a compaction of all heads up to a point
 *
 * A head is immutable and named by its write time then the SHA-256 of its bytes, so heads sort by
 * time, concurrent pushes never collide, and a reader verifies what it read. One push writes one
 * head however many runs it carries (thousands of runs cost one PUT, not thousands).
 *
 * A run's remote state is the merge of every head entry for it (merge.ts). A reader starts from the
 * newest catalog and lists only the heads written since (minus a clock-skew margin), so listing a
 * remote with 100,000 runs costs one catalog GET and one short listing.
 */

export const HEAD_PREFIX = "heads/";
export const CATALOG_PREFIX = "catalog/";

/** Heads written this long before the newest one seen are listed again: writers' clocks differ. */
export const SKEW_MARGIN_MS = 10 * 60 * 1000;

/** What `gage ls --remote` shows without fetching files. */
export interface RunSummary {
  operation: string;
  status: string;
  /** Epoch microseconds, as Gage's meta. */
  started?: number;
  staged?: number;
  initialized?: number;
}

/** One run in one head: its trees (with what they supersede), its user log, its summary. */
export interface HeadEntry {
  runId: string;
  run: TreeVersion;
  meta: TreeVersion;
  /** `ID.user/` file name → the file's bytes (small JSON; carried inline). */
  user: Record<string, Uint8Array>;
  summary: RunSummary;
  /** Where the files' modification times are (docs/formats.md): absent in heads of earlier releases. */
  times?: EntryTimes;
}

/** A version's modification times, beside its trees (never part of them: see objects/times.ts). */
export interface EntryTimes {
  /** Times object of the `run` tree's files. */
  run?: string;
  /** Times object of the `meta` tree's files. */
  meta?: string;
  /** `ID.user/` file name → its modification time (µs since the epoch). */
  user?: Record<string, number>;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const HEAD_KEY_RE = /^(?:heads|catalog)\/([0-9a-f]{12})-([0-9a-f]{64})$/;
const USER_NAME_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json$/;

/** Run ids a store holds: Gage's lower-case UUIDs (they name folders on every reader's disk). */
export const isStoreRunId = (id: string): boolean => isRunId(id);

/** `ID.user/` names a store holds: Gage's time-ordered `{uuid}.json`. */
export const isUserLogName = (name: string): boolean => USER_NAME_RE.test(name);

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
  entries: HeadEntry[];
}

export function encodeCatalog(doc: CatalogDoc, nowMs: number): { key: string; bytes: Buffer } {
  const bytes = Buffer.from(packr.pack({ v: 1, covers: doc.covers, recent: doc.recent, entries: doc.entries.map(plainEntry) }));
  return { key: `${CATALOG_PREFIX}${timeKeyPart(nowMs)}-${hashBytes(bytes)}`, bytes };
}

export function decodeCatalog(key: string, bytes: Uint8Array): CatalogDoc {
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

function decodeVerified(key: string, bytes: Uint8Array): unknown {
  const m = HEAD_KEY_RE.exec(key);
  if (!m) throw new StoreFormatError(key, `Not a head or catalog key: ${key}`);
  const actual = hashBytes(bytes);
  if (actual !== m[2]) throw new StoreFormatError(key, `${key} is corrupt: its bytes hash to ${actual}`, { hint: "Push the affected runs again from a good copy." });
  try {
    const doc = packr.unpack(bytes) as unknown;
    if (typeof doc !== "object" || doc === null) throw new Error("not a map");
    return doc;
  } catch (err) {
    throw new StoreFormatError(key, `${key} cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
}

/** A head entry as heads, catalogs and the cached view encode it. */
export function plainEntry(e: HeadEntry): unknown {
  return {
    runId: e.runId,
    run: { tree: e.run.tree, prior: [...e.run.prior] },
    meta: { tree: e.meta.tree, prior: [...e.meta.prior] },
    user: Object.fromEntries(Object.entries(e.user).map(([n, b]) => [n, Buffer.from(b)])),
    summary: e.summary,
    ...(e.times === undefined ? {} : { times: e.times }),
  };
}

/** Accepts only the forms a head may hold: a hostile remote cannot smuggle in paths or ids. */
export function checkEntry(key: string, raw: unknown): HeadEntry {
  const bad = (why: string): never => {
    throw new StoreFormatError(key, `${key} holds a malformed run entry: ${why}`);
  };
  if (typeof raw !== "object" || raw === null) bad("not a map");
  const e = raw as Record<string, unknown>;
  if (!isRunId(e.runId)) bad(`run id ${JSON.stringify(e.runId)}`);
  const tree = (t: unknown, what: string): TreeVersion => {
    const v = t as { tree?: unknown; prior?: unknown } | null;
    if (!v || !isObjectId(v.tree) || !Array.isArray(v.prior) || !v.prior.every(isObjectId)) bad(`${what} tree`);
    return { tree: v!.tree as string, prior: v!.prior as string[] };
  };
  const user: Record<string, Uint8Array> = {};
  if (typeof e.user !== "object" || e.user === null) bad("user log");
  for (const [name, bytes] of Object.entries(e.user as object)) {
    if (!USER_NAME_RE.test(name) || !(bytes instanceof Uint8Array)) bad(`user log entry ${JSON.stringify(name)}`);
    user[name] = bytes as Uint8Array;
  }
  const s = e.summary as Record<string, unknown> | null;
  if (!s || typeof s.operation !== "string" || typeof s.status !== "string") bad("summary");
  const summary: RunSummary = { operation: s!.operation as string, status: s!.status as string };
  for (const t of ["started", "staged", "initialized"] as const) if (typeof s![t] === "number") summary[t] = s![t] as number;
  const entry: HeadEntry = { runId: e.runId as string, run: tree(e.run, "run"), meta: tree(e.meta, "meta"), user, summary };
  const times = checkTimes(e.times);
  if (times !== undefined) entry.times = times;
  return entry;
}

/** Times are hints: a malformed field is left out, never an error (an earlier release writes none). */
function checkTimes(raw: unknown): EntryTimes | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const t = raw as Record<string, unknown>;
  const out: EntryTimes = {};
  if (isObjectId(t.run)) out.run = t.run;
  if (isObjectId(t.meta)) out.meta = t.meta;
  if (typeof t.user === "object" && t.user !== null) {
    const user: Record<string, number> = {};
    for (const [name, us] of Object.entries(t.user)) if (USER_NAME_RE.test(name) && Number.isSafeInteger(us)) user[name] = us as number;
    if (Object.keys(user).length > 0) out.user = user;
  }
  return Object.keys(out).length > 0 ? out : undefined;
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
  return [out];
}

/** Everything a reader knows about a remote's runs, and how far its listing got. */
export interface RemoteView {
  runs: Map<string, HeadEntry[]>;
  /** The newest catalog read, if any. */
  catalogKey?: string;
  /** The newest head key seen. */
  newest?: string;
  /** Head keys seen within `SKEW_MARGIN_MS` before `newest` (read again otherwise). */
  recent: Set<string>;
  /** Heads read that no catalog covers yet (a push compacts when there are many). */
  uncovered: number;
}

export function emptyView(): RemoteView {
  return { runs: new Map(), recent: new Set(), uncovered: 0 };
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

function noteHeadKey(view: RemoteView, key: string): void {
  if (view.newest === undefined || key > view.newest) view.newest = key;
  view.recent.add(key);
  const floor = keyTime(view.newest)! - SKEW_MARGIN_MS;
  for (const k of view.recent) if (keyTime(k)! < floor) view.recent.delete(k);
}

/** Records a head this process wrote, so the next refresh need not read it back. */
export function noteHead(view: RemoteView, key: string, entries: readonly HeadEntry[]): void {
  addEntries(view, entries);
  noteHeadKey(view, key);
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
    const catalog = decodeCatalog(newestCatalog, await readHeadBytes(storage, newestCatalog, MAX_CATALOG_BYTES));
    fetched++;
    // The catalog holds everything up to its `covers`; what this view had beyond it is kept.
    addEntries(view, catalog.entries);
    view.catalogKey = newestCatalog;
    for (const k of catalog.recent) noteHeadKey(view, k);
    noteHeadKey(view, catalog.covers);
    view.uncovered = 0;
  }
  // A head named by a clock far ahead must not hide the heads of writers with right clocks: the
  // listing starts no later than this reader's own clock allows.
  const from = view.newest === undefined ? undefined : `${HEAD_PREFIX}${timeKeyPart(Math.min(keyTime(view.newest)!, nowMs) - SKEW_MARGIN_MS)}`;
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
    delete view.newest;
    delete view.catalogKey;
    view.uncovered = 0;
    return { fetched: 1 + (await refreshView(storage, view, nowMs)).fetched };
  }
  // Entries of every head are merged in one pass: merging head by head re-merged a run's growing
  // list of diverged entries once per entry (quadratic).
  const read: HeadEntry[] = [];
  for (const key of toRead) {
    for (const e of decodeHead(key, await readHeadBytes(storage, key, MAX_HEAD_BYTES))) read.push(e);
    noteHeadKey(view, key);
    view.uncovered++;
    fetched++;
  }
  addEntries(view, read);
  return { fetched };
}

/** Writes a catalog of `view` (after a push, when many heads are uncovered). */
export async function writeCatalog(storage: Storage, view: RemoteView, nowMs: number): Promise<string | undefined> {
  if (view.newest === undefined) return undefined;
  const entries = [...view.runs.values()].flat();
  const { key, bytes } = encodeCatalog({ covers: view.newest, recent: [...view.recent], entries }, nowMs);
  await storage.put(key, bytes);
  view.catalogKey = key;
  view.uncovered = 0;
  return key;
}
