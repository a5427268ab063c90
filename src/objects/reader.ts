import { createHash } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import pLimit from "p-limit";
import {
  decodeChunkList,
  decodeSnapshot,
  decodeTree,
  MIN_CHUNK_BYTES,
  type ChunkList,
  type Snapshot,
  type Tree,
  type TreeEntry,
} from "./codec.js";
import { CorruptObjectError, FormatError, ObjectNotFoundError } from "./errors.js";
import { hashBytes, type ObjectId } from "./ids.js";
import { checkIndexName, CODEC_DEFLATE, CODEC_RAW, comparePackOrder, PackIndex, type PackLocation } from "./pack.js";
import { listKeys, PACK_PREFIX, packKey, parsePackIndexKey, type ObjectStorage } from "./storage.js";
import type { FileRestorer, RestoredFiles } from "./restore-native.js";

/** Reads every pack index on `storage` not yet in `index` (a new index when omitted). */
export async function loadPackIndex(storage: ObjectStorage, index = new PackIndex(), concurrency = 8): Promise<PackIndex> {
  const listed = await listPackIndexes(storage);
  const read = await fetchPackIndexes(storage, listed.filter((l) => !index.hasIndex(l.key)), concurrency);
  index.addIndexes(read.map((r) => ({ packId: r.packId, indexBytes: r.bytes, key: r.key })));
  return index;
}

/** How `loadPackIndexKept` reads: which listing, which packs, into which index. */
export interface KeptLoadOptions {
  /** Index reads in flight at once (default 8). */
  concurrency?: number;
  /** The storage's index keys, listed moments ago (`listPackIndexes`); listed here when absent. */
  listed?: readonly ListedIndex[];
  /** Only the indexes of these packs (pack hints: docs/formats.md, Heads); default every pack. */
  packs?: ReadonlySet<ObjectId>;
  /** Add to this index (its index files already added are not read again); default a new one. */
  into?: PackIndex;
  /** Read from the storage the listed keys no kept copy stands for (default true). */
  fetch?: boolean;
}

/**
 * `loadPackIndex` with index files read before (`kept`, key → bytes): a listed key found there is
 * not read again (a GET each on S3). Only immutable keys are kept, so a kept copy under a key the
 * storage lists now is what the storage holds (docs/formats.md, Pack indexes); each is checked
 * again as it is added. Returns the index and the index file of every immutable key it took
 * (every one listed, unless `packs` or `fetch: false` narrowed them).
 */
export async function loadPackIndexKept(
  storage: ObjectStorage,
  kept: ReadonlyMap<string, Buffer>,
  options: KeptLoadOptions = {},
): Promise<{ index: PackIndex; files: Map<string, Buffer> }> {
  const index = options.into ?? new PackIndex();
  const files = new Map<string, Buffer>();
  const listed = options.listed ?? (await listPackIndexes(storage));
  const wanted = options.packs === undefined ? listed : listed.filter((l) => options.packs!.has(l.packId));
  for (const { key, packId, sum } of wanted) {
    const bytes = sum === undefined ? undefined : kept.get(key);
    if (bytes === undefined) continue;
    try {
      checkIndexName(key, bytes);
      index.addIndex(packId, bytes, key);
      files.set(key, bytes);
    } catch (err) {
      // A damaged copy is read again from the storage.
      if (!(err instanceof FormatError)) throw err;
    }
  }
  if (options.fetch === false) return { index, files };
  const read = await fetchPackIndexes(storage, wanted.filter((l) => !index.hasIndex(l.key)), options.concurrency ?? 8);
  for (const { key, packId, sum, bytes } of read) {
    index.addIndex(packId, bytes, key);
    if (sum !== undefined) files.set(key, bytes);
  }
  return { index, files };
}

/** An index lists at most this much (~1.3 million objects; a 16 MiB pack holds far fewer). */
export const MAX_PACK_INDEX_BYTES = 64 * 1024 * 1024;

/**
 * A pack index file's bytes, read with a ranged read of at most `MAX_PACK_INDEX_BYTES`: a bigger
 * one (a sparse gigabyte file costs a forger nothing) is refused unread.
 * @throws FormatError when the file is larger.
 */
export async function readPackIndexBytes(storage: ObjectStorage, key: string): Promise<Buffer> {
  const bytes = await storage.getBytes(key, { start: 0, end: MAX_PACK_INDEX_BYTES + 1 });
  if (bytes.length > MAX_PACK_INDEX_BYTES) throw new FormatError(`pack index ${key}`, `larger than ${MAX_PACK_INDEX_BYTES} bytes`);
  return bytes;
}

/** A pack index file a storage lists. */
export interface ListedIndex {
  key: string;
  packId: ObjectId;
  /** The index's checksum, named by its key; undefined for a 0.1.0 key (rewritten in place). */
  sum: string | undefined;
  /** Its bytes, when listed with `sized` (what reading it costs). */
  size?: number;
}

