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
}

/** The keys starting with `prefix`, in lexical order: `storage.listKeys` where offered, else `list`. */
export async function* listKeys(storage: ObjectStorage, prefix: string, options: { startAfter?: string } = {}): AsyncIterable<string> {
  if (storage.listKeys !== undefined) yield* storage.listKeys(prefix, options);
  else for await (const { key } of storage.list(prefix, options)) yield key;
}

/**
 * Every key the object store writes is `packs/<64 hex>.pack` or `packs/<64 hex>.idx`: fixed length
 * under one fixed prefix, so listings page identically on every backend (docs/design.md §8).
 */
export const PACK_PREFIX = "packs/";

export function packKey(packId: ObjectId): string {
  return `${PACK_PREFIX}${packId}.pack`;
}

export function packIndexKey(packId: ObjectId): string {
  return `${PACK_PREFIX}${packId}.idx`;
}

const INDEX_KEY_RE = /^packs\/([0-9a-f]{64})\.idx$/;

/** The pack id of an index key, or `undefined` for any other key. */
export function packIdOfIndexKey(key: string): ObjectId | undefined {
  return INDEX_KEY_RE.exec(key)?.[1];
}
