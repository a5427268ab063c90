import { closeSync, fstatSync, openSync, readFileSync, readSync, type Stats } from "node:fs";
import { firstOfKey, type CachedIds, type FileIdCache, type FileStamp, type ObjectId } from "../objects/index.js";
import { commitStateFile, removeStateFile } from "../state/files.js";

export type { CachedIds, FileIdCache, FileStamp } from "../objects/index.js";

// File (GAGESTC7): MAGIC, then the counts of file, directory and list rows and the byte lengths of
// their sections (u32 LE each); then, per kind (files, directories, lists), where each row starts
// in its section and its path hash (u32 LE each, in row order); then the directory rows, the list
// rows and the file rows.
// File row: [path hash u32 LE][path length u16][path utf8][size, mtimeMs, ctimeMs, ino: f64 LE]
// [flags u8: 1 = has chunks][id 32][chunks 32 when flagged].
// Directory row: [path hash u32 LE][path length u16][path utf8][signature 32][tree id 32].
// List row: [path hash u32 LE][path length u16][path utf8][signature 32][u32 LE length][payload]:
// what a scan derived from a folder's files (a run's user log entries), kept under the folder's
// whole-tree signature, so an unchanged folder costs one lookup, not one per file.
// Rows of each kind are sorted by the hash of their path (FNV-1a of its UTF-16 code units), and a
// lookup is a binary search on the hashes. The tables spare a load any pass over the rows, and the
// file rows (most of the file) are read only as they are looked up: a
// push of one new run reads a few dozen rows, not the section (past READS_BEFORE_WHOLE, it does).
// GAGESTC6 (the same rows, each section behind its [u32 LE length], no tables) and GAGESTC5 (no
// list rows) are read; older formats are read as empty: a cache, so one snapshot hashes
// everything again.
//
// A save that changes a few rows appends them to FILE.delta instead of writing the whole file
// again (a tenth of a second for a push of one run): DELTA_MAGIC, [u32 length] file rows, [u32
// length] directory rows, [u32 length] list rows, in any order, then the rows forgotten, to the
// end: [u8 kind: 0 file, 1 directory, 2 list][u16 length][path]. Loading applies the delta over
// the file; a save past the delta's limit writes the whole file and removes the delta. Every row
// only states what a path held at a stamp or signature, so a delta applied over another file (a
// crash between the two steps, two processes saving) can only make a lookup miss, never answer
// wrongly.
const MAGIC = Buffer.from("GAGESTC7");
const MAGIC_V6 = Buffer.from("GAGESTC6");
const MAGIC_V5 = Buffer.from("GAGESTC5");
/** MAGIC, three row counts and three section lengths. */
const HEAD = MAGIC.length + 24;
const DELTA_MAGIC = Buffer.from("GAGESTD1");
const DELTA_SUFFIX = ".delta";
/** File rows read one by one before the whole section is read instead. */
const READS_BEFORE_WHOLE = 128;
/** A delta grows to this many bytes, or a 32nd of the file, before the whole file is written again. */
const DELTA_MIN_LIMIT = 256 * 1024;
const DELTA_FRACTION = 32;
const STAMP = 32;

// A file written within this window of being hashed could change again with the same mtime
// (coarse timestamps), so such entries are not kept ("racy" entries, as git calls them).
export const RACY_MS = 2000;

export interface StatCacheOptions {
  /** The clock, in ms since the epoch (tests pass a fixed one). */
  now?: () => number;
}

