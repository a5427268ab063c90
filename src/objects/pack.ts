import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { deflateRaw } from "node:zlib";
import { FormatError } from "./errors.js";
import { idFromBytes, idToBytes, type ObjectId } from "./ids.js";
import { findSorted, findSortedBy } from "./search.js";
import { packIndexKey, packKey, parsePackIndexKey, type ObjectStorage } from "./storage.js";

// Pack: "GAGEPACK" then records [codec u8][id 32][stored u32][raw u32][stored bytes], so a pack
// can be checked or re-indexed on its own. Index: "GAGEIDX1", pack id, count u32, entries sorted
// by id [id 32][offset u32 hi][offset u32 lo][stored u32][raw u32][codec u8], then the SHA-256 of
// everything before it. Offsets point at the stored bytes, past the record header. A pack's id
// is the SHA-256 of its magic, its record headers and its deflated stored bytes, in order. An
// index may list only some of its pack's objects; it is named by its checksum (`packIndexKey`), so
// `gage gc` writes a new index, under a new name, to change what a pack's index lists.
const PACK_MAGIC = Buffer.from("GAGEPACK");
const INDEX_MAGIC = Buffer.from("GAGEIDX1");
const RECORD_HEADER = 1 + 32 + 4 + 4;
/** Bytes a pack spends on each object besides its stored bytes (what dropping one frees). */
export const PACK_RECORD_HEADER_BYTES = RECORD_HEADER;
/** Bytes of a pack that hold no object (its magic). */
export const PACK_HEADER_BYTES = PACK_MAGIC.length;
const INDEX_ENTRY = 32 + 4 + 4 + 4 + 4 + 1;
const INDEX_HEADER = INDEX_MAGIC.length + 32 + 4;

export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;
export type Codec = typeof CODEC_RAW | typeof CODEC_DEFLATE;

export interface PackLocation {
  packId: ObjectId;
  offset: number;
  storedLength: number;
  rawLength: number;
  codec: Codec;
}

/** Pack order: by pack, then by offset (neighbours in one pack end up side by side, to share reads). */
export function comparePackOrder(a: PackLocation, b: PackLocation): number {
  return a.packId < b.packId ? -1 : a.packId > b.packId ? 1 : a.offset - b.offset;
}

export interface PackIndexEntry extends Omit<PackLocation, "packId"> {
  id: ObjectId;
}

// Objects being compressed on the thread pool while the caller goes on hashing.
const MAX_COMPRESSING = 64;
const MAX_COMPRESSING_BYTES = 16 * 1024 * 1024;

/** What a `PackWriter` put on the storage: the pack first, then its index. */
export interface WrittenPack {
  packId: ObjectId;
  packKey: string;
  indexKey: string;
  objects: number;
  /** Bytes of the pack file (after compression). */
  bytes: number;
  /** Bytes of its objects before compression. */
  rawBytes: number;
  /** The index file written beside it. */
  indexBytes: Buffer;
}

// 4 KiB of samples put random data at 7.94 bits per byte or more (the estimate is biased low by
// ~0.05), well clear of the 7.5 cut, at half the cost of 8 KiB: this runs on every chunk.
const SAMPLE = 4 * 1024;
const MIN_COMPRESS = 128;
const deflateRawAsync = promisify(deflateRaw);
const counts = new Uint32Array(256);

/**
 * Order-0 entropy of samples from the start and the middle, in bits per byte: random or already
 * compressed data is near 8, text and numbers far below. Costs microseconds, unlike a trial deflate.
 */
function looksRandom(data: Buffer): boolean {
  counts.fill(0);
  const half = SAMPLE / 2;
  const mid = data.length >>> 1;
  for (let i = 0; i < half; i++) counts[data[i]!]!++;
  for (let i = mid; i < mid + half; i++) counts[data[i]!]!++;
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b]!;
    if (c > 0) bits -= c * Math.log2(c / SAMPLE);
  }
  return bits / SAMPLE > 7.5;
}

