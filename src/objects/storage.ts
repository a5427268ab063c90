import type { Readable } from "node:stream";
import type { ObjectId } from "./ids.js";

/**
 * The part of the remotes `Storage` contract (src/remotes/storage.ts) the object store needs.
 * Declared here by structure so that every `Storage` backend satisfies it without this room
 * importing src/remotes.
 */
export interface ObjectStorage {
  /** Whole object, or `[start, end)`. A missing key throws an error whose `code` is "NOT_FOUND". */
  getBytes(key: string, range?: { start: number; end?: number }): Promise<Buffer>;
  /** Atomic write: readers never see a partial object. */
  put(key: string, data: Buffer | Uint8Array | Readable): Promise<void>;
  stat(key: string): Promise<{ size: number } | undefined>;
  /** Keys starting with `prefix`, in lexical order. */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<{ key: string; size: number }>;
  /** `list`'s keys alone, where the backend lists them cheaper (`Storage.listKeys`). */
  listKeys?(prefix: string, options?: { startAfter?: string }): AsyncIterable<string>;
  /** The file holding a key, where the backend keeps keys as files here (`Storage.filePath`). */
  filePath?(key: string): string;
}

/** The keys starting with `prefix`, in lexical order: `storage.listKeys` where offered, else `list`. */
export async function* listKeys(storage: ObjectStorage, prefix: string, options: { startAfter?: string } = {}): AsyncIterable<string> {
  if (storage.listKeys !== undefined) yield* storage.listKeys(prefix, options);
  else for await (const { key } of storage.list(prefix, options)) yield key;
}

/**
 * Every key the object store writes is `packs/<64 hex>.pack` or `packs/<64 hex>.<64 hex>.idx`:
 * fixed length under one fixed prefix, so listings page identically on every backend
 * (docs/design.md §8). Release 0.1.0 wrote indexes as `packs/<64 hex>.idx`; they are still read.
 */
export const PACK_PREFIX = "packs/";

export function packKey(packId: ObjectId): string {
  return `${PACK_PREFIX}${packId}.pack`;
}

/**
 * A pack index's key: the pack's id and the index's own checksum (its last 32 bytes), so an index
 * is immutable under its name and a changed index is a new key (docs/formats.md, Pack indexes).
 */
export function packIndexKey(packId: ObjectId, indexBytes: Uint8Array): string {
  if (indexBytes.length < 32) throw new RangeError("a pack index ends with its 32-byte checksum");
  return `${PACK_PREFIX}${packId}.${Buffer.from(indexBytes.buffer, indexBytes.byteOffset + indexBytes.length - 32, 32).toString("hex")}.idx`;
}

/** The key release 0.1.0 gave a pack's index (rewritten in place by its gc: never kept locally). */
export function legacyPackIndexKey(packId: ObjectId): string {
  return `${PACK_PREFIX}${packId}.idx`;
}

const INDEX_KEY_RE = /^packs\/([0-9a-f]{64})(?:\.([0-9a-f]{64}))?\.idx$/;

/** An index key's pack id and checksum (undefined for a 0.1.0 key), or `undefined` for any other key. */
export function parsePackIndexKey(key: string): { packId: ObjectId; sum: string | undefined } | undefined {
  const m = INDEX_KEY_RE.exec(key);
  return m ? { packId: m[1]!, sum: m[2] } : undefined;
}