/** FNV-1a over the path's UTF-16 code units: what file rows are sorted and found by. */
export function pathHash(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Encodes one file row (the cache file's format), e.g. on a worker thread that hashed the file. */
export function encodeFileRow(path: string, stamp: FileStamp, ids: CachedIds): Buffer {
  const name = Buffer.from(path, "utf8");
  if (name.length > 0xffff) throw new RangeError(`path too long for the stat cache: ${path.slice(0, 80)}...`);
  const chunked = ids.chunks !== undefined;
  const out = Buffer.allocUnsafe(6 + name.length + STAMP + 1 + (chunked ? 64 : 32));
  out.writeUInt32LE(pathHash(path), 0);
  out.writeUInt16LE(name.length, 4);
  name.copy(out, 6);
  let p = 6 + name.length;
  p = out.writeDoubleLE(stamp.size, p);
  p = out.writeDoubleLE(stamp.mtimeMs, p);
  p = out.writeDoubleLE(stamp.ctimeMs, p);
  p = out.writeDoubleLE(stamp.ino, p);
  out[p++] = chunked ? 1 : 0;
  out.write(ids.id, p, 32, "hex");
  if (chunked) out.write(ids.chunks!, p + 32, 32, "hex");
  return out;
}

/**
 * File rows of what a pull wrote, encoded as each file is noted into one growing buffer (no
 * object, string or buffer per file), for `StatCache.recordWrittenRows`. A row's path is
 * `dir/rel`, hashed and written in parts, never joined.
 */
export class WrittenRows {
  #b = Buffer.allocUnsafe(16 * 1024);
  #used = 0;
  #dir: string | undefined;
  #dirBytes = Buffer.alloc(0);
  #dirHash = 0;
  /** Rows noted. */
  count = 0;
  /** The newest modification time among them (ms). */
  newestMtimeMs = -Infinity;

  add(dir: string, rel: string, size: number, mtimeMs: number, ctimeMs: number, ino: number, id: ObjectId, chunks?: ObjectId): void {
    if (dir !== this.#dir) {
      this.#dir = dir;
      this.#dirBytes = Buffer.from(`${dir}/`, "utf8");
      this.#dirHash = pathHash(`${dir}/`);
    }
    let h = this.#dirHash;
    for (let i = 0; i < rel.length; i++) h = Math.imul(h ^ rel.charCodeAt(i), 0x01000193);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const most = 6 + this.#dirBytes.length + rel.length * 3 + STAMP + 65;
    if (this.#used + most > this.#b.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#b.length * 2, this.#used + most));
      this.#b.copy(grown, 0, 0, this.#used);
      this.#b = grown;
    }
    const b = this.#b;
    const at = this.#used;
    let p = at + 6 + this.#dirBytes.copy(b, at + 6);
    p += b.write(rel, p, "utf8");
    const nameLength = p - at - 6;
    if (nameLength > 0xffff) throw new RangeError(`path too long for the stat cache: ${dir.slice(0, 80)}...`);
    b.writeUInt32LE(h >>> 0, at);
    b.writeUInt16LE(nameLength, at + 4);
    p = b.writeDoubleLE(size, p);
    p = b.writeDoubleLE(mtimeMs, p);
    p = b.writeDoubleLE(ctimeMs, p);
    p = b.writeDoubleLE(ino, p);
    b[p++] = chunks !== undefined ? 1 : 0;
    p += b.write(id, p, 32, "hex");
    if (chunks !== undefined) p += b.write(chunks, p, 32, "hex");
    this.#used = p;
    this.count++;
    if (mtimeMs > this.newestMtimeMs) this.newestMtimeMs = mtimeMs;
  }

  /** The rows noted (a view of this buffer: read it before noting more). */
  rows(): Buffer {
    return this.#b.subarray(0, this.#used);
  }
}

/** Where the stamp of the row at `p` starts. */
const stampAt = (b: Buffer, p: number) => p + 6 + (b[p + 4]! | (b[p + 5]! << 8));
const rowEnd = (b: Buffer, p: number) => {
  const at = stampAt(b, p);
  return at + STAMP + 1 + (b[at + STAMP] === 1 ? 64 : 32);
};
const rowPath = (b: Buffer, p: number) => b.toString("utf8", p + 6, stampAt(b, p));
/**
 * `rowPath(b, p) === path`, compared in place: an ASCII path (most are) byte by byte, with no
 * string decoded per row looked at; a path with other characters is decoded and compared.
 */
function rowPathIs(b: Buffer, p: number, path: string): boolean {
  const from = p + 6;
  const length = stampAt(b, p) - from;
  // UTF-8 takes at least one byte per UTF-16 code unit.
  if (length < path.length) return false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 0x80) return b.toString("utf8", from, from + length) === path;
    if (b[from + i] !== c) return false;
  }
  return length === path.length;
}
/** Directory rows: the same head (hash, path), then signature and tree id. */
const dirRowEnd = (b: Buffer, p: number) => stampAt(b, p) + 64;
/** List rows: the same head, then signature, payload length and payload. */
const listRowEnd = (b: Buffer, p: number) => {
  const at = stampAt(b, p) + 32;
  return at + 4 + (at + 4 <= b.length ? b.readUInt32LE(at) : 0);
};

/** A row somewhere in memory: its buffer and where it starts. */
interface RowRef {
  b: Buffer;
  p: number;
}

/** Rows of one kind in hash order, in memory: row k starts at `bytes[base + starts[k]]`, its path hashes to `hashes[k]`. */
interface Rows {
  bytes: Buffer;
  base: number;
  starts: Uint32Array;
  hashes: Uint32Array;
}

/**
 * File rows left in the cache file until looked up (GAGESTC7): where each starts in the section
 * at `offset` (`length` bytes) and its hash. A row is read from the file the load opened, while
 * it is that file (`identity`): one saved over it since makes the rows unknown, never wrong.
 */
interface RowsOnDisk {
  file: string;
  identity: string;
  offset: number;
  length: number;
  starts: Uint32Array;
  hashes: Uint32Array;
  reads: number;
}

const noRows = (): Rows => ({ bytes: Buffer.alloc(0), base: 0, starts: new Uint32Array(0), hashes: new Uint32Array(0) });

/**
 * path → (size, mtime, ctime, inode) → object ids, so an unchanged file is not read again.
 * An entry is used only when every stamp field matches; any change means re-hashing.
 */
export class StatCache implements FileIdCache {
  readonly #now: () => number;
  /** The size of the loaded file (0: none), which a delta extends. */
  #loadedSize = 0;
  /** The loaded file rows, or where to read them. */
  #fileRows: Rows | RowsOnDisk = noRows();
  /** The loaded directory rows. */
  #dirRows: Rows = noRows();
  /** Directory rows recorded since loading: hex of the signature then the tree id; `undefined`: forgotten. */
  readonly #dirsChanged = new Map<string, string | undefined>();
  /** The loaded list rows. */
  #listRows: Rows = noRows();
  /** List rows recorded since loading, encoded; `undefined`: forgotten. */
  readonly #listsChanged = new Map<string, Buffer | undefined>();
  /** Rows recorded (or forgotten: `undefined`) since loading, encoded. */
  readonly #changed = new Map<string, Buffer | undefined>();
  /** Rows encoded elsewhere (`importRows`), older than `#changed`; indexed by path only when looked up. */
  #imported: RowRef[] = [];
  #importedIndex: Map<string, RowRef> | undefined;
  /** Rows of the delta file, path → encoded row (`undefined`: forgotten): newer than the loaded file, older than this session's. */
  #delta = emptyDelta();
  /** Rows the next save leaves out (`forgetUnless`). */
  #prune: ((path: string) => boolean) | undefined;
  /** Rows the next save leaves out if it writes the whole file (`forgetUnless`, not thorough). */
  #pruneWhenWhole: ((path: string) => boolean) | undefined;
  /** The file this cache was loaded from or saved to (a delta extends only that one). */
  #file: string | undefined;

