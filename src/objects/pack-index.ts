import { createHash } from "node:crypto";
import { FormatError } from "./errors.js";
import { idFromBytes, writeIdBytes, type ObjectId } from "./ids.js";
import type { Codec, PackLocation } from "./pack.js";
import { packIndexKey } from "./storage.js";

// An index file (format in pack.ts): "GAGEIDX1", pack id, count u32, entries sorted by id, SHA-256.
export const INDEX_MAGIC = Buffer.from("GAGEIDX1");
/** Bytes of one entry of an index file. */
export const INDEX_ENTRY = 32 + 4 + 4 + 4 + 4 + 1;
export const INDEX_HEADER = INDEX_MAGIC.length + 32 + 4;

/**
 * Checks an index's checksum and that it belongs to `expectedPackId`, and returns its entries
 * region (records of INDEX_ENTRY bytes, sorted by id) and their count.
 */
export function checkPackIndex(bytes: Buffer, expectedPackId: ObjectId, where: string): { records: Buffer; count: number } {
  const what = `pack index ${where}`;
  if (bytes.length < INDEX_HEADER + 32 || !bytes.subarray(0, INDEX_MAGIC.length).equals(INDEX_MAGIC)) {
    throw new FormatError(what, "not a pack index");
  }
  const body = bytes.subarray(0, bytes.length - 32);
  if (!createHash("sha256").update(body).digest().equals(bytes.subarray(bytes.length - 32))) {
    throw new FormatError(what, "checksum mismatch");
  }
  if (idFromBytes(bytes.subarray(INDEX_MAGIC.length, INDEX_MAGIC.length + 32)) !== expectedPackId) {
    throw new FormatError(what, "names another pack");
  }
  const count = bytes.readUInt32BE(INDEX_HEADER - 4);
  if (body.length !== INDEX_HEADER + count * INDEX_ENTRY) throw new FormatError(what, "wrong length");
  // Sorting is not re-checked: the checksum says the writer made it, and a badly sorted index
  // only hides objects (ObjectNotFoundError), it cannot make a wrong one be read. Nor are codecs:
  // an object is checked as it is read (a pass over every record cost every load).
  return { records: body.subarray(INDEX_HEADER), count };
}

/** One index file's sorted records, as read (never copied). */
interface Source {
  records: Buffer;
  packId: ObjectId;
}

/**
 * Sorted index records of one or more sources, searched by their 32-bit prefixes. A merged table
 * holds no records of its own: row `i` is row `rowOf[i]` of source `srcOf[i]` (8 bytes a row where
 * a copy of the records took 49, beside the files' own bytes, which callers such as gc keep).
 */
interface Table {
  count: number;
  /** The source of every row when the table is one file's records. */
  source: number;
  srcOf: Uint32Array | undefined;
  rowOf: Uint32Array | undefined;
  /** The records' prefixes, once the table has been searched enough to pay for them (`findIn`). */
  prefixes: Uint32Array | undefined;
  /**
   * Which of the 65,536 values of an id's first 16 bits the table holds, one bit each (8 KiB):
   * a lookup of an id the table lacks, as most lookups are across many packs, mostly ends here.
   * Made with the prefixes, for tables of up to FILTER_MAX ids, where most bits are clear.
   */
  present: Uint8Array | undefined;
  /**
   * For tables of more than FILTER_MAX ids, made with the prefixes: `starts[v]` is the first row
   * whose prefix's first 16 bits are `v` or more (256 KiB), so a search starts among a few rows.
   */
  starts: Uint32Array | undefined;
  /** Searches made without the prefixes. */
  searches: number;
}

const FILTER_MAX = 16_384;
/**
 * A table is searched on its records until it has been searched a sixteenth as many times as it
 * holds ids, then it gets its prefixes and filter (one pass over its ids). A search on the records
 * reads about log2(ids) of them, so by then the searches have read about as many as the pass will
 * (~13 for a pack's few thousand ids): never more than twice what the cheaper choice would have.
 * A push of a few runs looks up a few dozen ids across a hundred packs and never pays for the pass.
 */
