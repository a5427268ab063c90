import { Packr } from "msgpackr/pack";
import { checkEntry, checkSummary, checkUser, plainEntry, type HeadEntry, type RunSummary } from "./head-entry.js";
import { containerAt, skipValue, stringAt } from "./msgpack-spans.js";
import { StoreFormatError } from "./errors.js";

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
 * Costs differ by method, as a `Map` does not say: `has`, `size`, `keys`, `set`, `delete`, `adopt`
 * decode nothing; `get` decodes one run; `values`, `entries`, iteration and `forEach` decode every
 * run (a command that needs only some runs asks for them by id).
 */
export class LazyRuns extends Map<string, HeadEntry[]> {
  /** Runs as read: kept once decoded (the decoded entries are in the map itself), so a view written back copies them. */
  readonly #raw = new Map<string, RawRun>();
  /** Runs set as entries, with no bytes read. */
  readonly #plain = new Set<string>();

  #decodeAll(): void {
    for (const id of this.#raw.keys()) this.get(id);
  }

  /** Takes a run's entries as read (replacing what the map held for it). */
  adopt(id: string, raw: RawRun): void {
    super.delete(id);
    this.#plain.delete(id);
    this.#raw.set(id, raw);
  }

  /** A run's entries as read, while they are what the map holds for it. */
  raw(id: string): RawRun | undefined {
    return this.#raw.get(id);
  }

  /** How many entries a run has (more than one: it diverged), without decoding them. */
  count(id: string): number {
    return super.get(id)?.length ?? this.#raw.get(id)?.n ?? 0;
  }

  /** Whether a run's entries have been decoded (or set). */
  decoded(id: string): boolean {
    return super.has(id);
  }

  /** The summary of a run's last entry (what listings sort and show), without decoding the rest. */
  summary(id: string): RunSummary | undefined {
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
    const decoded = super.get(id);
    if (decoded !== undefined) return decoded;
    const raw = this.#raw.get(id);
    if (raw === undefined) return undefined;
    const entries = decodeRawRun(id, raw);
    super.set(id, entries);
    return entries;
  }

  override has(id: string): boolean {
    return this.#raw.has(id) || this.#plain.has(id);
  }

  override set(id: string, entries: HeadEntry[]): this {
    this.#raw.delete(id);
    this.#plain.add(id);
    return super.set(id, entries);
  }

  override delete(id: string): boolean {
    const had = this.has(id);
    this.#raw.delete(id);
    this.#plain.delete(id);
    super.delete(id);
    return had;
  }

  override clear(): void {
    this.#raw.clear();
    this.#plain.clear();
    super.clear();
  }

  override get size(): number {
    return this.#raw.size + this.#plain.size;
  }

  override keys(): MapIterator<string> {
    // Ids need no decoding: a pull that passes over the runs found in sync decodes none of them.
    return chain(this.#raw.keys(), this.#plain.values());
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
  *stored(): Generator<{ id: string; raw: RawRun } | { id: string; entries: HeadEntry[] }> {
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

// Raw and plain ids are disjoint: a run is in one of them.
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
function decodeRawRun(id: string, raw: RawRun): HeadEntry[] {
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