/**
 * Compresses where it pays: an entropy estimate first, so random data (checkpoints) is not tried.
 * The whole object is deflated on libuv's thread pool, off the hashing thread.
 */
export async function compressObject(data: Buffer): Promise<{ codec: Codec; stored: Buffer }> {
  if (data.length < MIN_COMPRESS) return { codec: CODEC_RAW, stored: data };
  if (data.length > SAMPLE * 2 && looksRandom(data)) return { codec: CODEC_RAW, stored: data };
  const packed = await deflateRawAsync(data, { level: 1 });
  return packed.length < data.length * 0.95 ? { codec: CODEC_DEFLATE, stored: packed } : { codec: CODEC_RAW, stored: data };
}

export function encodePackIndex(packId: ObjectId, entries: PackIndexEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = Buffer.alloc(INDEX_HEADER + sorted.length * INDEX_ENTRY + 32);
  INDEX_MAGIC.copy(out, 0);
  idToBytes(packId).copy(out, INDEX_MAGIC.length);
  out.writeUInt32BE(sorted.length, INDEX_HEADER - 4);
  let p = INDEX_HEADER;
  for (const e of sorted) {
    out.write(e.id, p, 32, "hex");
    out.writeUInt32BE(Math.floor(e.offset / 2 ** 32), p + 32);
    out.writeUInt32BE(e.offset % 2 ** 32, p + 36);
    out.writeUInt32BE(e.storedLength, p + 40);
    out.writeUInt32BE(e.rawLength, p + 44);
    out.writeUInt8(e.codec, p + 48);
    p += INDEX_ENTRY;
  }
  createHash("sha256").update(out.subarray(0, p)).digest().copy(out, p);
  return out;
}

/**
 * Checks an index's checksum and that it belongs to `expectedPackId`, and returns its entries
 * region (records of INDEX_ENTRY bytes, sorted by id) and their count.
 */