const SEARCHES_PER_ID_BEFORE_PREFIXES = 1 / 16;

// Lookups search every table; past this many, the tables are merged into one, once lookups have
// searched twice as many tables as there are objects. A merge costs about what that many table
// searches cost: a scan that looks up a few thousand trees never pays for it.
const MAX_TABLES = 16;
const MERGE_AFTER_SEARCHES_PER_OBJECT = 2;

/** The byte offset, in its source's records, of row `i` of `t`. */
function rowAt(t: Table, i: number): number {
  return (t.rowOf === undefined ? i : t.rowOf[i]!) * INDEX_ENTRY;
}

/** True when the 32 bytes at `a[p]` are those at `b[q]` (past the prefix, which the search matched). */
function sameId(a: Uint8Array, p: number, b: Uint8Array, q: number): boolean {
  for (let j = 4; j < 32; j++) if (a[p + j] !== b[q + j]) return false;
  return true;
}

function prefixOf(r: Uint8Array, p: number): number {
  return ((r[p]! << 24) | (r[p + 1]! << 16) | (r[p + 2]! << 8) | r[p + 3]!) >>> 0;
}

// The id being looked up, as bytes: lookups by hex id write it here (no buffer per lookup).
const wanted = Buffer.alloc(32);

/**
 * Where each object is: the union of every pack index loaded from a storage, plus the packs
 * written since. Kept as the indexes' own sorted bytes (no per-object JS objects), so loading
 * 100,000 entries costs a checksum and one pass.
 */
export class PackIndex {
  readonly #sources: Source[] = [];
  #tables: Table[] = [];
  readonly #packs = new Set<ObjectId>();
  /** The index files added, by key: a pack may have two while gc replaces one (their union counts). */
  readonly #indexKeys = new Set<string>();
  #size = 0;
  /** Tables searched by lookups since the last merge. */
  #searches = 0;

  has(id: ObjectId): boolean {
    return this.#findHex(id) !== undefined;
  }

  get(id: ObjectId): PackLocation | undefined {
    const hit = this.#findHex(id);
    return hit === undefined ? undefined : this.#location(hit[0], hit[1]);
  }

  /** `get` of the 32-byte id at `bytes[at]` (no string made for it). */
  getAt(bytes: Uint8Array, at: number): PackLocation | undefined {
    const hit = this.#find(bytes, at);
    return hit === undefined ? undefined : this.#location(hit[0], hit[1]);
  }

