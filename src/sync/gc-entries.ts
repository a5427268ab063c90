import { randomBytes } from "node:crypto";
import { writeIdBytes, type ObjectId } from "../objects/index.js";
import { decodePackIndex, encodePackIndex, packIndexEntries, PACK_RECORD_HEADER_BYTES, type PackIndexEntry } from "../objects/pack.js";
import { INDEX_ENTRY, INDEX_HEADER } from "../objects/pack-index.js";

/**
 * The entries of one pack's index as gc holds them: the index file's bytes (49 bytes an object,
 * shared with the lookup index gc reads through), decoded one entry at a time as a plan walks
 * them. An array of entry objects took three times the memory, for every object of the remote.
 * Offers the array methods gc's planning uses.
 */
export class PackEntries implements Iterable<PackIndexEntry> {
  /** An encoded index (`encodePackIndex`), checked. */
  readonly bytes: Buffer;
  readonly length: number;
  /** The entries' stored bytes, summed. */
  readonly storedBytes: number;

  private constructor(bytes: Buffer, entries: readonly PackIndexEntry[]) {
    this.bytes = bytes;
    this.length = entries.length;
    this.storedBytes = storedBytes(entries);
  }

  /** An index file as read, after checking it whole (`FormatError` when it is damaged). */
  static read(packId: ObjectId, bytes: Buffer, where: string): PackEntries {
    return new PackEntries(bytes, decodePackIndex(packId, bytes, where));
  }

  /** The index of `entries` (encoded, as gc writes it). */
  static of(packId: ObjectId, entries: readonly PackIndexEntry[]): PackEntries {
    return new PackEntries(encodePackIndex(packId, [...entries]), entries);
  }

  /** `bytes` encoded from `entries` already (what gc just wrote). */
  static encoded(bytes: Buffer, entries: readonly PackIndexEntry[]): PackEntries {
    return new PackEntries(bytes, entries);
  }

  [Symbol.iterator](): Iterator<PackIndexEntry> {
    return packIndexEntries(this.bytes);
  }

  some(test: (e: PackIndexEntry) => boolean): boolean {
    for (const e of this) if (test(e)) return true;
    return false;
  }

  filter(test: (e: PackIndexEntry) => boolean): PackIndexEntry[] {
    const out: PackIndexEntry[] = [];
    for (const e of this) if (test(e)) out.push(e);
    return out;
  }

  /** True when `set` holds every id listed (read on the bytes: no entry made). */
  allIn(set: IdSet): boolean {
    for (let i = 0, p = INDEX_HEADER; i < this.length; i++, p += INDEX_ENTRY) if (!set.hasAt(this.bytes, p)) return false;
    return true;
  }

  /**
   * The bytes the entries `set` holds take in the pack (stored bytes and record headers); the ids
   * it lacks are added to `lacking`.
   */
  packedBytesIn(set: IdSet, lacking: IdSet): number {
    let n = 0;
    for (let i = 0, p = INDEX_HEADER; i < this.length; i++, p += INDEX_ENTRY) {
      if (set.hasAt(this.bytes, p)) n += this.bytes.readUInt32BE(p + 40) + PACK_RECORD_HEADER_BYTES;
      else lacking.addAt(this.bytes, p);
    }
    return n;
  }

  ids(): ObjectId[] {
    const out: ObjectId[] = [];
    for (const e of this) out.push(e.id);
    return out;
  }
}

/** The stored bytes of `entries`, summed. */
export function storedBytes(entries: Iterable<PackIndexEntry> | PackEntries): number {
  if (entries instanceof PackEntries) return entries.storedBytes;
  let n = 0;
  for (const e of entries) n += e.storedLength;
  return n;
}