/** The pack index keys a storage lists now; `sized`: with their sizes (a stat each on some backends). */
export async function listPackIndexes(storage: ObjectStorage, sized = false): Promise<ListedIndex[]> {
  const out: ListedIndex[] = [];
  if (sized) {
    for await (const { key, size } of storage.list(PACK_PREFIX)) {
      const named = parsePackIndexKey(key);
      if (named !== undefined) out.push({ key, ...named, size });
    }
    return out;
  }
  for await (const key of listKeys(storage, PACK_PREFIX)) {
    const named = parsePackIndexKey(key);
    if (named !== undefined) out.push({ key, ...named });
  }
  return out;
}

/**
 * Reads index files by key, each checked against its name. One gone since the listing was replaced
 * or set aside by `gage gc`: the pack's keys are listed again once, and what is there now is read;
 * a pack with none left is out of use, as if never listed.
 */
async function fetchPackIndexes(storage: ObjectStorage, wanted: readonly ListedIndex[], concurrency: number, again = true): Promise<(ListedIndex & { bytes: Buffer })[]> {
  const limit = pLimit(concurrency);
  const gone: ListedIndex[] = [];
  const read = await Promise.all(
    wanted.map((l) =>
      limit(async () => {
        try {
          const bytes = await readPackIndexBytes(storage, l.key);
          checkIndexName(l.key, bytes);
          return { ...l, bytes };
        } catch (err) {
          if ((err as { code?: unknown }).code !== "NOT_FOUND") throw err;
          gone.push(l);
          return undefined;
        }
      }),
    ),
  );
  const out = read.filter((r) => r !== undefined);
  if (gone.length > 0 && again) {
    const packs = new Set(gone.map((l) => l.packId));
    const tried = new Set(wanted.map((l) => l.key));
    const now = (await listPackIndexes(storage)).filter((l) => packs.has(l.packId) && !tried.has(l.key));
    out.push(...(await fetchPackIndexes(storage, now, concurrency, false)));
  }
  return out;
}

/**
 * The largest object a store holds (stored or raw): a tree of a folder with a million entries, a
 * chunk list of a file of terabytes. A pack index declaring more is damaged or hostile, and is
 * never believed enough to allocate for it.
 */
export const MAX_OBJECT_BYTES = 256 * 1024 * 1024;
/** Deflate cannot expand data by more than 1032:1 (RFC 1951); a raw length beyond is a lie. */
const MAX_DEFLATE_RATIO = 1032;

// Reads of neighbouring objects in one pack are merged when the gap between them is small.
const MAX_GAP = 256 * 1024;
const MAX_SPAN = 8 * 1024 * 1024;
const GROUP_BYTES = 8 * 1024 * 1024;

export interface ReadManyOptions {
  /** Ranged reads in flight at once (default 4). */
  concurrency?: number;
}

/**
 * Reads objects by id from the packs of an `ObjectStorage`. Every object is decompressed and
 * hashed before it is returned; bytes that do not match their id throw `CorruptObjectError`.
 */
export interface ObjectReaderOptions {
  /**
   * Adds the indexes `index` was loaded without (it holds only some packs': pack hints), called
   * once, the first time an object asked for is not in it.
   */
  whenMissing?: () => Promise<void>;
}

export class ObjectReader {
  readonly storage: ObjectStorage;
  readonly index: PackIndex;
  #whenMissing: (() => Promise<void>) | undefined;
  #completing: Promise<void> | undefined;

  constructor(storage: ObjectStorage, index: PackIndex, options: ObjectReaderOptions = {}) {
    this.storage = storage;
    this.index = index;
    this.#whenMissing = options.whenMissing;
  }