  #location(t: Table, i: number): PackLocation {
    const s = this.#sources[t.srcOf === undefined ? t.source : t.srcOf[i]!]!;
    const r = s.records;
    const p = rowAt(t, i);
    return {
      packId: s.packId,
      offset: r.readUInt32BE(p + 32) * 2 ** 32 + r.readUInt32BE(p + 36),
      storedLength: r.readUInt32BE(p + 40),
      rawLength: r.readUInt32BE(p + 44),
      codec: r[p + 48] as Codec,
    };
  }

  /** Objects listed (an object in two packs counts twice). */
  get size(): number {
    return this.#size;
  }

  hasPack(packId: ObjectId): boolean {
    return this.#packs.has(packId);
  }

  /** True when the index file under `key` has been added. */
  hasIndex(key: string): boolean {
    return this.#indexKeys.has(key);
  }

  packIds(): ObjectId[] {
    return [...this.#packs];
  }

  /** Every object id known, in no particular order. */
  *ids(): IterableIterator<ObjectId> {
    for (const s of this.#sources) {
      const count = s.records.length / INDEX_ENTRY;
      for (let i = 0; i < count; i++) yield s.records.toString("hex", i * INDEX_ENTRY, i * INDEX_ENTRY + 32);
    }
  }

  /**
   * The id tables (sorted records), to answer `has` in another thread: `PackIndex.fromTables`.
   * One per index file, even when merged here (a merged table's rows are spread over the files: a
   * copy in its order cost a cache miss a row); the other thread merges them when its lookups pay.
   * Copies, so the caller may transfer or clone them without sharing this index's memory.
   */
  exportTables(): Uint8Array[] {
    return this.#sources.map((s) => Uint8Array.prototype.slice.call(s.records));
  }

  /** An index that answers `has` (not `get`: it knows no packs) from `exportTables()`. */
  static fromTables(tables: readonly Uint8Array[]): PackIndex {
    const index = new PackIndex();
    for (const t of tables) index.#addRecords(Buffer.from(t.buffer, t.byteOffset, t.byteLength), "");
    return index;
  }

  /**
   * Adds a pack's index file, after checking it (`FormatError` when it is damaged); `key` is where
   * it was read (default: its immutable key). An index file already added is skipped.
   */
  addIndex(packId: ObjectId, indexBytes: Buffer, key?: string): void {
    this.addIndexes([{ packId, indexBytes, ...(key === undefined ? {} : { key }) }]);
  }

  /** Adds many index files (their tables are merged when lookups make it pay: `#find`). */
  addIndexes(indexes: readonly { packId: ObjectId; indexBytes: Buffer; key?: string }[]): void {
    for (const { packId, indexBytes, key } of indexes) {
      const { records } = checkPackIndex(indexBytes, packId, key ?? packId);
      const name = key ?? packIndexKey(packId, indexBytes);
      if (this.#indexKeys.has(name)) continue;
      this.#indexKeys.add(name);
      this.#packs.add(packId);
      this.#addRecords(records, packId);
    }
  }

  #addRecords(records: Buffer, packId: ObjectId): void {
    const count = records.length / INDEX_ENTRY;
    this.#sources.push({ records, packId });
    this.#tables.push({ count, source: this.#sources.length - 1, srcOf: undefined, rowOf: undefined, prefixes: undefined, present: undefined, starts: undefined, searches: 0 });
    this.#size += count;
  }

  /**
   * Merges the tables into one now, for a caller about to look up most objects (gc marking):
   * the lookups that would come before a merge paid for itself search every table, and cost more.
   */
  merge(): void {
    if (this.#tables.length > 1) this.#merge();
  }

  #findHex(id: ObjectId): [Table, number] | undefined {
    // Not hex: found nowhere (a lookup of upper-case digits finds the id they spell).
    if (!writeIdBytes(id, wanted)) return undefined;
    return this.#find(wanted, 0);
  }

  #find(id: Uint8Array, at: number): [Table, number] | undefined {
    const prefix = prefixOf(id, at);
    if (this.#tables.length > MAX_TABLES) {
      this.#searches += this.#tables.length;
      if (this.#searches > MERGE_AFTER_SEARCHES_PER_OBJECT * this.#size) this.#merge();
    }
    for (let k = this.#tables.length - 1; k >= 0; k--) {
      const t = this.#tables[k]!;
      const i = this.#findIn(t, id, at, prefix);
      if (i >= 0) return [t, i];
    }
    return undefined;
  }

  /** The records holding row `i` of `t` (at `at(t, i)`). */
  #records(t: Table, i: number): Buffer {
    return this.#sources[t.srcOf === undefined ? t.source : t.srcOf[i]!]!.records;
  }

  #findIn(t: Table, id: Uint8Array, at: number, prefix: number): number {
    if (t.prefixes === undefined && ++t.searches > t.count * SEARCHES_PER_ID_BEFORE_PREFIXES) this.#indexTable(t);
    const pre = t.prefixes;
    if (pre !== undefined) {
      if (t.present !== undefined && (t.present[prefix >>> 19]! & (1 << ((prefix >>> 16) & 7))) === 0) return -1;
      // firstOfKey, inline (this runs for every id gc marks), within the prefix's first 16 bits.
      let lo = t.starts === undefined ? 0 : t.starts[prefix >>> 16]!;
      let hi = t.starts === undefined ? t.count : t.starts[(prefix >>> 16) + 1]!;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (pre[mid]! < prefix) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < t.count && pre[i] === prefix; i++) if (sameId(this.#records(t, i), rowAt(t, i), id, at)) return i;
      return -1;
    }
    // Only a table of one index file has no prefixes (a merged one gets them as it is made): its
    // rows are its records in order, searched in place (bytes, no closures: this runs cold, once
    // per table for each id a push of a few runs looks up).
    const r = this.#sources[t.source]!.records;
    let lo = 0;
    let hi = t.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (prefixOf(r, mid * INDEX_ENTRY) < prefix) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < t.count && prefixOf(r, i * INDEX_ENTRY) === prefix; i++) if (sameId(r, i * INDEX_ENTRY, id, at)) return i;
    return -1;
  }

  /** Gives `t` its prefixes (`known`, or read from the records) and, when small, its filter, in one pass. */
  #indexTable(t: Table, known?: Uint32Array): Uint32Array {
    const { count } = t;
    const prefixes = known ?? new Uint32Array(count);
    const present = count <= FILTER_MAX ? new Uint8Array(8192) : undefined;
    for (let i = 0; i < count; i++) {
      let prefix: number;
      if (known !== undefined) prefix = prefixes[i]!;
      else prefix = prefixOf(this.#records(t, i), rowAt(t, i));
      prefixes[i] = prefix;
      if (present !== undefined) present[prefix >>> 19]! |= 1 << ((prefix >>> 16) & 7);
    }
    t.prefixes = prefixes;
    t.present = present;
    if (present === undefined) {
      // Rows are in prefix order (a badly sorted index only hides objects): starts never decrease.
      const starts = new Uint32Array(65537);
      let v = 0;
      for (let i = 0; i < count; i++) for (const top = prefixes[i]! >>> 16; v <= top; ) starts[v++] = i;
      while (v <= 65536) starts[v++] = count;
      t.starts = starts;
    }
    return prefixes;
  }

  /**
   * Merges the tables into one: every row's prefix, then a stable radix sort on the prefixes (two
   * passes of 16 bits), so rows of one prefix keep the tables' order (a lookup walks them all:
   * `firstOfKey`). A k-way merge of the sorted tables cost a comparison per table per row. The
   * merged table points at the sources' rows.
   */
  #merge(): void {
    const tables = this.#tables;
    let count = 0;
    for (const t of tables) count += t.count;
    let prefixes = new Uint32Array(count);
    let srcOf = new Uint32Array(count);
    let rowOf = new Uint32Array(count);
    let o = 0;
    for (const t of tables) {
      const own = t.prefixes ?? this.#indexTable(t);
      for (let i = 0; i < t.count; i++, o++) {
        prefixes[o] = own[i]!;
        srcOf[o] = t.srcOf === undefined ? t.source : t.srcOf[i]!;
        rowOf[o] = t.rowOf === undefined ? i : t.rowOf[i]!;
      }
    }
    let toPrefixes = new Uint32Array(count);
    let toSrc = new Uint32Array(count);
    let toRow = new Uint32Array(count);
    const starts = new Uint32Array(65536);
    for (const shift of [0, 16]) {
      starts.fill(0);
      for (let i = 0; i < count; i++) starts[(prefixes[i]! >>> shift) & 0xffff]!++;
      for (let d = 0, at = 0; d < 65536; d++) {
        const n = starts[d]!;
        starts[d] = at;
        at += n;
      }
      for (let i = 0; i < count; i++) {
        const to = starts[(prefixes[i]! >>> shift) & 0xffff]!++;
        toPrefixes[to] = prefixes[i]!;
        toSrc[to] = srcOf[i]!;
        toRow[to] = rowOf[i]!;
      }
      [prefixes, toPrefixes] = [toPrefixes, prefixes];
      [srcOf, toSrc] = [toSrc, srcOf];
      [rowOf, toRow] = [toRow, rowOf];
    }
    const merged: Table = { count, source: 0, srcOf, rowOf, prefixes: undefined, present: undefined, starts: undefined, searches: 0 };
    this.#indexTable(merged, prefixes);
    this.#tables = [merged];
    this.#searches = 0;
  }
}
