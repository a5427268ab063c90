import { Packr } from "msgpackr/pack";
import { hashBytes } from "../objects/index.js";
import { isRunId } from "../runs/layout.js";
import { checkEntry, emptyView, plainEntry, type HeadEntry, type RemoteView } from "./heads.js";

/**
 * The cached view's file (`.gage-sync/remotes/<hash>.view`): MAGIC, [u32 LE header length], the
 * header (msgpack: catalog key, newest head, recent heads, uncovered count, and the SHA-256 of the
 * runs section), then the runs section: per run, in id order, [u8 id length][id][u32 LE length]
 * [msgpack of its head entries].
 *
 * A push with nothing to do needs only the header; a push of a few runs decodes those runs' entries
 * and writes the others back as the bytes they were read as. Decoding and encoding every entry
 * was a large part of such a push.
 */
const MAGIC = Buffer.from("GAGEVW3\n");

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** A view as cached: its bytes, and its stamp (the SHA-256 of its header, so of all it holds). */
export interface EncodedView {
  bytes: Buffer;
  stamp: string;
}

/**
 * A view's runs, each decoded from the cached bytes when first asked for. A run not decoded is
 * where its entries start in the runs section (its length in the 4 bytes before): no buffer per
 * run is made for the 2,000 runs a push does not look at.
 *
 * Costs differ by method, as a `Map` does not say: `has`, `size`, `keys`, `set`, `delete` decode
 * nothing; `get` decodes one run; `values`, `entries`, iteration and `forEach` decode every run
 * (a command that needs only some runs asks for them by id).
 */
class LazyRuns extends Map<string, HeadEntry[]> {
  readonly #section: Buffer;
  readonly #raw: Map<string, number>;

  constructor(section: Buffer, raw: Map<string, number>) {
    super();
    this.#section = section;
    this.#raw = raw;
  }

  #decode(id: string): void {
    const at = this.#raw.get(id);
    if (at === undefined) return;
    this.#raw.delete(id);
    super.set(id, decodeRun(id, this.#section.subarray(at, at + this.#section.readUInt32LE(at - 4))));
  }

  #decodeAll(): void {
    for (const id of [...this.#raw.keys()]) this.#decode(id);
  }

  override get(id: string): HeadEntry[] | undefined {
    this.#decode(id);
    return super.get(id);
  }

  override has(id: string): boolean {
    return this.#raw.has(id) || super.has(id);
  }

  override set(id: string, entries: HeadEntry[]): this {
    this.#raw.delete(id);
    return super.set(id, entries);
  }

  override delete(id: string): boolean {
    const raw = this.#raw.delete(id);
    return super.delete(id) || raw;
  }

  override clear(): void {
    this.#raw.clear();
    super.clear();
  }

  override get size(): number {
    return super.size + this.#raw.size;
  }

  override keys(): MapIterator<string> {
    // Ids need no decoding: a pull that passes over the runs found in sync decodes none of them.
    return new Map<string, undefined>([...this.#raw.keys(), ...super.keys()].map((id) => [id, undefined])).keys();
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

  /**
   * Every run's record of the runs section, in id order: for a run never decoded, where it was
   * read (neighbours joined, so a push of two runs copies a few spans, not 2,000 records), else
   * encoded anew.
   */
  records(): Span[] {
    const decoded = new Map(super.entries());
    const ids = [...this.#raw.keys(), ...decoded.keys()].sort();
    const out: Span[] = [];
    let last: Span | undefined;
    for (const id of ids) {
      const at = this.#raw.get(id);
      if (at === undefined) {
        out.push((last = runRecord(id, decoded.get(id)!)));
        continue;
      }
      const start = at - 4 - id.length - 1;
      const end = at + this.#section.readUInt32LE(at - 4);
      if (last !== undefined && last.b === this.#section && last.end === start) last.end = end;
      else out.push((last = { b: this.#section, p: start, end }));
    }
    return out;
  }
}

/** Bytes `b[p, end)`. */
interface Span {
  b: Buffer;
  p: number;
  end: number;
}

/** A run's record of the runs section: [u8 id length][id][u32 LE length][msgpack of its entries]. */
function runRecord(id: string, entries: readonly HeadEntry[]): Span {
  // Copied out: the packer reuses its buffer for the next value.
  const packed = packr.pack(entries.map(plainEntry));
  const b = Buffer.allocUnsafe(1 + id.length + 4 + packed.length);
  b[0] = id.length;
  b.write(id, 1, "latin1");
  b.writeUInt32LE(packed.length, 1 + id.length);
  b.set(packed, 1 + id.length + 4);
  return { b, p: 0, end: b.length };
}

function decodeRun(id: string, bytes: Buffer): HeadEntry[] {
  const doc = packr.unpack(bytes) as unknown;
  const entries = Array.isArray(doc) ? doc.map((e) => checkEntry("cache", e)) : [];
  if (entries.length === 0 || entries.some((e) => e.runId !== id)) throw new TypeError(`the cached view holds a malformed entry for run ${id}`);
  return entries;
}

/** Serializes a view for the local cache of last-known remote heads. */
export function encodeView(view: RemoteView): EncodedView {
  const records =
    view.runs instanceof LazyRuns ? view.runs.records() : [...view.runs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, entries]) => runRecord(id, entries));
  const section = Buffer.allocUnsafe(records.reduce((n, r) => n + r.end - r.p, 0));
  let o = 0;
  for (const r of records) o += r.b.copy(section, o, r.p, r.end);
  const header = Buffer.from(
    packr.pack({
      catalogKey: view.catalogKey ?? null,
      newest: view.newest ?? null,
      recent: [...view.recent],
      uncovered: view.uncovered,
      entries: hashBytes(section),
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return { bytes: Buffer.concat([MAGIC, length, header, section]), stamp: hashBytes(header) };
}

/**
 * Reads a cached view; anything unreadable, or of an older format, is `undefined` (the cache is
 * only a shortcut). The runs section is checked against the header's digest here; each run is
 * decoded at its first use.
 */
export function decodeView(bytes: Buffer): { view: RemoteView; stamp: string } | undefined {
  try {
    if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const headerEnd = MAGIC.length + 4 + bytes.readUInt32LE(MAGIC.length);
    const header = bytes.subarray(MAGIC.length + 4, headerEnd);
    const section = bytes.subarray(headerEnd);
    const doc = packr.unpack(header) as Record<string, unknown>;
    if (!Array.isArray(doc.recent) || doc.entries !== hashBytes(section)) return undefined;
    const raw = new Map<string, number>();
    for (let p = 0; p < section.length; ) {
      const idEnd = p + 1 + section[p]!;
      const end = idEnd + 4 + section.readUInt32LE(idEnd);
      const id = section.toString("latin1", p + 1, idEnd);
      // Run ids name folders: a file that holds anything else is damaged, so not used at all.
      if (end > section.length || !isRunId(id)) return undefined;
      raw.set(id, idEnd + 4);
      p = end;
    }
    const view: RemoteView = { ...emptyView(), runs: new LazyRuns(section, raw) };
    for (const k of doc.recent) if (typeof k === "string") view.recent.add(k);
    if (typeof doc.uncovered === "number") view.uncovered = doc.uncovered;
    if (typeof doc.catalogKey === "string") view.catalogKey = doc.catalogKey;
    if (typeof doc.newest === "string") view.newest = doc.newest;
    return { view, stamp: hashBytes(header) };
  } catch {
    return undefined;
  }
}
