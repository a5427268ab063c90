import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { deflateRaw } from "node:zlib";
import { copyBytes, copyOf } from "./copy-bytes.js";
import { FormatError } from "./errors.js";
import { idToBytes, type ObjectId } from "./ids.js";
import { checkPackIndex, INDEX_ENTRY, INDEX_HEADER, INDEX_MAGIC, PackIndex } from "./pack-index.js";
import { packIndexKey, packKey, parsePackIndexKey, type ObjectStorage } from "./storage.js";

// Pack: "GAGEPACK" then records [codec u8][id 32][stored u32][raw u32][stored bytes], so a pack
// can be checked or re-indexed on its own. Index: "GAGEIDX1", pack id, count u32, entries sorted
// by id [id 32][offset u32 hi][offset u32 lo][stored u32][raw u32][codec u8], then the SHA-256 of
// everything before it. Offsets point at the stored bytes, past the record header. A pack's id
// is the SHA-256 of its magic, its record headers and its deflated stored bytes, in order. An
// index may list only some of its pack's objects; it is named by its checksum (`packIndexKey`), so
// `gage gc` writes a new index, under a new name, to change what a pack's index lists.
const PACK_MAGIC = Buffer.from("GAGEPACK");
const RECORD_HEADER = 1 + 32 + 4 + 4;
/** Bytes a pack spends on each object besides its stored bytes (what dropping one frees). */
export const PACK_RECORD_HEADER_BYTES = RECORD_HEADER;
/** Bytes of a pack that hold no object (its magic). */
export const PACK_HEADER_BYTES = PACK_MAGIC.length;
export { PackIndex } from "./pack-index.js";

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
 * into one buffer, which spares an allocation per file). `data` may be a view of shared memory
 * (a worker's batch): copy it with `copyBytes`.
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
      await this.#append(id, data.length, CODEC_RAW, last ? copyOf(data) : data, last);
      return true;
    }
    // Deflating happens after `add` returns, on the thread pool: it gets its own copy.
    const own = copyOf(data);
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
    copyBytes(stored, pack.buf, pack.length + RECORD_HEADER);
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