function checkPackIndex(bytes: Buffer, expectedPackId: ObjectId, where: string): { records: Buffer; count: number } {
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

/**
 * Checks that an index read under `key` is the one the key names: an immutable key carries the
 * index's checksum (`packIndexKey`); a 0.1.0 key (`legacyPackIndexKey`) carries none.
 * @throws FormatError when the key names another pack or another index.
 */
export function checkIndexName(key: string, bytes: Buffer): ObjectId {
  const named = parsePackIndexKey(key);
  if (named === undefined) throw new FormatError(`pack index ${key}`, "not a pack index key");
  if (named.sum !== undefined && (bytes.length < 32 || bytes.toString("hex", bytes.length - 32) !== named.sum)) {
    throw new FormatError(`pack index ${key}`, "its contents are not the index its name says");
  }
  return named.packId;
}

/**
 * The objects a pack's index lists, after checking it (`FormatError` when it is damaged): what
 * `gage gc` weighs a pack by, one object at a time.
 */
export function decodePackIndex(packId: ObjectId, bytes: Buffer, where: string = packId): PackIndexEntry[] {
  const { records, count } = checkPackIndex(bytes, packId, where);
  const out: PackIndexEntry[] = [];
  for (let i = 0, p = 0; i < count; i++, p += INDEX_ENTRY) {
    const offset = records.readUInt32BE(p + 32) * 2 ** 32 + records.readUInt32BE(p + 36);
    if (!Number.isSafeInteger(offset + 2 ** 32)) throw new FormatError(`pack index ${where}`, `offset ${offset} is past any pack`);
    out.push({
      id: records.toString("hex", p, p + 32),
      offset,
      storedLength: records.readUInt32BE(p + 40),
      rawLength: records.readUInt32BE(p + 44),
      codec: records[p + 48] as Codec,
    });
  }
  return out;
}

/**
 * The entries of an index `decodePackIndex` accepted, one at a time and not checked again: `gage gc`
 * keeps every index as its bytes rather than an object per entry.
 */
export function* packIndexEntries(bytes: Buffer): Generator<PackIndexEntry> {
  const count = bytes.readUInt32BE(INDEX_HEADER - 4);
  for (let i = 0, p = INDEX_HEADER; i < count; i++, p += INDEX_ENTRY) {
    const offset = bytes.readUInt32BE(p + 32) * 2 ** 32 + bytes.readUInt32BE(p + 36);
    yield { id: bytes.toString("hex", p, p + 32), offset, storedLength: bytes.readUInt32BE(p + 40), rawLength: bytes.readUInt32BE(p + 44), codec: bytes[p + 48] as Codec };
  }
}

/** Sorted index records of one or more packs, searched by their 32-bit prefixes. */
interface Table {
  records: Buffer;
  count: number;
  /** The records' prefixes, once the table has been searched enough to pay for them (`findIn`). */
  prefixes: Uint32Array | undefined;
  /**
   * Which of the 65,536 values of an id's first 16 bits the table holds, one bit each (8 KiB):
   * a lookup of an id the table lacks, as most lookups are across many packs, mostly ends here.
   * Made with the prefixes, for tables of up to FILTER_MAX ids, where most bits are clear.
   */
  present: Uint8Array | undefined;
  /** Searches made without the prefixes. */
  searches: number;
  /** The pack of each record: `packIds[packOf[i]]`, or `packIds[0]` for all when absent. */
  packIds: ObjectId[];
  packOf: Uint32Array | undefined;
}

const FILTER_MAX = 16_384;
/**
 * A table is searched on its records until it has been searched a quarter as many times as it
 * holds ids, then it gets its prefixes and filter (one pass). A push of a few runs looks up a
 * few dozen ids across a hundred packs and so never pays for the pass over 80,000 ids, cold;
 * a scan of thousands of runs pays for it at once.
 */
const SEARCHES_PER_ID_BEFORE_PREFIXES = 1 / 4;

function tableOf(records: Buffer, count: number, packIds: ObjectId[], packOf: Uint32Array | undefined, prefixes?: Uint32Array): Table {
  const t: Table = { records, count, prefixes: undefined, present: undefined, searches: 0, packIds, packOf };
  if (prefixes !== undefined) indexTable(t, prefixes);
  return t;
}

/** Gives `t` its prefixes (`known`, or read from the records) and, when small, its filter, in one pass. */
function indexTable(t: Table, known?: Uint32Array): Uint32Array {
  const { records, count } = t;
  const prefixes = known ?? new Uint32Array(count);
  const present = count <= FILTER_MAX ? new Uint8Array(8192) : undefined;
  for (let i = 0; i < count; i++) {
    const p = i * INDEX_ENTRY;
    const prefix = known !== undefined ? prefixes[i]! : ((records[p]! << 24) | (records[p + 1]! << 16) | (records[p + 2]! << 8) | records[p + 3]!) >>> 0;
    prefixes[i] = prefix;
    if (present !== undefined) present[prefix >>> 19]! |= 1 << ((prefix >>> 16) & 7);
  }
  t.prefixes = prefixes;
  t.present = present;
  return prefixes;
}

function findIn(t: Table, id: ObjectId, prefix: number): number {
  if (t.prefixes === undefined && ++t.searches > t.count * SEARCHES_PER_ID_BEFORE_PREFIXES) indexTable(t);
  const r = t.records;
  const idAt = (i: number) => r.toString("hex", i * INDEX_ENTRY, i * INDEX_ENTRY + 32) === id;
  if (t.prefixes !== undefined) {
    if (t.present !== undefined && (t.present[prefix >>> 19]! & (1 << ((prefix >>> 16) & 7))) === 0) return -1;
    return findSorted(t.prefixes, t.count, prefix, idAt);
  }
  // Read from the records as searched (bytes, not readUInt32BE: this runs cold, per table).
  const prefixAt = (i: number) => ((r[i * INDEX_ENTRY]! << 24) | (r[i * INDEX_ENTRY + 1]! << 16) | (r[i * INDEX_ENTRY + 2]! << 8) | r[i * INDEX_ENTRY + 3]!) >>> 0;
  return findSortedBy(prefixAt, t.count, prefix, idAt);
}

// Lookups search every table; past this many, the tables are merged into one, once lookups have
// searched twice as many tables as there are objects. A merge costs about what that many table
// searches cost: a scan that looks up a few thousand trees never pays for it.
const MAX_TABLES = 16;
const MERGE_AFTER_SEARCHES_PER_OBJECT = 2;

/**
 * Where each object is: the union of every pack index loaded from a storage, plus the packs
 * written since. Kept as the indexes' own sorted bytes (no per-object JS objects), so loading
 * 100,000 entries costs a checksum and one pass.
 */
export class PackIndex {
  #tables: Table[] = [];
  readonly #packs = new Set<ObjectId>();
  /** The index files added, by key: a pack may have two while gc replaces one (their union counts). */
  readonly #indexKeys = new Set<string>();
  #size = 0;
  /** Tables searched by lookups since the last merge. */
  #searches = 0;

  has(id: ObjectId): boolean {
    return this.#find(id) !== undefined;
  }

  get(id: ObjectId): PackLocation | undefined {
    const hit = this.#find(id);
    if (hit === undefined) return undefined;
    const [t, i] = hit;
    const r = t.records;
    const p = i * INDEX_ENTRY;
    return {
      packId: t.packIds[t.packOf === undefined ? 0 : t.packOf[i]!]!,
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
    for (const t of this.#tables) {
      for (let i = 0; i < t.count; i++) yield t.records.toString("hex", i * INDEX_ENTRY, i * INDEX_ENTRY + 32);
    }
  }

  /**
   * The id tables (sorted records), to answer `has` in another thread: `PackIndex.fromTables`.
   * Copies, so the caller may transfer or clone them without sharing this index's memory.
   */
  exportTables(): Uint8Array[] {
    return this.#tables.map((t) => Uint8Array.prototype.slice.call(t.records, 0, t.count * INDEX_ENTRY));
  }

  /** An index that answers `has` (not `get`: it knows no packs) from `exportTables()`. */
  static fromTables(tables: readonly Uint8Array[]): PackIndex {
    const index = new PackIndex();
    for (const t of tables) {
      const records = Buffer.from(t.buffer, t.byteOffset, t.byteLength);
      const count = records.length / INDEX_ENTRY;
      index.#tables.push(tableOf(records, count, [], undefined));
      index.#size += count;
    }
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
      const { records, count } = checkPackIndex(indexBytes, packId, key ?? packId);
      const name = key ?? packIndexKey(packId, indexBytes);
      if (this.#indexKeys.has(name)) continue;
      this.#indexKeys.add(name);
      this.#packs.add(packId);
      this.#tables.push(tableOf(records, count, [packId], undefined));
      this.#size += count;
    }
  }

  #find(id: ObjectId): [Table, number] | undefined {
    const prefix = parseInt(id.slice(0, 8), 16);
    if (!(prefix >= 0)) return undefined;
    if (this.#tables.length > MAX_TABLES) {
      this.#searches += this.#tables.length;
      if (this.#searches > MERGE_AFTER_SEARCHES_PER_OBJECT * this.#size) this.#merge();
    }
    for (let k = this.#tables.length - 1; k >= 0; k--) {
      const t = this.#tables[k]!;
      const i = findIn(t, id, prefix);
      if (i >= 0) return [t, i];
    }
    return undefined;
  }

  /**
   * Merges the tables, each sorted already, into one: a k-way merge on the 32-bit prefixes (full
   * ids only on a tie), scanning the heads linearly. Sorting every record with a comparator
   * instead was slower, on every load.
   */
  #merge(): void {
    const tables = this.#tables;
    const packIds: ObjectId[] = [];
    const base = new Uint32Array(tables.length);
    let count = 0;
    tables.forEach((t, k) => {
      base[k] = packIds.length;
      packIds.push(...t.packIds);
      count += t.count;
    });
    const records = Buffer.allocUnsafe(count * INDEX_ENTRY);
    const packOf = new Uint32Array(count);
    const prefixes = new Uint32Array(count);
    const next = new Uint32Array(tables.length);
    // The prefix at the head of each table, Infinity once it is drained.
    const tablePrefixes = tables.map((t) => t.prefixes ?? indexTable(t));
    const head = Float64Array.from(tables, (t, k) => (t.count > 0 ? tablePrefixes[k]![0]! : Infinity));
    const idBefore = (a: Table, i: number, b: Table, j: number) =>
      a.records.compare(b.records, j * INDEX_ENTRY, j * INDEX_ENTRY + 32, i * INDEX_ENTRY, i * INDEX_ENTRY + 32) < 0;
    for (let out = 0; out < count; out++) {
      let best = 0;
      for (let k = 1; k < head.length; k++) {
        const d = head[k]! - head[best]!;
        if (d < 0 || (d === 0 && idBefore(tables[k]!, next[k]!, tables[best]!, next[best]!))) best = k;
      }
      const t = tables[best]!;
      const i = next[best]!++;
      t.records.copy(records, out * INDEX_ENTRY, i * INDEX_ENTRY, (i + 1) * INDEX_ENTRY);
      packOf[out] = base[best]! + (t.packOf === undefined ? 0 : t.packOf[i]!);
      prefixes[out] = head[best]!;
      head[best] = i + 1 < t.count ? tablePrefixes[best]![i + 1]! : Infinity;
    }
    this.#tables = [tableOf(records, count, packIds, packOf, prefixes)];
    this.#searches = 0;
  }
}

interface OpenPack {
  /** The pack's bytes so far, in a buffer with room to grow: objects are copied in as added. */
  buf: Buffer;
  hash: ReturnType<typeof createHash>;
  length: number;
  rawBytes: number;
  entries: PackIndexEntry[];
}

export interface PackWriterOptions {
  /** Objects already on the storage (skipped); packs written are added to it by `flush`. */
  index?: PackIndex;
  /** Seal a pack once it holds this many bytes (default 16 MiB). */
  packSize?: number;
  /** Called after each pack and its index are stored. */
  onPack?: (pack: WrittenPack) => void;
  /**
   * Deflate objects where it pays (default true). Compression is most of the CPU of a first
   * snapshot of many small text files; a caller writing to a fast local disk may turn it off.
   */
  compress?: boolean;
}

/**
 * Where snapshotting puts objects. `id` must be the SHA-256 of `data`. A sink copies what it
 * keeps: once `add` resolves, the caller may reuse `data`'s memory (snapshots read every file
 * into one buffer, which spares an allocation per file).
 */
export interface ObjectSink {
  /** True when the object is stored or queued: the caller may skip reading its source. */
  has(id: ObjectId): boolean;
  /** Stores the object unless present; resolves to false when it was already there. */
  add(id: ObjectId, data: Buffer): Promise<boolean>;
}

/** Files this small are kept with the trees: a pull reads a meta's `id` file while planning. */
const SMALL_OBJECT = 256;

/**
 * True for what a pull reads before writing any file: trees, times, chunk lists and snapshots
 * (msgpack arrays tagged `gage-…`) and small files. A pack keeps them together at its end, so a
 * pull reads a pack's trees in one range, not one per run. A file that merely starts like one is
 * only placed there too: readers find every object through the index, whatever its place.
 */
function keptLast(data: Buffer): boolean {
  if (data.length <= SMALL_OBJECT) return true;
  // [fixarray][fixstr]"gage-": the tag of every object the codecs write.
  return (data[0]! & 0xf0) === 0x90 && (data[1]! & 0xe0) === 0xa0 && data[2] === 0x67 && data[3] === 0x61 && data[4] === 0x67 && data[5] === 0x65 && data[6] === 0x2d;
}

/**
 * Bundles objects into packs of bounded size and writes each pack, then its index, in the order
 * they were filled, one at a time: an object's pack is durable before the pack of any object added
 * after it (trees after their entries), so whatever an interrupted writer left visible is closed.
 * Trees and other small objects (`keptLast`) go at the end of the pack open when they are added.
 */
export class PackWriter implements ObjectSink {
  readonly #storage: ObjectStorage;
  readonly #index: PackIndex;
  readonly #packSize: number;
  readonly #onPack: ((pack: WrittenPack) => void) | undefined;
  readonly #compress: boolean;
  /**
   * Every object this writer took, queued or stored. Its own packs join the index only at
   * `flush`: a first push's 76,000 lookups, nearly all misses, searched each pack written so far.
   */
  readonly #taken = new Set<ObjectId>();
  readonly #written: WrittenPack[] = [];
  /** Packs of the index holding objects asked for and found there (not written again). */
  readonly #reused = new Set<ObjectId>();
  /** Written packs already added to the index. */
  #indexed = 0;
  #open: OpenPack | undefined;
  /** A stored pack's buffer, for the next pack (a fresh 18 MiB buffer per pack kept the GC busy). */
  #spare: Buffer | undefined;
  #compressing: Promise<{ id: ObjectId; rawLength: number; last: boolean; codec: Codec; stored: Buffer }>[] = [];
  /** Records held back to the end of the open pack (`keptLast`), and their bytes with headers. */
  #held: { id: ObjectId; rawLength: number; codec: Codec; stored: Buffer }[] = [];
  #heldBytes = 0;
  #compressingBytes = 0;
  #writing: Promise<void> = Promise.resolve();

  constructor(storage: ObjectStorage, options: PackWriterOptions = {}) {
    this.#storage = storage;
    this.#index = options.index ?? new PackIndex();
    this.#packSize = options.packSize ?? 16 * 1024 * 1024;
    this.#onPack = options.onPack;
    this.#compress = options.compress ?? true;
  }

  has(id: ObjectId): boolean {
    return this.#taken.has(id) || this.noteReused(id);
  }

  /**
   * True when the index given at construction (or a pack flushed since) holds `id`; its pack is
   * then among `reusedPacks()`. For objects a caller skipped by another look at the same index
   * (snapshot workers hold a copy of it).
   */
  noteReused(id: ObjectId): boolean {
    const loc = this.#index.get(id);
    if (loc === undefined) return false;
    this.#reused.add(loc.packId);
    return true;
  }

  /** The packs of the objects `has` or `noteReused` found in the index: with `written`, where this writer's objects are. */
  reusedPacks(): ReadonlySet<ObjectId> {
    return this.#reused;
  }

  async add(id: ObjectId, data: Buffer): Promise<boolean> {
    if (this.has(id)) return false;
    this.#taken.add(id);
    const last = keptLast(data);
    if (!this.#compress) {
      // Held back until the pack seals, so in a copy of its own.
      await this.#append(id, data.length, CODEC_RAW, last ? Buffer.from(data) : data, last);
      return true;
    }
    // Deflating happens after `add` returns, on the thread pool: it gets its own copy.
    const own = Buffer.from(data);
    const job = compressObject(own).then((c) => ({ id, rawLength: own.length, last, ...c }));
    // Drained in order below; a failure surfaces there, and must not go unhandled before.
    job.catch(() => undefined);
    this.#compressing.push(job);
    this.#compressingBytes += own.length;
    while (this.#compressing.length > MAX_COMPRESSING || this.#compressingBytes > MAX_COMPRESSING_BYTES) await this.#appendNext();
    return true;
  }

  /** Writes what is still open and waits until every pack is stored; returns all packs written. */
  async flush(): Promise<WrittenPack[]> {
    while (this.#compressing.length > 0) await this.#appendNext();
    await this.#seal();
    await this.#writing;
    for (const w of this.#written.slice(this.#indexed)) this.#index.addIndex(w.packId, w.indexBytes, w.indexKey);
    this.#indexed = this.#written.length;
    return [...this.#written];
  }

  /** Appends the oldest compressed object to the open pack. */
  async #appendNext(): Promise<void> {
    const { id, rawLength, last, codec, stored } = await this.#compressing.shift()!;
    this.#compressingBytes -= rawLength;
    await this.#append(id, rawLength, codec, stored, last);
  }

  /**
   * Copies one record into the open pack (or, `last`, holds it back for the pack's end), sealing
   * the pack when it is full.
   */
  async #append(id: ObjectId, rawLength: number, codec: Codec, stored: Buffer, last: boolean): Promise<void> {
    if (last) {
      this.#held.push({ id, rawLength, codec, stored });
      this.#heldBytes += RECORD_HEADER + stored.length;
    } else this.#put(this.#openPack(), id, rawLength, codec, stored);
    if ((this.#open?.length ?? PACK_MAGIC.length) + this.#heldBytes >= this.#packSize) await this.#seal();
  }

  #openPack(): OpenPack {
    if (this.#open === undefined) {
      this.#open = newPack(this.#packSize, this.#spare);
      this.#spare = undefined;
    }
    return this.#open;
  }

  #put(pack: OpenPack, id: ObjectId, rawLength: number, codec: Codec, stored: Buffer): void {
    const need = pack.length + RECORD_HEADER + stored.length;
    if (need > pack.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, pack.buf.length * 2));
      pack.buf.copy(grown, 0, 0, pack.length);
      pack.buf = grown;
    }
    const header = pack.buf.subarray(pack.length, pack.length + RECORD_HEADER);
    header.writeUInt8(codec, 0);
    header.write(id, 1, 32, "hex");
    header.writeUInt32BE(stored.length, 33);
    header.writeUInt32BE(rawLength, 37);
    stored.copy(pack.buf, pack.length + RECORD_HEADER);
    pack.entries.push({ id, offset: pack.length + RECORD_HEADER, storedLength: stored.length, rawLength, codec });
    pack.length = need;
    // The pack id commits to every byte without hashing them all again: a header names the SHA-256
    // of its raw bytes, which are the stored bytes unless deflated, and only deflated bytes are
    // hashed here. Re-hashing whole packs was a third SHA-256 pass over every large file.
    pack.hash.update(header);
    if (codec !== CODEC_RAW) pack.hash.update(stored);
    pack.rawBytes += rawLength;
  }

  get written(): readonly WrittenPack[] {
    return this.#written;
  }

  async #seal(): Promise<void> {
    if (this.#held.length > 0) {
      const open = this.#openPack();
      for (const h of this.#held) this.#put(open, h.id, h.rawLength, h.codec, h.stored);
      this.#held = [];
      this.#heldBytes = 0;
    }
    const pack = this.#open;
    this.#open = undefined;
    // At most one pack in flight while the next one fills: memory stays near 2 × packSize.
    await this.#writing;
    if (pack === undefined) return;
    this.#writing = this.#store(pack);
  }

  async #store(pack: OpenPack): Promise<void> {
    const packId = pack.hash.digest("hex");
    const indexBytes = encodePackIndex(packId, pack.entries);
    const written: WrittenPack = {
      packId,
      packKey: packKey(packId),
      indexKey: packIndexKey(packId, indexBytes),
      objects: pack.entries.length,
      bytes: pack.length,
      rawBytes: pack.rawBytes,
      indexBytes,
    };
    await this.#storage.put(written.packKey, pack.buf.subarray(0, pack.length));
    await this.#storage.put(written.indexKey, indexBytes);
    this.#spare = pack.buf;
    this.#written.push(written);
    this.#onPack?.(written);
  }
}

function newPack(packSize: number, spare: Buffer | undefined): OpenPack {
  const hash = createHash("sha256");
  hash.update(PACK_MAGIC);
  // Room for a full pack and the record that seals it, most of the time without growing.
  const buf = spare ?? Buffer.allocUnsafe(packSize + Math.min(packSize, 2 * 1024 * 1024));
  PACK_MAGIC.copy(buf, 0);
  return { buf, hash, length: PACK_MAGIC.length, rawBytes: 0, entries: [] };
}