  /**
   * Makes sure the index lists every object of `ids` it can: when one is missing from an index
   * loaded in part, the rest of the indexes are loaded (once). Objects missing still are missing.
   */
  async ensure(ids: Iterable<ObjectId>): Promise<void> {
    if (this.#completing === undefined) {
      if (this.#whenMissing === undefined) return;
      let missing = false;
      for (const id of ids) {
        if (!this.index.has(id)) {
          missing = true;
          break;
        }
      }
      if (!missing) return;
      this.#completing = this.#whenMissing();
      this.#whenMissing = undefined;
    }
    await this.#completing;
  }

  static async open(storage: ObjectStorage): Promise<ObjectReader> {
    return new ObjectReader(storage, await loadPackIndex(storage));
  }

  has(id: ObjectId): boolean {
    return this.index.has(id);
  }

  /**
   * A writer of new staged files of its own, on native threads (a Git pack's), telling `done` of
   * each batch written; undefined: none.
   */
  fileRestorer<T>(_fsync: boolean, _done: RestoredFiles<T>): FileRestorer<T> | undefined {
    return undefined;
  }

  async read(id: ObjectId): Promise<Buffer> {
    await this.ensure([id]);
    const loc = this.#locate(id);
    const stored = await this.storage.getBytes(packKey(loc.packId), { start: loc.offset, end: loc.offset + loc.storedLength });
    return verifyObject(id, loc, stored);
  }

  /**
   * Reads many objects, merging neighbouring ranges of a pack into one request. Yields in the
   * order reads complete, each object verified.
   */
  async *readMany(ids: Iterable<ObjectId>, options: ReadManyOptions = {}): AsyncGenerator<{ id: ObjectId; data: Buffer }> {
    const unique = [...new Set(ids)];
    await this.ensure(unique);
    const spans = planSpans(unique.map((id) => ({ id, loc: this.#locate(id) })));
    const limit = pLimit(options.concurrency ?? 4);
    const pending = new Map<number, Promise<{ n: number; out: { id: ObjectId; data: Buffer }[] }>>();
    let next = 0;
    const start = () => {
      const n = next++;
      const span = spans[n]!;
      const job = limit(async () => {
          const bytes = await this.storage.getBytes(packKey(span.packId), { start: span.start, end: span.end });
          const out = span.items.map(({ id, loc }) =>
            ({ id, data: verifyObject(id, loc, bytes.subarray(loc.offset - span.start, loc.offset - span.start + loc.storedLength)) }),
          );
          return { n, out };
        });
      // Raced below; a failure surfaces there, and a later one must not go unhandled.
      job.catch(() => undefined);
      pending.set(n, job);
    };
    const window = (options.concurrency ?? 4) * 2;
    while (next < spans.length && pending.size < window) start();
    while (pending.size > 0) {
      const { n, out } = await Promise.race(pending.values());
      pending.delete(n);
      if (next < spans.length) start();
      yield* out;
    }
  }

  async readTree(id: ObjectId): Promise<Tree> {
    return decodeAs(id, await this.read(id), decodeTree);
  }

  /** Many trees at once (neighbouring ones in one request each), by id. */
  async readTrees(ids: Iterable<ObjectId>): Promise<Map<ObjectId, Tree>> {
    const out = new Map<ObjectId, Tree>();
    for await (const { id, data } of this.readMany(ids)) out.set(id, decodeAs(id, data, decodeTree));
    return out;
  }

  async readChunkList(id: ObjectId): Promise<ChunkList> {
    return decodeAs(id, await this.read(id), decodeChunkList);
  }

  async readSnapshot(id: ObjectId): Promise<Snapshot> {
    return decodeAs(id, await this.read(id), decodeSnapshot);
  }

  /**
   * A file's bytes in order, verified piece by piece and as a whole: the last piece is yielded
   * only after the whole-file SHA-256 matched `entry.id`.
   */
  async *readFile(entry: Pick<TreeEntry, "id" | "size" | "chunks">): AsyncGenerator<Buffer> {
    if (entry.chunks === undefined) {
      const data = await this.read(entry.id);
      if (data.length !== entry.size) throw new CorruptObjectError(entry.id, { reason: `size ${data.length}, tree says ${entry.size}` });
      yield data;
      return;
    }
    const list = await this.chunkListOf(entry as TreeEntry & { chunks: ObjectId });
    const whole = createHash("sha256");
    let held: Buffer | undefined;
    // Chunks are fetched about 8 MiB at a time in order, so memory stays bounded for any file size.
    for (let i = 0; i < list.chunks.length; ) {
      const ids: ObjectId[] = [];
      for (let bytes = 0; i < list.chunks.length && (ids.length === 0 || bytes < GROUP_BYTES); i++) {
        ids.push(list.chunks[i]!.id);
        bytes += list.chunks[i]!.size;
      }
      const got = new Map<ObjectId, Buffer>();
      for await (const { id, data } of this.readMany(ids)) got.set(id, data);
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k]!;
        const data = got.get(id)!;
        const declared = list.chunks[i - ids.length + k]!.size;
        if (data.length !== declared) throw new CorruptObjectError(entry.chunks, { reason: `chunk ${id} is ${data.length} bytes, its list says ${declared}` });
        whole.update(data);
        if (held !== undefined) yield held;
        held = data;
      }
    }
    const actual = whole.digest("hex");
    if (actual !== entry.id) throw new CorruptObjectError(entry.id, { actual, reason: `its chunks hash to ${actual}` });
    if (held !== undefined) yield held;
  }

  /**
   * The chunk list of a file's tree entry, checked against the entry's size.
   * @throws CorruptObjectError for a list that cannot be this file's.
   */
  async chunkListOf(entry: Pick<TreeEntry, "size"> & { chunks: ObjectId }): Promise<ChunkList> {
    // A list can hold no more chunks than its file's size allows (decodeChunkList): one declaring
    // more bytes than such a list takes is refused before it is read and decoded.
    await this.ensure([entry.chunks]);
    const listBytes = this.#locate(entry.chunks).rawLength;
    if (listBytes > maxChunkListBytes(entry.size)) {
      throw new CorruptObjectError(entry.chunks, { reason: `a chunk list of ${listBytes} bytes for a file of ${entry.size}` });
    }
    const list = await this.readChunkList(entry.chunks);
    if (list.size !== entry.size) throw new CorruptObjectError(entry.chunks, { reason: `chunk list size ${list.size}, tree says ${entry.size}` });
    return list;
  }

  /**
   * Where an object is, once its index entry is found believable (nothing read).
   * @throws ObjectNotFoundError, or CorruptObjectError for an entry no pack can hold.
   */
  locate(id: ObjectId): PackLocation {
    return this.#locate(id);
  }

  #locate(id: ObjectId): PackLocation {
    const loc = this.index.get(id);
    if (loc === undefined) throw new ObjectNotFoundError(id);
    const bad = badLocation(loc);
    if (bad !== undefined) throw new CorruptObjectError(id, { where: `the index of ${packKey(loc.packId)}`, reason: bad });
    return loc;
  }
}

/** The most bytes a canonical chunk list of a `size`-byte file takes (40 per chunk at most). */
function maxChunkListBytes(size: number): number {
  return 64 + 40 * (Math.floor(size / MIN_CHUNK_BYTES) + 1);
}

/** Why a pack index entry cannot be believed (before anything is read or allocated for it). */
function badLocation(loc: PackLocation): string | undefined {
  const { offset, storedLength, rawLength, codec } = loc;
  if (!Number.isSafeInteger(offset + storedLength)) return `its index puts it at offset ${offset}, past any pack`;
  if (storedLength > MAX_OBJECT_BYTES || rawLength > MAX_OBJECT_BYTES) return `its index declares ${Math.max(storedLength, rawLength)} bytes, more than any object holds`;
  if (codec === CODEC_RAW && rawLength !== storedLength) return `its index declares ${rawLength} bytes stored as ${storedLength}`;
  if (codec === CODEC_DEFLATE && rawLength > storedLength * MAX_DEFLATE_RATIO + 1024) return `its index declares ${rawLength} bytes deflated into ${storedLength}`;
  return undefined;
}

/** `decode(bytes)`, where bytes that do not decode are a corrupt object named by its id. */
export function decodeAs<T>(id: ObjectId, bytes: Buffer, decode: (b: Buffer) => T): T {
  try {
    return decode(bytes);
  } catch (err) {
    if (err instanceof FormatError) throw new CorruptObjectError(id, { reason: err.message }, { cause: err });
    throw err;
  }
}

function verifyObject(id: ObjectId, loc: PackLocation, stored: Buffer): Buffer {
  const where = packKey(loc.packId);
  if (stored.length !== loc.storedLength) throw new CorruptObjectError(id, { where, reason: "truncated" });
  let data: Buffer;
  if (loc.codec === CODEC_DEFLATE) {
    try {
      // The declared length bounds the output (checked against the stored length first).
      data = inflateRawSync(stored, { maxOutputLength: Math.max(1, loc.rawLength) });
    } catch (err) {
      throw new CorruptObjectError(id, { where, reason: "cannot be decompressed" }, { cause: err });
    }
    if (data.length !== loc.rawLength) throw new CorruptObjectError(id, { where, reason: `it inflates to ${data.length} bytes, its index says ${loc.rawLength}` });
  } else if (loc.codec === CODEC_RAW) {
    data = stored;
  } else {
    throw new CorruptObjectError(id, { where, reason: `unknown codec ${loc.codec as number}` });
  }
  const actual = hashBytes(data);
  if (actual !== id) throw new CorruptObjectError(id, { where, actual });
  return data;
}

interface Span {
  packId: ObjectId;
  start: number;
  end: number;
  items: { id: ObjectId; loc: PackLocation }[];
}

function planSpans(items: { id: ObjectId; loc: PackLocation }[]): Span[] {
  items.sort((a, b) => comparePackOrder(a.loc, b.loc));
  const spans: Span[] = [];
  let cur: Span | undefined;
  for (const item of items) {
    const { packId, offset, storedLength } = item.loc;
    const end = offset + storedLength;
    if (cur !== undefined && cur.packId === packId && offset - cur.end <= MAX_GAP && end - cur.start <= MAX_SPAN) {
      cur.end = Math.max(cur.end, end);
      cur.items.push(item);
    } else {
      cur = { packId, start: offset, end, items: [item] };
      spans.push(cur);
    }
  }
  return spans;
}
