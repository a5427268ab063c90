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

// File: MAGIC, [u32 LE length] file rows, then directory rows to the end.
// File row: [path length u16][path utf8][size, mtimeMs, ctimeMs, ino: f64 LE][flags u8: 1 = has
// chunks][id 32][chunks 32 when flagged]. File rows are sorted by their path's bytes: loading only
// notes where each row starts, and a lookup is a binary search, so the handful of files looked up
// one by one in a no-change snapshot (user log entries) does not cost decoding 100,000 paths.
// Directory row: [path length u16][path utf8][signature 32][tree id 32].
// GAGESTC2 (unsorted rows) is read as empty: a cache, so one snapshot hashes everything again.
const MAGIC = Buffer.from("GAGESTC3");
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
  /** The loaded file; its file rows start at `#rowStarts`, in path order. */
  #bytes: Buffer = Buffer.alloc(0);
  #rowStarts: Uint32Array = new Uint32Array(0);
  /** Directory path → hex of its signature (64 digits) then its tree id (64 digits). */
  readonly #dirs = new Map<string, string>();
  #dirsChanged = false;
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
    if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return cache;
    const filesEnd = MAGIC.length + 4 + bytes.readUInt32LE(MAGIC.length);
    if (filesEnd > bytes.length) return cache;
    const rowStarts = fileRowStarts(bytes, filesEnd);
    if (rowStarts === undefined) return cache;
    let p = filesEnd;
    const dirs = new Map<string, string>();
    while (p < bytes.length) {
      if (p + 2 > bytes.length) return cache;
      const at = p + 2 + bytes.readUInt16LE(p);
      if (at + 64 > bytes.length) return cache;
      dirs.set(bytes.toString("utf8", p + 2, at), bytes.toString("hex", at, at + 64));
      p = at + 64;
    }
    cache.#bytes = bytes;
    cache.#rowStarts = rowStarts;
    for (const [k, v] of dirs) cache.#dirs.set(k, v);
    return cache;
  }

  /** The offset of the stamp of `path`'s loaded row, or -1. */
  #find(path: string): number {
    const key = Buffer.from(path, "utf8");
    const b = this.#bytes;
    const starts = this.#rowStarts;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = starts[mid]!;
      const at = p + 2 + b.readUInt16LE(p);
      const c = key.compare(b, p + 2, at);
      if (c === 0) return at;
      if (c > 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  get size(): number {
    let n = this.#rowStarts.length;
    for (const [path, row] of this.#changed) n += (row === undefined ? 0 : 1) - (this.#find(path) >= 0 ? 1 : 0);
    return n;
  }

  get dirty(): boolean {
    return this.#changed.size > 0 || this.#dirsChanged;
  }

  /**
   * The tree id of a directory whose signature (a digest of every child's name, kind, mode and
   * stamp, or tree id for a subdirectory) is unchanged: then no child needs looking up.
   */
  lookupDir(path: string, signature: string): ObjectId | undefined {
    const row = this.#dirs.get(path);
    return row !== undefined && row.startsWith(signature) ? row.slice(64) : undefined;
  }

  /** `newestChangeMs`: the latest mtime or ctime among the children (racy ones are not kept). */
  recordDir(path: string, signature: string, treeId: ObjectId, newestChangeMs: number): void {
    if (newestChangeMs > this.#now() - RACY_MS) {
      if (this.#dirs.delete(path)) this.#dirsChanged = true;
      return;
    }
    const row = signature + treeId;
    if (this.#dirs.get(path) === row) return;
    this.#dirs.set(path, row);
    this.#dirsChanged = true;
  }

  lookup(path: string, stamp: FileStamp): CachedIds | undefined {
    if (this.#changed.has(path)) {
      const row = this.#changed.get(path);
      return row !== undefined && sameStamp(row.stamp, stamp) ? row.ids : undefined;
    }
    const at = this.#find(path);
    if (at < 0) return undefined;
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
    if (this.#find(path) >= 0 || this.#changed.get(path) !== undefined) this.#changed.set(path, undefined);
  }

  /** Writes the cache atomically (temp file, rename). */
  async save(file: string): Promise<void> {
    // The loaded rows are in order already: merge the changed ones (sorted) into them.
    const changed = [...this.#changed].map(([path, row]) => ({ key: Buffer.from(path, "utf8"), row }));
    changed.sort((x, y) => Buffer.compare(x.key, y.key));
    const b = this.#bytes;
    const parts: Buffer[] = [];
    let k = 0;
    for (const p of this.#rowStarts) {
      const at = p + 2 + b.readUInt16LE(p);
      const name = b.subarray(p + 2, at);
      while (k < changed.length && changed[k]!.key.compare(name) < 0) pushRow(parts, changed[k++]!);
      if (k < changed.length && changed[k]!.key.equals(name)) pushRow(parts, changed[k++]!);
      else parts.push(b.subarray(p, at + STAMP + 1 + (b[at + STAMP] === 1 ? 64 : 32)));
    }
    while (k < changed.length) pushRow(parts, changed[k++]!);
    const fileBytes = parts.reduce((n, x) => n + x.length, 0);
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(fileBytes);
    parts.unshift(MAGIC, length);
    for (const [path, row] of this.#dirs) parts.push(encodeDirRow(path, row));
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
    this.#rowStarts = saved.#rowStarts;
    this.#changed.clear();
    this.#dirsChanged = false;
  }
}

/**
 * Where each file row starts, or `undefined` when the rows are damaged. Their order is not checked
 * (a pass of 100,000 comparisons): rows out of order can only be missed by a lookup, and a missed
 * file is hashed again, never trusted.
 */
function fileRowStarts(bytes: Buffer, end: number): Uint32Array | undefined {
  const starts: number[] = [];
  for (let p = MAGIC.length + 4; p < end; ) {
    if (p + 2 > end) return undefined;
    const at = p + 2 + bytes.readUInt16LE(p);
    const rowEnd = at + STAMP + 1 + (bytes[at + STAMP] === 1 ? 64 : 32);
    if (rowEnd > end) return undefined;
    starts.push(p);
    p = rowEnd;
  }
  return Uint32Array.from(starts);
}

/** A changed row goes out as encoded; a forgotten one (`row` undefined) is dropped. */
function pushRow(parts: Buffer[], { key, row }: { key: Buffer; row: Row | undefined }): void {
  if (row !== undefined) parts.push(encodeRow(key, row));
}

function pathHeader(path: string | Buffer): Buffer {
  const name = typeof path === "string" ? Buffer.from(path, "utf8") : path;
  if (name.length > 0xffff) throw new RangeError(`path too long for the stat cache: ${name.toString("utf8", 0, 80)}...`);
  const out = Buffer.allocUnsafe(2 + name.length);
  out.writeUInt16LE(name.length, 0);
  name.copy(out, 2);
  return out;
}

function encodeDirRow(path: string, row: string): Buffer {
  return Buffer.concat([pathHeader(path), Buffer.from(row, "hex")]);
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

function encodeRow(path: Buffer, row: Row): Buffer {
  const head = pathHeader(path);
  const chunked = row.ids.chunks !== undefined;
  const out = Buffer.allocUnsafe(head.length + STAMP + 1 + (chunked ? 64 : 32));
  head.copy(out, 0);
  let p = head.length;
  for (const v of [row.stamp.size, row.stamp.mtimeMs, row.stamp.ctimeMs, row.stamp.ino]) p = out.writeDoubleLE(v, p);
  out[p++] = chunked ? 1 : 0;
  out.write(row.ids.id, p, 32, "hex");
  if (chunked) out.write(row.ids.chunks!, p + 32, 32, "hex");
  return out;
}
