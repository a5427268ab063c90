import { Packr } from "msgpackr/pack";
import { checkEntry, checkSummary, checkUser, plainEntry, type HeadEntry, type RunSummary } from "./head-entry.js";
import { containerAt, skipValue, stringAt } from "./msgpack-spans.js";
import { StoreFormatError } from "./errors.js";
import { idAt, SegmentTable, type SegmentRef, type TableSegment } from "./segment-table.js";

const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * One run's entries as read and not yet decoded: bytes `b[p, end)` hold `n` msgpack entry maps
 * one after another, read from `from` (a catalog's key, or `cache` for the cached view). `record`
 * is where the run's whole record starts when `b` is a cached view's runs section.
 */
export interface RawRun {
  b: Buffer;
  p: number;
  end: number;
  n: number;
  from: string;
  record?: number;
}

/**
 * A view's runs, each decoded from the bytes it was read as (a catalog, the cached view) when
 * first asked for: a command pays for the runs it looks at, not for the 100,000 it does not.
 *
 * A run is held in one of four ways: as read (raw), as set (plain), or listed by a catalog segment
 * not yet fetched (pending: `has`, `keys` and `size` know it; `loadRuns` in heads.ts fetches it).
 * A held run may also be listed by a segment not loaded: the held version is then the whole story,
 * unless the run is stale (changed by a head the newer catalog does not hold, held from before
 * that catalog was adopted: its segment's entries are merged in when the segment is loaded). Reading a pending or stale run throws: a caller that
 * forgot to load what it reads must fail, never take the run for absent (gc would delete what it
 * reaches).
 *
 * Costs differ by method, as a `Map` does not say: `has`, `size`, `keys`, `set`, `delete`, `adopt`
 * decode nothing; `get` decodes one run; `values`, `entries`, iteration and `forEach` decode every
 * run (a command that needs only some runs asks for them by id).
 */
export class LazyRuns extends Map<string, HeadEntry[]> {
  /** Runs as read: kept once decoded (the decoded entries are in the map itself), so a view written back copies them. */
  readonly #raw = new Map<string, RawRun>();
  /** Runs set as entries, with no bytes read. */
  readonly #plain = new Set<string>();
  /** The newest catalog's segments (none for a catalog of format 1). */
  #table = new SegmentTable([]);
  /** Held runs whose segment's entries are still to be merged in. */
  readonly #stale = new Set<string>();
  /** Held runs loaded from their segment (or written to it) by this command: a view keeps them only for the runs directory. */
  readonly #fromSegment = new Set<string>();
  #size: number | undefined;

  #decodeAll(): void {
    this.#assertLoaded();
    for (const id of this.#raw.keys()) this.get(id);
  }

  #held(id: string): boolean {
    return this.#raw.has(id) || this.#plain.has(id);
  }

  /** Throws when `id` cannot be answered without loading a segment. */
  #assertHeld(id: string): void {
    if (this.#stale.has(id) || (!this.#held(id) && this.#table.pending(id) !== undefined)) {
      throw new Error(`internal: run ${id} is in catalog segment ${this.#table.find(id)?.key}, not loaded (call loadRuns first)`);
    }
  }

  #assertLoaded(): void {
    const seg = this.#table.segments.find((s) => !s.loaded);
    if (seg !== undefined || this.#stale.size > 0) throw new Error(`internal: catalog segment ${seg?.key ?? "of a stale run"} is not loaded (call loadAllRuns first)`);
  }

  /**
   * Takes a newer catalog's segments (none loaded, unless `loaded`). `staleIds`: held runs it lists
   * whose segment's entries are to be merged in when loaded (the view had not read every head the
   * catalog covers, and read some head it does not). `forget`: held runs it lists that are
   * dropped, so that their segment's entries are taken as they are when loaded (every head the view
   * read for them is in the catalog, so their segment holds all the view held, and maybe more).
   */
  setSegments(refs: readonly SegmentRef[], opts: { loaded?: boolean; staleIds?: Iterable<string>; forget?: Iterable<string> } = {}): void {
    this.#table = new SegmentTable(refs, opts.loaded ?? false);
    this.#size = undefined;
    const stillListed = this.#table.listed(this.#stale);
    for (const id of this.#stale) if (!stillListed.has(id)) this.#stale.delete(id);
    if (opts.forget !== undefined) {
      for (const id of this.#table.listed([...opts.forget].filter((id) => this.#held(id)))) {
        this.#raw.delete(id);
        this.#plain.delete(id);
        this.#fromSegment.delete(id);
        this.#stale.delete(id);
        super.delete(id);
      }
    }
    if (opts.staleIds !== undefined) this.markStale(opts.staleIds);
    if (opts.loaded) for (const id of this.#table.listed(this.keysHeld())) this.#fromSegment.add(id);
  }

  /** Held runs of `ids` the catalog's segments list become stale: their segment's entries are to be merged in. */
  markStale(ids: Iterable<string>): void {
    const held = [...ids].filter((id) => this.#held(id));
    if (held.length > 0) for (const id of this.#table.listed(held)) this.#stale.add(id);
  }

  /** Those of `ids` the catalog's segments list (loaded or not), found in one walk of the tables. */
  listed(ids: Iterable<string>): Set<string> {
    return this.#table.listed(ids);
  }

  /** The segments of the current catalog, in id order. */
  segments(): readonly TableSegment[] {
    return this.#table.segments;
  }

  /** The segments not loaded that list any of `ids` (stale runs' included); every one not loaded without `ids`. */
  unloaded(ids?: Iterable<string>): TableSegment[] {
    if (ids === undefined) return this.#table.segments.filter((s) => !s.loaded);
    const out = new Set<TableSegment>();
    for (const id of ids) {
      const seg = this.#table.pending(id);
      if (seg !== undefined && (this.#stale.has(id) || !this.#held(id))) out.add(seg);
    }
    return [...out];
  }

  /** Takes segments whose every run the view holds (none stale) as loaded: fetching them would add nothing. */
  skipHeldSegments(): void {
    for (const seg of this.#table.segments) {
      if (seg.loaded) continue;
      let all = true;
      for (let i = 0; i < seg.n && all; i++) {
        const id = idAt(seg.ids, i);
        all = this.#held(id) && !this.#stale.has(id);
      }
      if (all) seg.loaded = true;
    }
    this.#size = undefined;
  }

  /** Ids the catalog's segments list that start with `prefix`, and held ones. */
  idsWithPrefix(prefix: string): string[] {
    const out = new Set(this.#table.withPrefix(prefix));
    for (const id of this.keysHeld()) if (id.startsWith(prefix)) out.add(id);
    return [...out];
  }

  /**
   * Takes a loaded segment's runs (checked against its table by the caller): each run not held is
   * taken as read, a stale one merged by `merge`, a held one kept as held.
   */
  loadSegment(seg: TableSegment, runs: ReadonlyMap<string, RawRun>, merge: (held: HeadEntry[], segment: HeadEntry[]) => HeadEntry[]): void {
    if (seg.loaded) return;
    for (const [id, raw] of runs) {
      if (this.#stale.has(id)) {
        this.#stale.delete(id);
        this.set(id, merge(this.get(id)!, decodeRawRun(id, raw)));
      } else if (!this.#held(id)) {
        this.adopt(id, raw);
        this.#fromSegment.add(id);
      }
    }
    seg.loaded = true;
    this.#size = undefined;
  }

  /** Held runs exactly as their segment says. */
  fromSegmentIds(): IterableIterator<string> {
    return this.#fromSegment.values();
  }

  /** Whether a held run is exactly as its segment says (gc's dry run: that segment's bytes are unchanged). */
  fromSegment(id: string): boolean {
    return this.#fromSegment.has(id);
  }

  /**
   * Takes a root's copies of runs its segments list (its newest runs): each one the view neither
   * holds nor waits to merge is taken as read, as if from its segment.
   */
  takeCopies(runs: ReadonlyMap<string, RawRun>): void {
    for (const [id, raw] of runs) {
      if (this.#held(id) || this.#stale.has(id) || this.#table.pending(id) === undefined) continue;
      this.adopt(id, raw);
      this.#fromSegment.add(id);
    }
  }

  /** Whether the view holds a run's entries and they are all it knows (held, not stale). */
  holdsWhole(id: string): boolean {
    return this.#held(id) && !this.#stale.has(id);
  }

  /** Whether a held run still waits for its segment's entries. */
  stale(id: string): boolean {
    return this.#stale.has(id);
  }

  /** Held runs that still wait for their segment's entries. */
  staleIds(): string[] {
    return [...this.#stale];
  }

  /** Takes a run's entries as read (replacing what the map held for it). */
  adopt(id: string, raw: RawRun): void {
    super.delete(id);
    this.#plain.delete(id);
    this.#fromSegment.delete(id);
    this.#stale.delete(id);
    if (!this.#raw.has(id)) this.#size = undefined;
    this.#raw.set(id, raw);
  }

  /** A run's entries as read, while they are what the map holds for it. */
  raw(id: string): RawRun | undefined {
    return this.#raw.get(id);
  }

  /** How many entries a run has (more than one: it diverged), without decoding them. */
  count(id: string): number {
    this.#assertHeld(id);
    return super.get(id)?.length ?? this.#raw.get(id)?.n ?? 0;
  }

  /** Whether a run's entries have been decoded (or set). */
  decoded(id: string): boolean {
    return super.has(id);
  }

  /** The summary of a run's last entry (what listings sort and show), without decoding the rest. */
  summary(id: string): RunSummary | undefined {
    this.#assertHeld(id);
    const decoded = super.get(id);
    if (decoded !== undefined) return decoded.at(-1)!.summary;
    const raw = this.#raw.get(id);
    return raw === undefined ? undefined : rawSummary(id, raw) ?? this.get(id)!.at(-1)!.summary;
  }

  /**
   * A run's `ID.user/` entries, union of its entries' (first wins), without decoding its trees
   * when it was not decoded: what a listing's labels need.
   */
  user(id: string): Map<string, Uint8Array> | undefined {
    this.#assertHeld(id);
    const decoded = super.get(id);
    const raw = this.#raw.get(id);
    const out = new Map<string, Uint8Array>();
    if (decoded === undefined && raw !== undefined) {
      const users = rawField(raw, "user");
      if (users !== undefined) {
        // A malformed map: the whole run's decode says what is wrong, with the file's key.
        const bad = (why: string): never => {
          decodeRawRun(id, raw);
          throw new TypeError(why);
        };
        for (const u of users) for (const [name, bytes] of Object.entries(checkUser(u, bad))) if (!out.has(name)) out.set(name, bytes);
        return out;
      }
    }
    const entries = this.get(id);
    if (entries === undefined) return undefined;
    for (const e of entries) for (const [name, bytes] of Object.entries(e.user)) if (!out.has(name)) out.set(name, bytes);
    return out;
  }

  override get(id: string): HeadEntry[] | undefined {
    this.#assertHeld(id);
    const decoded = super.get(id);
    if (decoded !== undefined) return decoded;
    const raw = this.#raw.get(id);
    if (raw === undefined) return undefined;
    const entries = decodeRawRun(id, raw);
    super.set(id, entries);
    return entries;
  }

  override has(id: string): boolean {
    return this.#held(id) || this.#table.pending(id) !== undefined;
  }

  override set(id: string, entries: HeadEntry[]): this {
    if (!this.#held(id)) this.#size = undefined;
    this.#raw.delete(id);
    this.#plain.add(id);
    this.#fromSegment.delete(id);
    this.#stale.delete(id);
    return super.set(id, entries);
  }

  override delete(id: string): boolean {
    this.#assertHeld(id);
    const had = this.has(id);
    this.#raw.delete(id);
    this.#plain.delete(id);
    this.#fromSegment.delete(id);
    this.#size = undefined;
    super.delete(id);
    return had;
  }

  override clear(): void {
    this.#raw.clear();
    this.#plain.clear();
    this.#stale.clear();
    this.#fromSegment.clear();
    this.#table = new SegmentTable([]);
    this.#size = undefined;
    super.clear();
  }

  override get size(): number {
    if (this.#size === undefined) {
      let shadowed = 0;
      if (this.#table.segments.some((s) => !s.loaded)) for (const id of this.keysHeld()) if (this.#table.pending(id) !== undefined) shadowed++;
      this.#size = this.#raw.size + this.#plain.size + this.#table.pendingCount() - shadowed;
    }
    return this.#size;
  }

  /** Ids of the runs held (read or set), not those only a segment not loaded lists. */
  keysHeld(): MapIterator<string> {
    return chain(this.#raw.keys(), this.#plain.values());
  }

  override keys(): MapIterator<string> {
    // Ids need no decoding: a pull that passes over the runs found in sync decodes none of them.
    const pending = function* (self: LazyRuns, table: SegmentTable): Generator<string> {
      for (const id of table.pendingIds()) if (!self.#held(id)) yield id;
    };
    return chain(this.keysHeld(), pending(this, this.#table));
  }

  /**
   * Ids as `keys` gives them, last first, without the others: a command that wants the last few
   * of 100,000 ids (status's rows of runs only on the remote) converts those few.
   */
  *keysFromLast(): Generator<string> {
    const segs = this.#table.segments;
    for (let k = segs.length - 1; k >= 0; k--) {
      const seg = segs[k]!;
      if (seg.loaded) continue;
      for (let i = seg.n - 1; i >= 0; i--) {
        const id = idAt(seg.ids, i);
        if (!this.#held(id)) yield id;
      }
    }
    yield* [...this.#plain].reverse();
    yield* [...this.#raw.keys()].reverse();
  }

  override values(): MapIterator<HeadEntry[]> {
    this.#decodeAll();
    return super.values();
  }

  override entries(): MapIterator<[string, HeadEntry[]]> {
    this.#decodeAll();
    return super.entries();
  }

  override [Symbol.iterator](): MapIterator<[string, HeadEntry[]]> {
    return this.entries();
  }

  override forEach(fn: (entries: HeadEntry[], id: string, map: Map<string, HeadEntry[]>) => void, thisArg?: unknown): void {
    this.#decodeAll();
    super.forEach(fn, thisArg);
  }

  /** Every run, as read when it was (decoded or not; in the order read), else as set. Decodes nothing. */
  stored(): Generator<{ id: string; raw: RawRun } | { id: string; entries: HeadEntry[] }> {
    this.#assertLoaded();
    return this.held();
  }

  /** The runs held (not those only a segment not loaded lists), as `stored` gives them. */
  *held(): Generator<{ id: string; raw: RawRun } | { id: string; entries: HeadEntry[] }> {
    for (const [id, raw] of this.#raw) yield { id, raw };
    for (const id of this.#plain) yield { id, entries: super.get(id)! };
  }
}

/** The value of field `name` of each entry of `raw`, decoded alone; `undefined` when an entry lacks it or cannot be read so. */
function rawField(raw: RawRun, name: string): unknown[] | undefined {
  try {
    const out: unknown[] = [];
    let p = raw.p;
    for (let i = 0; i < raw.n; i++) {
      const map = containerAt(raw.b, p);
      if (map?.kind !== "map") return undefined;
      let at = map.body;
      let found = false;
      for (let k = 0; k < map.count; k++) {
        const key = stringAt(raw.b, at);
        if (key === undefined) return undefined;
        const end = skipValue(raw.b, key.end);
        if (key.value === name && !found) {
          out.push(packr.unpack(raw.b.subarray(key.end, end)));
          found = true;
        }
        at = end;
      }
      if (!found) return undefined;
      p = at;
    }
    return out;
  } catch {
    return undefined;
  }
}

/**
 * The summary of the last entry of `raw`, checked as `checkEntry` checks it; `undefined` when it
 * cannot be read that way (the caller decodes the whole run, which says what is wrong).
 */
function rawSummary(id: string, raw: RawRun): RunSummary | undefined {
  try {
    let p = raw.p;
    for (let i = 1; i < raw.n; i++) p = skipValue(raw.b, p);
    const map = containerAt(raw.b, p);
    if (map?.kind !== "map") return undefined;
    let at = map.body;
    let summary: RunSummary | undefined;
    let runId: string | undefined;
    for (let i = 0; i < map.count; i++) {
      const name = stringAt(raw.b, at);
      if (name === undefined) return undefined;
      const end = skipValue(raw.b, name.end);
      if (name.value === "summary") summary = checkSummary(packr.unpack(raw.b.subarray(name.end, end)));
      else if (name.value === "runId") runId = stringAt(raw.b, name.end)?.value;
      at = end;
    }
    return runId === id ? summary : undefined;
  } catch {
    return undefined;
  }
}

// Raw and plain ids are disjoint (a run is in one of them), and pending ids are neither.
function* chain(a: Iterable<string>, b: Iterable<string>): MapIterator<string> {
  yield* a;
  yield* b;
  return undefined;
}

/** A run's entries as consecutive msgpack maps (the form of a catalog's and a view's runs). */
export function packEntries(entries: readonly HeadEntry[]): Buffer {
  // Copied out: the packer reuses its buffer for the next value.
  return Buffer.concat(entries.map((e) => Buffer.from(packr.pack(plainEntry(e)))));
}

/** Decodes and checks a run read as `raw`: a catalog's damage is the remote's, the cache's a local file's. */
export function decodeRawRun(id: string, raw: RawRun): HeadEntry[] {
  const fail = (why: string): never => {
    if (raw.from === "cache") throw new TypeError(`the cached view holds a malformed entry for run ${id}`);
    throw new StoreFormatError(raw.from, `${raw.from} holds a malformed run entry: ${why}`, { hint: "Push the affected runs again from a good copy." });
  };
  let docs: unknown[] = [];
  try {
    docs = packr.unpackMultiple(raw.b.subarray(raw.p, raw.end)) as unknown[];
  } catch (err) {
    fail((err as Error).message);
  }
  if (docs.length !== raw.n || docs.length === 0) fail(`run ${id} has ${docs.length} entries where ${raw.n} were listed`);
  const entries = docs.map((e) => checkEntry(raw.from === "cache" ? "cache" : raw.from, e));
  if (entries.some((e) => e.runId !== id)) fail(`an entry of run ${id} names another run`);
  return entries;
}