  constructor(options: StatCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Loads a saved cache; a missing or unreadable file gives an empty cache (it is only a cache). */
  static async load(file: string, options: StatCacheOptions = {}): Promise<StatCache> {
    return StatCache.loadSync(file, options);
  }

  /** `load`, blocking (it reads the file's tables and its smaller sections: a few MB at most). */
  static loadSync(file: string, options: StatCacheOptions = {}): StatCache {
    const cache = new StatCache(options);
    cache.#file = file;
    const loaded = readCacheFile(file);
    if (loaded !== undefined) cache.#adopt(loaded);
    const delta = readOptional(file + DELTA_SUFFIX);
    // A delta extends a file: over none (missing, damaged, of an older format) it is dropped too.
    const parsed = delta !== undefined && cache.#loadedSize > 0 ? parseDelta(delta) : undefined;
    if (parsed !== undefined) cache.#delta = parsed;
    return cache;
  }

  /** Takes a loaded file's rows as the loaded state. */
  #adopt(loaded: LoadedCache): void {
    this.#loadedSize = loaded.size;
    this.#fileRows = loaded.files;
    this.#dirRows = loaded.dirs;
    this.#listRows = loaded.lists;
    this.#delta = emptyDelta();
    this.#dirsChanged.clear();
    this.#listsChanged.clear();
  }

