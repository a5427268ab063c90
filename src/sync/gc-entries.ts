import type { ObjectId } from "../objects/index.js";
import { decodePackIndex, encodePackIndex, packIndexEntries, type PackIndexEntry } from "../objects/pack.js";

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
 * The ids of the objects gc keeps, each held as its first 16 bytes (a 16-character latin1 string,
 * 32 bytes of heap, where the 64 hex digits took 80): at a million objects, ~48 MB less. Two ids
 * that share 128 bits cannot be made on purpose, and would only keep an unreachable object.
 */
export class IdSet {
  readonly #keys = new Set<string>();

  has(id: ObjectId): boolean {
    return this.#keys.has(compact(id));
  }

  add(id: ObjectId): this {
    this.#keys.add(compact(id));
    return this;
  }

  get size(): number {
    return this.#keys.size;
  }

  /** How many of these ids `other` lacks. */
  countNotIn(other: IdSet): number {
    let n = 0;
    for (const k of this.#keys) if (!other.#keys.has(k)) n++;
    return n;
  }
}

// Reused for every id: no buffer is allocated per lookup.
const scratch = Buffer.alloc(16);

function compact(id: ObjectId): string {
  if (scratch.write(id, 0, 16, "hex") !== 16) throw new Error(`internal: ${id} is not an object id`);
  return scratch.toString("latin1", 0, 16);
}
