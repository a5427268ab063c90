import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ObjectId } from "./ids.js";

/** The lstat fields that say a file is unchanged. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface CachedIds {
  id: ObjectId;
  chunks?: ObjectId;
}

// File: MAGIC, then rows [path length u16][path utf8][size, mtimeMs, ctimeMs, ino: f64 LE]
// [flags u8: 1 = has chunks][id 32][chunks 32 when flagged]. Loading maps each path to its row's
// offset and decodes a row only when it is looked up, so a no-change run pays little for 100,000 rows.
const MAGIC = Buffer.from("GAGESTC1");
const STAMP = 32;

interface Row {
  stamp: FileStamp;
  ids: CachedIds;
}

// A file written within this window of being hashed could change again with the same mtime
// (coarse timestamps), so such entries are not kept ("racy" entries, as git calls them).
const RACY_MS = 2000;

export interface StatCacheOptions {
  /** The clock, in ms since the epoch (tests pass a fixed one). */
  now?: () => number;
}

/**
 * path → (size, mtime, ctime, inode) → object ids, so an unchanged file is not read again.
 * An entry is used only when every stamp field matches; any change means re-hashing.
 */
export class StatCache {
  readonly #now: () => number;
  /** Rows as loaded: path → offset of its stamp in `#bytes`. */
  readonly #loaded = new Map<string, number>();
  #bytes: Buffer = Buffer.alloc(0);
  /** Rows recorded (or forgotten: `undefined`) since loading. */
  readonly #changed = new Map<string, Row | undefined>();

  constructor(options: StatCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Loads a saved cache; a missing or unreadable file gives an empty cache (it is only a cache). */
  static async load(file: string, options: StatCacheOptions = {}): Promise<StatCache> {
    const cache = new StatCache(options);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return cache;
      throw err;
    }
    if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return cache;
    const rows = new Map<string, number>();
    let p = MAGIC.length;
    while (p < bytes.length) {
      if (p + 2 > bytes.length) return cache;
      const len = bytes.readUInt16LE(p);
      const at = p + 2 + len;
      if (at + STAMP + 1 > bytes.length) return cache;
      const rowEnd = at + STAMP + 1 + (bytes[at + STAMP] === 1 ? 64 : 32);
      if (rowEnd > bytes.length) return cache;
      rows.set(bytes.toString("utf8", p + 2, at), at);
      p = rowEnd;
    }
    cache.#bytes = bytes;
    for (const [k, v] of rows) cache.#loaded.set(k, v);
    return cache;
  }

  get size(): number {
    let n = this.#loaded.size;
    for (const [path, row] of this.#changed) n += (row === undefined ? 0 : 1) - (this.#loaded.has(path) ? 1 : 0);
    return n;
  }

  get dirty(): boolean {
    return this.#changed.size > 0;
  }

  lookup(path: string, stamp: FileStamp): CachedIds | undefined {
    if (this.#changed.has(path)) {
      const row = this.#changed.get(path);
      return row !== undefined && sameStamp(row.stamp, stamp) ? row.ids : undefined;
    }
    const at = this.#loaded.get(path);
    if (at === undefined) return undefined;
    const b = this.#bytes;
    if (b.readDoubleLE(at) !== stamp.size || b.readDoubleLE(at + 8) !== stamp.mtimeMs) return undefined;
    if (b.readDoubleLE(at + 16) !== stamp.ctimeMs || b.readDoubleLE(at + 24) !== stamp.ino) return undefined;
    const id = b.toString("hex", at + STAMP + 1, at + STAMP + 33);
    return b[at + STAMP] === 1 ? { id, chunks: b.toString("hex", at + STAMP + 33, at + STAMP + 65) } : { id };
  }

  record(path: string, stamp: FileStamp, ids: CachedIds): void {
    const racy = this.#now() - RACY_MS;
    if (stamp.mtimeMs > racy || stamp.ctimeMs > racy) {
      this.forget(path);
      return;
    }
    this.#changed.set(path, { stamp: { ...stamp }, ids: { ...ids } });
  }

  forget(path: string): void {
    if (this.#loaded.has(path) || this.#changed.get(path) !== undefined) this.#changed.set(path, undefined);
  }

  /** Writes the cache atomically (temp file, rename). */
  async save(file: string): Promise<void> {
    const parts: Buffer[] = [MAGIC];
    for (const [path, at] of this.#loaded) {
      if (this.#changed.has(path)) continue;
      const name = Buffer.from(path, "utf8");
      const head = Buffer.allocUnsafe(2);
      head.writeUInt16LE(name.length);
      parts.push(head, name, this.#bytes.subarray(at, at + STAMP + 1 + (this.#bytes[at + STAMP] === 1 ? 64 : 32)));
    }
    for (const [path, row] of this.#changed) if (row !== undefined) parts.push(encodeRow(path, row));
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(tmp, Buffer.concat(parts));
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const saved = await StatCache.load(file, { now: this.#now });
    this.#bytes = saved.#bytes;
    this.#loaded.clear();
    for (const [k, v] of saved.#loaded) this.#loaded.set(k, v);
    this.#changed.clear();
  }
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

function encodeRow(path: string, row: Row): Buffer {
  const name = Buffer.from(path, "utf8");
  if (name.length > 0xffff) throw new RangeError(`path too long for the stat cache: ${path.slice(0, 80)}...`);
  const chunked = row.ids.chunks !== undefined;
  const out = Buffer.allocUnsafe(2 + name.length + STAMP + 1 + (chunked ? 64 : 32));
  out.writeUInt16LE(name.length, 0);
  name.copy(out, 2);
  let p = 2 + name.length;
  for (const v of [row.stamp.size, row.stamp.mtimeMs, row.stamp.ctimeMs, row.stamp.ino]) p = out.writeDoubleLE(v, p);
  out[p++] = chunked ? 1 : 0;
  out.write(row.ids.id, p, 32, "hex");
  if (chunked) out.write(row.ids.chunks!, p + 32, 32, "hex");
  return out;
}