  /** The loaded file rows in memory: read whole when they were left on disk. */
  #fileRowsInMemory(): Rows {
    const f = this.#fileRows;
    if ("bytes" in f) return f;
    const bytes = readAtIfSame(f.file, f.identity, f.offset, f.length);
    this.#fileRows = bytes === undefined ? noRows() : { bytes, base: 0, starts: f.starts, hashes: f.hashes };
    return this.#fileRows;
  }

  /** The loaded row for `path`, or undefined. */
  #findLoaded(path: string): RowRef | undefined {
    const hash = pathHash(path);
    let f = this.#fileRows;
    if (f.hashes.length === 0) return undefined;
    let first = 0;
    if (!("bytes" in f)) {
      // Only a path whose hash is in the table costs a read: new files (a new run's) count for none.
      first = firstOfKey(f.hashes, f.hashes.length, hash);
      if (first < 0) return undefined;
      if (++f.reads > READS_BEFORE_WHOLE) f = this.#fileRowsInMemory();
    }
    if ("bytes" in f) {
      const p = findRow(f, path, hash);
      return p < 0 ? undefined : { b: f.bytes, p };
    }
    // The rows of this hash, from the first: read one by one from the file.
    for (let k = first; k < f.hashes.length && f.hashes[k] === hash; k++) {
      const end = k + 1 < f.starts.length ? f.starts[k + 1]! : f.length;
      if (end - f.starts[k]! < 6 || end > f.length) continue;
      const b = readAtIfSame(f.file, f.identity, f.offset + f.starts[k]!, end - f.starts[k]!);
      if (b === undefined) {
        this.#fileRows = noRows();
        return undefined;
      }
      if (stampAt(b, 0) <= b.length && rowEnd(b, 0) <= b.length && rowPath(b, 0) === path) return { b, p: 0 };
    }
    return undefined;
  }

  /** A directory row as hex (signature then tree id). */
  #dirRow(path: string): string | undefined {
    if (this.#dirsChanged.size > 0 && this.#dirsChanged.has(path)) return this.#dirsChanged.get(path);
    const inDelta = this.#delta.dirs.size > 0 && this.#delta.dirs.has(path);
    const b = inDelta ? this.#delta.dirs.get(path) : this.#dirRows.bytes;
    if (b === undefined) return undefined;
    const p = inDelta ? 0 : findRow(this.#dirRows, path, pathHash(path));
    if (p < 0) return undefined;
    const at = stampAt(b, p);
    return b.toString("hex", at, at + 64);
  }

  /** The newest row for `path`: recorded here, imported, or loaded; `null` when forgotten. */
  #row(path: string): RowRef | null | undefined {
    if (this.#changed.has(path)) {
      const b = this.#changed.get(path);
      return b === undefined ? null : { b, p: 0 };
    }
    if (this.#imported.length > 0) {
      if (this.#importedIndex === undefined) {
        this.#importedIndex = new Map();
        for (const r of this.#imported) this.#importedIndex.set(rowPath(r.b, r.p), r);
      }
      const r = this.#importedIndex.get(path);
      if (r !== undefined) return r;
    }
    if (this.#delta.files.has(path)) {
      const b = this.#delta.files.get(path);
      return b === undefined ? null : { b, p: 0 };
    }
    return this.#findLoaded(path);
  }

  get size(): number {
    return this.#collect().length;
  }

  get dirty(): boolean {
    return this.#prune !== undefined || this.#changed.size > 0 || this.#imported.length > 0 || this.#dirsChanged.size > 0 || this.#listsChanged.size > 0;
  }

  /**
   * The tree id of a directory whose signature (a digest of every child's name, kind, mode and
   * stamp, or tree id for a subdirectory) is unchanged: then no child needs looking up.
   */
  lookupDir(path: string, signature: string): ObjectId | undefined {
    const row = this.#dirRow(path);
    return row !== undefined && row.startsWith(signature) ? row.slice(64) : undefined;
  }

  /** `newestChangeMs`: the latest mtime or ctime among the children (racy ones are not kept). */
  recordDir(path: string, signature: string, treeId: ObjectId, newestChangeMs: number): void {
    const row = newestChangeMs > this.#now() - RACY_MS ? undefined : signature + treeId;
    if (this.#dirRow(path) !== row) this.#dirsChanged.set(path, row);
  }

  /** The payload recorded for a folder whose whole-tree signature is unchanged. */
  lookupList(path: string, signature: string): Buffer | undefined {
    let b: Buffer | undefined = this.#listRows.bytes;
    let p = 0;
    if (this.#listsChanged.size > 0 && this.#listsChanged.has(path)) b = this.#listsChanged.get(path);
    else if (this.#delta.lists.size > 0 && this.#delta.lists.has(path)) b = this.#delta.lists.get(path);
    else p = findRow(this.#listRows, path, pathHash(path));
    if (b === undefined || p < 0) return undefined;
    const at = stampAt(b, p);
    if (b.toString("hex", at, at + 32) !== signature) return undefined;
    return b.subarray(at + 36, listRowEnd(b, p));
  }

  /** `newestChangeMs`: the latest mtime or ctime in the folder (racy ones are not kept). */
  recordList(path: string, signature: string, payload: Buffer, newestChangeMs: number): void {
    if (newestChangeMs > this.#now() - RACY_MS) {
      const kept = this.#listsChanged.has(path)
        ? this.#listsChanged.get(path) !== undefined
        : this.#delta.lists.has(path)
          ? this.#delta.lists.get(path) !== undefined
          : findRow(this.#listRows, path, pathHash(path)) >= 0;
      if (kept) this.#listsChanged.set(path, undefined);
      return;
    }
    if (this.lookupList(path, signature)?.equals(payload)) return;
    const name = Buffer.from(path, "utf8");
    if (name.length > 0xffff) throw new RangeError(`path too long for the stat cache: ${path.slice(0, 80)}...`);
    const row = Buffer.allocUnsafe(6 + name.length + 36 + payload.length);
    row.writeUInt32LE(pathHash(path), 0);
    row.writeUInt16LE(name.length, 4);
    name.copy(row, 6);
    row.write(signature, 6 + name.length, 32, "hex");
    row.writeUInt32LE(payload.length, 6 + name.length + 32);
    payload.copy(row, 6 + name.length + 36);
    this.#listsChanged.set(path, row);
  }

  lookup(path: string, stamp: FileStamp): CachedIds | undefined {
    const r = this.#row(path);
    if (!r) return undefined;
    const { b } = r;
    const at = stampAt(b, r.p);
    if (b.readDoubleLE(at) !== stamp.size || b.readDoubleLE(at + 8) !== stamp.mtimeMs) return undefined;
    if (b.readDoubleLE(at + 16) !== stamp.ctimeMs || b.readDoubleLE(at + 24) !== stamp.ino) return undefined;
    const id = b.toString("hex", at + STAMP + 1, at + STAMP + 33);
    return b[at + STAMP] === 1 ? { id, chunks: b.toString("hex", at + STAMP + 33, at + STAMP + 65) } : { id };
  }

  record(path: string, stamp: FileStamp, ids: CachedIds): void {
    if (this.#racy(stamp.mtimeMs, stamp.ctimeMs)) {
      this.forget(path);
      return;
    }
    this.#changed.set(path, encodeFileRow(path, stamp, ids));
  }

  /**
   * `record` for a file this process wrote and stamped while only it knew the file's path (a
   * pull's staging folder), giving it an older modification time: kept unless that time is itself
   * recent. Its change time is new, but any later write gives the file a new modification time,
   * which the row then no longer matches.
   */
  recordWritten(path: string, stamp: FileStamp, ids: CachedIds): void {
    if (stamp.mtimeMs > this.#now() - RACY_MS) {
      this.forget(path);
      return;
    }
    this.#changed.set(path, encodeFileRow(path, stamp, ids));
  }

  /**
   * `recordWritten` for many rows at once (`WrittenRows`): each taken as encoded (no object or
   * buffer per row), unless its modification time is recent.
   */
  recordWrittenRows(rows: Buffer): void {
    const racy = this.#now() - RACY_MS;
    for (let p = 0; p < rows.length; ) {
      const end = rowEnd(rows, p);
      if (end > rows.length) throw new RangeError("truncated stat cache rows");
      // A row recorded (or forgotten) here would shadow this newer one.
      const path = this.#changed.size > 0 || this.#importedIndex !== undefined ? rowPath(rows, p) : undefined;
      if (path !== undefined) this.#changed.delete(path);
      if (rows.readDoubleLE(stampAt(rows, p) + 8) > racy) this.forget(path ?? rowPath(rows, p));
      else {
        const r = { b: rows, p };
        this.#imported.push(r);
        if (path !== undefined) this.#importedIndex?.set(path, r);
      }
      p = end;
    }
  }

  /**
   * Takes rows encoded with `encodeFileRow` (concatenated), as a worker thread recorded them; they
   * count as recorded before anything `record`ed here. Racy rows are dropped.
   */
  importRows(rows: Buffer): void {
    for (let p = 0; p < rows.length; ) {
      const end = rowEnd(rows, p);
      if (end > rows.length) throw new RangeError("truncated stat cache rows");
      const at = stampAt(rows, p);
      if (!this.#racy(rows.readDoubleLE(at + 8), rows.readDoubleLE(at + 16))) {
        const r = { b: rows, p };
        this.#imported.push(r);
        this.#importedIndex?.set(rowPath(rows, p), r);
      }
      p = end;
    }
  }

  #racy(mtimeMs: number, ctimeMs: number): boolean {
    const racy = this.#now() - RACY_MS;
    return mtimeMs > racy || ctimeMs > racy;
  }

  forget(path: string): void {
    if (this.#row(path)) this.#changed.set(path, undefined);
  }

  /**
   * Leaves out of the next save every row whose path `keep` refuses (the runs a directory no
   * longer holds), when a directory or list row (in memory) is refused: then the next save writes
   * the whole file, its file rows read once. Returns whether any row is to go.
   *
   * Not `thorough`, it looks at the delta's rows and the first directory and list rows only (a
   * folder moved elsewhere has every row refused), and otherwise leaves the refused rows out the
   * next time the whole file is written: for a caller that knows of no run gone, as the check of
   * every row cost a push of one run more than the rest of its work on the cache.
   */
  forgetUnless(keep: (path: string) => boolean, opts: { thorough?: boolean } = {}): boolean {
    const thorough = opts.thorough ?? true;
    const refusedIn = (rows: Rows) => {
      const most = thorough ? rows.starts.length : Math.min(1, rows.starts.length);
      for (let i = 0; i < most; i++) if (!keep(rowPath(rows.bytes, rows.base + rows.starts[i]!))) return true;
      return false;
    };
    const inDelta = [...this.#delta.dirs.keys(), ...this.#delta.lists.keys()].some((path) => !keep(path));
    if (inDelta || refusedIn(this.#dirRows) || refusedIn(this.#listRows)) {
      this.#prune = keep;
      return true;
    }
    if (!thorough) this.#pruneWhenWhole = keep;
    return false;
  }

  /**
   * Every row to keep, in hash order: the newest row of each path, forgotten ones left out. Rows
   * are told apart by hash, then by their paths' bytes: the imported rows (a clone's every file)
   * are never decoded into strings, only rows of paths recorded or forgotten by name are.
   */
  #collect(): RowRef[] {
    // Newest first: this session's rows by name, then the imported ones (the last of a path
    // wins), then the delta's by name.
    const named = new Map<string, Buffer | undefined>(this.#changed);
    const namedHashes = new Set<number>();
    for (const path of named.keys()) namedHashes.add(pathHash(path));
    const newest = newestOfEachPath(this.#imported);
    const imported = namedHashes.size === 0 ? newest : newest.filter((r) => !namedHashes.has(hashAt(r.b, r.p)) || !named.has(rowPath(r.b, r.p)));
    const shadowsDelta = hasPathIn(imported);
    for (const [path, b] of this.#delta.files) if (!named.has(path) && !shadowsDelta(pathHash(path), path)) named.set(path, b);
    const forgotten = new Set<number>();
    const recorded: RowRef[] = [];
    for (const [path, b] of named) {
      if (b === undefined) forgotten.add(pathHash(path));
      else recorded.push({ b, p: 0 });
    }
    const fresh = mergeByHash(imported, recorded.sort((x, y) => hashAt(x.b, x.p) - hashAt(y.b, y.p)));
    const out: RowRef[] = [];
    let k = 0;
    const { bytes: b, base, starts, hashes } = this.#fileRowsInMemory();
    for (let i = 0; i < starts.length; i++) {
      const h = hashes[i]!;
      while (k < fresh.length && hashAt(fresh[k]!.b, fresh[k]!.p) < h) out.push(fresh[k++]!);
      const p = base + starts[i]!;
      // A fresh row of the same path replaces this one; a path forgotten by name drops it.
      let replaced = false;
      for (let j = k; j < fresh.length && hashAt(fresh[j]!.b, fresh[j]!.p) === h && !replaced; j++) replaced = samePath(fresh[j]!.b, fresh[j]!.p, b, p);
      if (replaced) continue;
      if (forgotten.has(h)) {
        const path = rowPath(b, p);
        if (named.has(path) && named.get(path) === undefined) continue;
      }
      out.push({ b, p });
    }
    while (k < fresh.length) out.push(fresh[k++]!);
    return out;
  }

  /**
   * Writes the cache atomically (temp file, rename): the rows changed since loading into the
   * delta file while it stays small, else the whole file. As every cache of `.gage-sync/`
   * (`commitStateFile`, not synced): synchronously, where each asynchronous step would wait for
   * a thread of the pool.
   */
  async save(file: string): Promise<void> {
    const limit = Math.max(DELTA_MIN_LIMIT, this.#loadedSize / DELTA_FRACTION);
    // Sized before it is encoded: a first snapshot's 100,000 rows go straight into the file.
    if (this.#prune === undefined && this.#file === file && this.#loadedSize > 0 && this.#sessionBytes() <= limit) {
      const delta = this.#nextDelta();
      const bytes = encodeDelta(delta);
      if (bytes.length <= limit) {
        commitStateFile(file + DELTA_SUFFIX, bytes, { durable: false });
        this.#delta = delta;
        this.#clearSession();
        return;
      }
    }
    const keep = this.#prune ?? this.#pruneWhenWhole;
    const kept = (rows: RowRef[]) => (keep === undefined ? rows : rows.filter((r) => keep(rowPath(r.b, r.p))));
    const files = sectionOf(kept(this.#collect()), rowEnd);
    const dirs = sectionOf(kept(this.#collectDirs()), dirRowEnd);
    const lists = sectionOf(kept(collectKeyed(this.#listRows, new Map([...this.#delta.lists, ...this.#listsChanged]))), listRowEnd);
    this.#prune = undefined;
    const sections = [files, dirs, lists];
    const tablesEnd = HEAD + 8 * (files.starts.length + dirs.starts.length + lists.starts.length);
    const out = Buffer.allocUnsafe(tablesEnd + files.length + dirs.length + lists.length);
    MAGIC.copy(out, 0);
    let o = MAGIC.length;
    for (const x of sections) o = out.writeUInt32LE(x.starts.length, o);
    for (const x of sections) o = out.writeUInt32LE(x.length, o);
    for (const x of sections) {
      for (const table of [x.starts, x.hashes]) for (let k = 0; k < table.length; k++) o = out.writeUInt32LE(table[k]!, o);
    }
    for (const x of [dirs, lists, files]) for (const r of x.spans) o += r.b.copy(out, o, r.p, r.end);
    commitStateFile(file, out, { durable: false });
    removeStateFile(file + DELTA_SUFFIX);
    this.#adopt(parseCache(out, undefined)!);
    this.#file = file;
    this.#clearSession();
  }

  /** About how many bytes this session's rows take in a delta. */
  #sessionBytes(): number {
    let n = 0;
    for (const r of this.#imported) n += rowEnd(r.b, r.p) - r.p;
    for (const row of this.#changed.values()) n += row?.length ?? 0;
    for (const path of this.#dirsChanged.keys()) n += path.length + 70;
    for (const row of this.#listsChanged.values()) n += row?.length ?? 0;
    return n;
  }

  /** The delta with this session's rows over it. */
  #nextDelta(): Delta {
    const next: Delta = { files: new Map(this.#delta.files), dirs: new Map(this.#delta.dirs), lists: new Map(this.#delta.lists) };
    for (const r of this.#imported) next.files.set(rowPath(r.b, r.p), r.b.subarray(r.p, rowEnd(r.b, r.p)));
    for (const [path, row] of this.#changed) next.files.set(path, row);
    for (const [path, row] of this.#dirsChanged) next.dirs.set(path, row === undefined ? undefined : encodeDirRow(path, row));
    for (const [path, row] of this.#listsChanged) next.lists.set(path, row);
    return next;
  }

  #clearSession(): void {
    this.#pruneWhenWhole = undefined;
    this.#changed.clear();
    this.#dirsChanged.clear();
    this.#listsChanged.clear();
    this.#imported = [];
    this.#importedIndex = undefined;
  }

  /** Every directory row to keep, in hash order: loaded rows (as bytes) and those recorded since. */
  #collectDirs(): RowRef[] {
    const changed = new Map<string, Buffer | undefined>(this.#delta.dirs);
    for (const [path, row] of this.#dirsChanged) changed.set(path, row === undefined ? undefined : encodeDirRow(path, row));
    return collectKeyed(this.#dirRows, changed);
  }
}

/**
 * Rows to keep, in hash order: the loaded `rows` but those of paths in `changed`, and the rows
 * `changed` holds (encoded; `undefined`: forgotten).
 */
function collectKeyed(rows: Rows, changed: ReadonlyMap<string, Buffer | undefined>): RowRef[] {
  const { bytes, base, starts, hashes } = rows;
  const out: { hash: number; r: RowRef }[] = [];
  const changedHashes = new Set<number>();
  for (const path of changed.keys()) changedHashes.add(pathHash(path));
  for (let i = 0; i < starts.length; i++) {
    const p = base + starts[i]!;
    const hash = hashes[i]!;
    if (changedHashes.has(hash) && changed.has(rowPath(bytes, p))) continue;
    out.push({ hash, r: { b: bytes, p } });
  }
  for (const row of changed.values()) if (row !== undefined) out.push({ hash: row.readUInt32LE(0), r: { b: row, p: 0 } });
  return out.sort((x, y) => x.hash - y.hash).map((x) => x.r);
}

/** Whether the rows at `a[p]` and `b[q]` have the same path (its bytes). */
function samePath(a: Buffer, p: number, b: Buffer, q: number): boolean {
  const n = a[p + 4]! | (a[p + 5]! << 8);
  if (n !== (b[q + 4]! | (b[q + 5]! << 8))) return false;
  for (let i = 6; i < 6 + n; i++) if (a[p + i] !== b[q + i]) return false;
  return true;
}

/** A row's path hash (its first four bytes). */
const hashAt = (b: Buffer, p: number) => (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;

// Sort keys hash * 2^21 + position are exact in a double below 2^53: a plain numeric sort.
const ORDER_SLOTS = 2 ** 21;

/** The last row of each path in `rows`, in hash order. */
function newestOfEachPath(rows: readonly RowRef[]): RowRef[] {
  const n = rows.length;
  let order: ArrayLike<number>;
  if (n < ORDER_SLOTS) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = hashAt(rows[i]!.b, rows[i]!.p) * ORDER_SLOTS + i;
    keys.sort();
    for (let i = 0; i < n; i++) keys[i] = keys[i]! % ORDER_SLOTS;
    order = keys;
  } else {
    const hashes = Uint32Array.from(rows, (r) => hashAt(r.b, r.p));
    order = Uint32Array.from(rows, (_, i) => i).sort((x, y) => hashes[x]! - hashes[y]! || x - y);
  }
  const out: RowRef[] = [];
  for (let k = 0; k < n; k++) {
    const r = rows[order[k]!]!;
    const h = hashAt(r.b, r.p);
    let later = false;
    for (let j = k + 1; j < n && !later; j++) {
      const s = rows[order[j]!]!;
      if (hashAt(s.b, s.p) !== h) break;
      later = samePath(s.b, s.p, r.b, r.p);
    }
    if (!later) out.push(r);
  }
  return out;
}

/** Two lists of rows in hash order as one (the first's rows first among equal hashes). */
function mergeByHash(a: RowRef[], b: readonly RowRef[]): RowRef[] {
  if (b.length === 0) return a;
  const out: RowRef[] = [];
  let j = 0;
  for (const r of a) {
    const h = hashAt(r.b, r.p);
    while (j < b.length && hashAt(b[j]!.b, b[j]!.p) < h) out.push(b[j++]!);
    out.push(r);
  }
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/** Whether one of `rows` (in hash order) has the path `path`, whose hash is `hash`. */
function hasPathIn(rows: readonly RowRef[]): (hash: number, path: string) => boolean {
  let hashes: Uint32Array | undefined;
  return (hash, path) => {
    hashes ??= Uint32Array.from(rows, (r) => hashAt(r.b, r.p));
    for (let k = firstOfKey(hashes, hashes.length, hash); k >= 0 && k < hashes.length && hashes[k] === hash; k++) {
      if (rowPathIs(rows[k]!.b, rows[k]!.p, path)) return true;
    }
    return false;
  };
}

function encodeDirRow(path: string, hexRow: string): Buffer {
  const name = Buffer.from(path, "utf8");
  if (name.length > 0xffff) throw new RangeError(`path too long for the stat cache: ${path.slice(0, 80)}...`);
  const out = Buffer.allocUnsafe(6 + name.length + 64);
  out.writeUInt32LE(pathHash(path), 0);
  out.writeUInt16LE(name.length, 4);
  name.copy(out, 6);
  out.write(hexRow, 6 + name.length, 64, "hex");
  return out;
}

/**
 * Rows as a section of the file: where each starts and its hash (the tables), and the byte ranges
 * to copy, neighbours in one buffer joined (after a small change most rows are a loaded row
 * followed by the next loaded one, and one copy each was a visible part of a push).
 */
function sectionOf(rows: RowRef[], end: (b: Buffer, p: number) => number): { spans: { b: Buffer; p: number; end: number }[]; starts: Uint32Array; hashes: Uint32Array; length: number } {
  const spans: { b: Buffer; p: number; end: number }[] = [];
  const starts = new Uint32Array(rows.length);
  const hashes = new Uint32Array(rows.length);
  let length = 0;
  let last: { b: Buffer; p: number; end: number } | undefined;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    const e = end(r.b, r.p);
    starts[k] = length;
    hashes[k] = r.b.readUInt32LE(r.p);
    length += e - r.p;
    if (last !== undefined && last.b === r.b && last.end === r.p) last.end = e;
    else spans.push((last = { b: r.b, p: r.p, end: e }));
  }
  return { spans, starts, hashes, length };
}

/** A delta file's rows by path, encoded; `undefined`: forgotten. */
interface Delta {
  files: Map<string, Buffer | undefined>;
  dirs: Map<string, Buffer | undefined>;
  lists: Map<string, Buffer | undefined>;
}

const emptyDelta = (): Delta => ({ files: new Map(), dirs: new Map(), lists: new Map() });

/** A cache file's rows as loaded (`size`: the file's). */
interface LoadedCache {
  size: number;
  files: Rows | RowsOnDisk;
  dirs: Rows;
  lists: Rows;
}

/**
 * Reads a cache file: for GAGESTC7 its tables and its directory and list rows, the file rows left
 * on disk; an older format whole. `undefined` when missing or damaged (only a cache).
 */
function readCacheFile(file: string): LoadedCache | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    const head = readExactly(fd, 0, Math.min(HEAD, st.size));
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) return parseCache(readExactly(fd, 0, st.size), undefined);
    const eagerEnd = head.length < HEAD ? 0 : v7Layout(head).filesStart;
    return eagerEnd === 0 || eagerEnd > st.size ? undefined : parseCache(readExactly(fd, 0, eagerEnd), { file, identity: identityOf(st), size: st.size });
  } finally {
    closeSync(fd);
  }
}

/** Where a GAGESTC7 file's tables and sections are, from its head. */
function v7Layout(head: Buffer): { counts: number[]; lengths: number[]; dirsStart: number; filesStart: number; size: number } {
  const counts = [0, 1, 2].map((k) => head.readUInt32LE(MAGIC.length + 4 * k));
  const lengths = [0, 1, 2].map((k) => head.readUInt32LE(MAGIC.length + 12 + 4 * k));
  const dirsStart = HEAD + 8 * (counts[0]! + counts[1]! + counts[2]!);
  const filesStart = dirsStart + lengths[1]! + lengths[2]!;
  return { counts, lengths, dirsStart, filesStart, size: filesStart + lengths[0]! };
}

/**
 * A cache file's rows from `bytes`: the whole file, or (`onDisk`, GAGESTC7 only) all of it before
 * the file rows, which are then read as looked up. `undefined` when damaged or of no known format.
 */
function parseCache(bytes: Buffer, onDisk: { file: string; identity: string; size: number } | undefined): LoadedCache | undefined {
  if (bytes.length >= HEAD && bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    const { counts, lengths, dirsStart, filesStart, size } = v7Layout(bytes);
    if (size !== (onDisk?.size ?? bytes.length) || bytes.length < (onDisk === undefined ? size : filesStart)) return undefined;
    let at = HEAD;
    const table = (count: number) => {
      const t = u32Table(bytes, at, count);
      at += 4 * count;
      return t;
    };
    const [files, dirs, lists] = counts.map((count) => ({ starts: table(count), hashes: table(count) }));
    const sectionStarts = [filesStart, dirsStart, dirsStart + lengths[1]!];
    // A start past its section's end is damage: the cache is then none (rows are bounds-checked
    // as they are read, but a table that points nowhere says the file is not as written).
    const inside = [files!, dirs!, lists!].every((t, k) => t.starts.length === 0 || t.starts[t.starts.length - 1]! < lengths[k]!);
    if (!inside) return undefined;
    return {
      size,
      files: onDisk === undefined ? { bytes, base: sectionStarts[0]!, ...files! } : { file: onDisk.file, identity: onDisk.identity, offset: filesStart, length: lengths[0]!, ...files!, reads: 0 },
      dirs: { bytes, base: sectionStarts[1]!, ...dirs! },
      lists: { bytes, base: sectionStarts[2]!, ...lists! },
    };
  }
  // GAGESTC6: MAGIC, [u32 length] file rows, [u32 length] directory rows, list rows to the end;
  // GAGESTC5: MAGIC, [u32 length] file rows, directory rows to the end.
  const v6 = bytes.subarray(0, MAGIC_V6.length).equals(MAGIC_V6);
  if (!v6 && !bytes.subarray(0, MAGIC_V5.length).equals(MAGIC_V5)) return undefined;
  const filesStart = MAGIC_V6.length + 4;
  if (bytes.length < filesStart) return undefined;
  const filesEnd = filesStart + bytes.readUInt32LE(MAGIC_V6.length);
  if (filesEnd + (v6 ? 4 : 0) > bytes.length) return undefined;
  const dirsStart = v6 ? filesEnd + 4 : filesEnd;
  const dirsEnd = v6 ? dirsStart + bytes.readUInt32LE(filesEnd) : bytes.length;
  if (dirsEnd > bytes.length) return undefined;
  const files = rowStarts(bytes, filesStart, filesEnd, rowEnd);
  const dirs = rowStarts(bytes, dirsStart, dirsEnd, dirRowEnd);
  const lists = rowStarts(bytes, dirsEnd, bytes.length, listRowEnd);
  if (files === undefined || dirs === undefined || lists === undefined) return undefined;
  return { size: bytes.length, files: { bytes, base: 0, ...files }, dirs: { bytes, base: 0, ...dirs }, lists: { bytes, base: 0, ...lists } };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** `count` u32 LE at `bytes[at]`: a view where the bytes allow one, else a copy. */
function u32Table(bytes: Buffer, at: number, count: number): Uint32Array {
  if (LITTLE_ENDIAN && (bytes.byteOffset + at) % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset + at, count);
  const out = new Uint32Array(count);
  for (let k = 0; k < count; k++) out[k] = bytes.readUInt32LE(at + 4 * k);
  return out;
}

/** What says a file is the one a cache was loaded from: another saved over it is not. */
function identityOf(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** `length` bytes of the open file at `position` (fewer at its end). */
function readExactly(fd: number, position: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let got = 0;
  for (let n = -1; got < length && n !== 0; got += n) n = readSync(fd, bytes, got, length - got, position + got);
  return bytes.subarray(0, got);
}

/** Bytes of `file` when it is still the one named by `identity`, else (or unreadable) `undefined`. */
function readAtIfSame(file: string, identity: string, position: number, length: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    if (identityOf(fstatSync(fd)) !== identity) return undefined;
    const bytes = readExactly(fd, position, length);
    return bytes.length === length ? bytes : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** A file's bytes, or `undefined` when it is missing. */
function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

const DELTA_KINDS = ["files", "dirs", "lists"] as const;
const DELTA_ROW_ENDS = [rowEnd, dirRowEnd, listRowEnd];

function encodeDelta(delta: Delta): Buffer {
  const parts: Buffer[] = [DELTA_MAGIC];
  const forgotten: Buffer[] = [];
  DELTA_KINDS.forEach((kind, k) => {
    const rows: Buffer[] = [];
    for (const [path, row] of delta[kind]) {
      if (row !== undefined) rows.push(row);
      else {
        const name = Buffer.from(path, "utf8");
        const head = Buffer.allocUnsafe(3);
        head[0] = k;
        head.writeUInt16LE(name.length, 1);
        forgotten.push(head, name);
      }
    }
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(rows.reduce((n, r) => n + r.length, 0));
    parts.push(length, ...rows);
  });
  return Buffer.concat([...parts, ...forgotten]);
}

/** `encodeDelta` read back; `undefined` when damaged. */
function parseDelta(bytes: Buffer): Delta | undefined {
  if (bytes.length < DELTA_MAGIC.length || !bytes.subarray(0, DELTA_MAGIC.length).equals(DELTA_MAGIC)) return undefined;
  const delta = emptyDelta();
  let p = DELTA_MAGIC.length;
  for (const [k, kind] of DELTA_KINDS.entries()) {
    if (p + 4 > bytes.length) return undefined;
    const end = p + 4 + bytes.readUInt32LE(p);
    if (end > bytes.length) return undefined;
    for (p += 4; p < end; ) {
      const next = p + 6 <= end ? DELTA_ROW_ENDS[k]!(bytes, p) : end + 1;
      if (next > end) return undefined;
      delta[kind].set(rowPath(bytes, p), bytes.subarray(p, next));
      p = next;
    }
  }
  while (p < bytes.length) {
    if (p + 3 > bytes.length || bytes[p]! >= DELTA_KINDS.length) return undefined;
    const end = p + 3 + bytes.readUInt16LE(p + 1);
    if (end > bytes.length) return undefined;
    delta[DELTA_KINDS[bytes[p]!]!].set(bytes.toString("utf8", p + 3, end), undefined);
    p = end;
  }
  return delta;
}

/**
 * Where the row for `path` starts in `rows.bytes`, or -1. Rows are bounds-checked as they are
 * read: a damaged table can make a lookup miss, not throw.
 */
function findRow(rows: Rows, path: string, hash: number): number {
  const { bytes, base, starts, hashes } = rows;
  const first = firstOfKey(hashes, hashes.length, hash);
  for (let k = first; k >= 0 && k < hashes.length && hashes[k] === hash; k++) {
    const p = base + starts[k]!;
    if (p + 6 <= bytes.length && stampAt(bytes, p) + STAMP + 1 <= bytes.length && rowPathIs(bytes, p, path)) return p;
  }
  return -1;
}

/**
 * Where each row in `bytes[from, to)` starts and its hash, or `undefined` when the rows are
 * damaged. Their order is not checked: a row out of order can only be missed by a lookup, and a
 * missed file is hashed again (a missed directory is looked at file by file), never trusted.
 */
function rowStarts(bytes: Buffer, from: number, to: number, end: (b: Buffer, p: number) => number): { starts: Uint32Array; hashes: Uint32Array } | undefined {
  // Typed arrays grown by doubling, the hash read as it passes: the first file lookup of a
  // command indexes every row, and a JS array then two copies were a visible part of it.
  let starts: Uint32Array = new Uint32Array(1024);
  let hashes: Uint32Array = new Uint32Array(1024);
  let n = 0;
  for (let p = from; p < to; n++) {
    if (p + 6 > to) return undefined;
    const next = end(bytes, p);
    if (next > to) return undefined;
    if (n === starts.length) {
      starts = grow(starts);
      hashes = grow(hashes);
    }
    starts[n] = p;
    hashes[n] = (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24)) >>> 0;
    p = next;
  }
  return { starts: starts.subarray(0, n), hashes: hashes.subarray(0, n) };
}

function grow(a: Uint32Array): Uint32Array {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}
