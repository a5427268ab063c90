import type { ObjectId } from "../objects/index.js";
import type { Storage } from "../remotes/storage.js";
import { timeKeyPart } from "./heads.js";

// The store keys gc and verify both parse (docs/formats.md): pack files and gc's set-aside records.

/**
 * Set-aside indexes live under `garbage/<12 hex ms>-<64 hex pack id>`: the full index a pack had
 * when gc last took objects out of it (or took the pack out of use), named by when. Readers never
 * list `garbage/`, so those objects are invisible to pulls and to pushes (which then upload them
 * again rather than reuse them); gc puts entries back when a head turns out to reach them.
 */
export const GARBAGE_PREFIX = "garbage/";

const PACK_FILE_RE = /^packs\/([0-9a-f]{64})\.pack$/;
const GARBAGE_KEY_RE = /^garbage\/([0-9a-f]{12})-([0-9a-f]{64})$/;

export function garbageKey(packId: ObjectId, nowMs: number): string {
  return `${GARBAGE_PREFIX}${timeKeyPart(nowMs)}-${packId}`;
}

/** The pack id of a `packs/<id>.pack` key; undefined for any other key. */
export function packFileId(key: string): ObjectId | undefined {
  return PACK_FILE_RE.exec(key)?.[1];
}

/** The time and pack id of a `garbage/` record's key; undefined for any other key. */
export function parseGarbageKey(key: string): { time: number; packId: ObjectId } | undefined {
  const m = GARBAGE_KEY_RE.exec(key);
  return m ? { time: Number.parseInt(m[1]!, 16), packId: m[2]! } : undefined;
}

/** Every key under `prefix` (after `startAfter`), with its size. */
export async function keysOf(storage: Storage, prefix: string, startAfter?: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for await (const e of storage.list(prefix, startAfter === undefined ? {} : { startAfter })) out.push(e);
  return out;
}