/**
 * The ids of the objects gc keeps, each held as its first 16 bytes in one open-addressed table of
 * bytes (24 bytes an id at most, off the JS heap, where a `Set` of strings took ~70 and made the
 * collector walk a million strings). Two ids that share 128 bits cannot be made on purpose, and
 * would only keep an unreachable object. Slots are chosen by a hash keyed with a random seed, so
 * ids forged to share a prefix cannot pile up on one slot.
 */
export class IdSet {
  #keys: Uint8Array;
  #used: Uint8Array;
  #mask: number;
  #size = 0;
  readonly #seed = randomBytes(4).readUInt32LE(0);

  /** `expected`: how many ids it will likely hold (room for them is made at once, not grown into). */
  constructor(expected = 0) {
    let slots = 1024;
    while (slots < expected * 2) slots *= 2;
    this.#keys = new Uint8Array(KEY * slots);
    this.#used = new Uint8Array(slots);
    this.#mask = slots - 1;
  }

  has(id: ObjectId): boolean {
    return this.hasAt(hexKey(id), 0);
  }

  add(id: ObjectId): this {
    this.addAt(hexKey(id), 0);
    return this;
  }

  /** `has` of the id whose bytes start at `bytes[at]` (its first 16 bytes are read). */
  hasAt(bytes: Uint8Array, at: number): boolean {
    return this.#slot(bytes, at) < 0;
  }

  /** Adds the id whose bytes start at `bytes[at]`; false when it was there already. */
  addAt(bytes: Uint8Array, at: number): boolean {
    const slot = this.#slot(bytes, at);
    if (slot < 0) return false;
    this.#keys.set(bytes.subarray(at, at + KEY), slot * KEY);
    this.#used[slot] = 1;
    if (++this.#size * 2 > this.#mask) this.#grow();
    return true;
  }

  get size(): number {
    return this.#size;
  }

  /** How many of these ids `other` lacks. */
  countNotIn(other: IdSet): number {
    let n = 0;
    for (let s = 0; s <= this.#mask; s++) if (this.#used[s] === 1 && !other.hasAt(this.#keys, s * KEY)) n++;
    return n;
  }

  /** The free slot for the key at `bytes[at]`, or -1 when it is held. */
  #slot(bytes: Uint8Array, at: number): number {
    const keys = this.#keys;
    let s = hashKey(bytes, at, this.#seed) & this.#mask;
    for (;;) {
      if (this.#used[s] === 0) return s;
      let same = true;
      for (let j = 0, p = s * KEY; j < KEY; j++) {
        if (keys[p + j] !== bytes[at + j]) {
          same = false;
          break;
        }
      }
      if (same) return -1;
      s = (s + 1) & this.#mask;
    }
  }

  #grow(): void {
    const keys = this.#keys;
    const used = this.#used;
    const slots = (this.#mask + 1) * 2;
    this.#keys = new Uint8Array(KEY * slots);
    this.#used = new Uint8Array(slots);
    this.#mask = slots - 1;
    for (let s = 0; s < used.length; s++) {
      if (used[s] !== 1) continue;
      const slot = this.#slot(keys, s * KEY);
      this.#keys.set(keys.subarray(s * KEY, s * KEY + KEY), slot * KEY);
      this.#used[slot] = 1;
    }
  }
}

/** Bytes of an id an `IdSet` keeps. */
const KEY = 16;

// Reused for every id given as hex: no buffer is allocated per lookup.
const scratch = Buffer.alloc(32);

function hexKey(id: ObjectId): Buffer {
  if (!writeIdBytes(id, scratch)) throw new Error(`internal: ${id} is not an object id`);
  return scratch;
}

/** A 32-bit hash of the 16 bytes at `b[at]`, mixed with `seed` (murmur3's finalizer per word). */
function hashKey(b: Uint8Array, at: number, seed: number): number {
  let h = seed;
  for (let j = 0; j < KEY; j += 4) {
    let k = (b[at + j]! | (b[at + j + 1]! << 8) | (b[at + j + 2]! << 16) | (b[at + j + 3]! << 24)) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
