import { createHash, hash } from "node:crypto";
import { closeSync, openSync, readlinkSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { chunkFileOnWorker } from "./chunk-pool.js";
import { chunkFile, DEFAULT_CHUNKING, type ChunkingParams } from "./chunker.js";
import {
  badEntryName,
  encodeChunkList,
  encodeTree,
  normalizeMode,
  type ChunkRef,
  type TreeEntry,
  type SnapshotUserEntry,
} from "./codec.js";
import { entryEnd, entryKind, listDir, modeAt, mtimeAt, nameAt, readListing, S_IFDIR, S_IFLNK, S_IFREG, sizeAt, type TreeSum, type TreeSumLookup } from "./dir-listing.js";
import { hashBytes, READ_BLOCK, type ObjectId } from "./ids.js";
import type { ObjectSink } from "./pack.js";
import type { CachedIds, FileIdCache, FileStamp } from "./file-id-cache.js";
import { UnsafePathError } from "./errors.js";
import { osPath, printableName } from "./names.js";
import { addTimesBelow, encodeTimes, toMicros, type FileTimes } from "./times.js";

// Below this size a file is chunked on the calling thread: handing it to the worker costs more
// than hashing it twice here.
const WORKER_MIN_SIZE = 16 * 1024 * 1024;

export interface FileProgress {
  /** Files (and symlinks) done so far. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** The file just done, or the directory whose files were all answered by the stat cache. */
  path: string;
}

export interface SnapshotStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Sockets, fifos and devices, which are not stored. */
  skipped: number;
  /** Bytes of files and link targets. */
  bytes: number;
  /** Files read and hashed (not answered by the stat cache). */
  hashedFiles: number;
  hashedBytes: number;
  /** Objects the sink did not have yet, and their size before compression. */
  newObjects: number;
  newBytes: number;
}

export interface SnapshotOptions {
  sink: ObjectSink;
  cache?: FileIdCache;
  chunking?: ChunkingParams;
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
  /** Folders summed up ahead (`digestTrees`), whole trees answered by one stat-cache row. */
  treeSums?: TreeSumLookup;
  /** `snapshotDir` also stores its files' modification times (a times object, objects/times.ts). */
  times?: boolean;
}

/** A sink that stores nothing and claims everything: snapshotting with it only computes ids. */
export const idOnlySink: ObjectSink = { has: () => true, add: async () => false };

export function emptyStats(): SnapshotStats {
  return { files: 0, dirs: 0, symlinks: 0, skipped: 0, bytes: 0, hashedFiles: 0, hashedBytes: 0, newObjects: 0, newBytes: 0 };
}

/** Counts a tree answered whole by its sum, as its walk would have. */
export function addTreeSum(stats: SnapshotStats, sum: TreeSum): void {
  stats.files += sum.files;
  stats.symlinks += sum.symlinks;
  stats.bytes += sum.bytes;
  stats.dirs += sum.dirs;
  stats.skipped += sum.skipped;
}

/** Counts file entries answered by a list row, as reading them would have. */
export function addFileEntries(stats: SnapshotStats, user: readonly SnapshotUserEntry[]): void {
  stats.files += user.length;
  for (const u of user) stats.bytes += u.size;
}

/** Adds the counts of `b` into `a`. */
export function addStats(a: SnapshotStats, b: SnapshotStats): SnapshotStats {
  // Field by field: a loop over the keys cost a scan of thousands of runs as much as their lookups.
  a.files += b.files;
  a.dirs += b.dirs;
  a.symlinks += b.symlinks;
  a.skipped += b.skipped;
  a.bytes += b.bytes;
  a.hashedFiles += b.hashedFiles;
  a.hashedBytes += b.hashedBytes;
  a.newObjects += b.newObjects;
  a.newBytes += b.newBytes;
  return a;
}

/**
 * Stores folders into a sink, answering unchanged files and folders from a `FileIdCache`: the
 * walker `snapshotDir` uses, exported for the rooms that snapshot several folders as one (a run).
 */
export class Snapshotter {
  readonly stats = emptyStats();
  readonly #opts: SnapshotOptions;
  readonly #chunking: ChunkingParams;
  // Made at the first file read: a scan through the cache reads none, and makes one per run.
  #scratch: Buffer | undefined;
  // Taken from the listings the walk reads anyway: a second walk for them cost a first push a
  // listing of every folder on the calling thread.
  #times: { root: string; map: FileTimes } | undefined;

  constructor(opts: SnapshotOptions) {
    this.#opts = opts;
    this.#chunking = opts.chunking ?? DEFAULT_CHUNKING;
  }

  async add(id: ObjectId, data: Buffer): Promise<void> {
    if (await this.#opts.sink.add(id, data)) {
      this.stats.newObjects++;
      this.stats.newBytes += data.length;
    }
  }

  async encodeTree(entries: TreeEntry[]): Promise<ObjectId> {
    const bytes = encodeTree({ entries });
    const id = hashBytes(bytes);
    await this.add(id, bytes);
    return id;
  }

  /** From here on, gathers the modification times of the files walked below `root` (`storeTimes`). */
  collectTimes(root: string): void {
    this.#times = { root, map: new Map() };
  }

  /** Stores the times gathered (`collectTimes`) as a times object; its id. */
  async storeTimes(): Promise<ObjectId> {
    const bytes = encodeTimes(this.#times?.map ?? new Map());
    const id = hashBytes(bytes);
    await this.add(id, bytes);
    return id;
  }

  /** `path` relative to the root times are gathered below ("" for the root itself). */
  #rel(path: string): string {
    return path.length === this.#times!.root.length ? "" : path.slice(this.#times!.root.length + 1);
  }

  #time(rel: string, name: string, mtimeMs: number): void {
    this.#times!.map.set(rel === "" ? name : `${rel}/${name}`, toMicros(mtimeMs));
  }

  emptyTree(): Promise<ObjectId> {
    return this.encodeTree([]);
  }

  /** The listing of `path`, or `undefined` when it does not exist (one call, no lstat first). */
  listIfPresent(path: string): Buffer | undefined {
    try {
      return listDir(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /**
   * `dir` for a folder summed up ahead: one stat-cache row (`wholeTreeKey`) answers its whole
   * tree; else it is walked, and the row recorded.
   */
  async tree(path: string, sum: TreeSum): Promise<ObjectId> {
    const cache = this.#opts.cache;
    const key = wholeTreeKey(path);
    const known = cache?.lookupDir(key, sum.digest);
    if (known !== undefined && this.#opts.sink.has(known)) {
      if (this.#times !== undefined) addTimesBelow(this.#times.map, path, this.#rel(path));
      addTreeSum(this.stats, sum);
      this.#opts.onProgress?.({ files: this.stats.files + this.stats.symlinks, bytes: this.stats.bytes, path });
      return known;
    }
    const treeId = await this.dir(path);
    // A change between the sum and the walk leaves a row no later sum matches: never a stale answer.
    cache?.recordDir(key, sum.digest, treeId, sum.newest);
    return treeId;
  }

  // The walk is synchronous: on a warm runs directory a sync walk beats
  // fs.promises (docs/performance.md), and no-change snapshots are all walk. Every entry is lstat'ed every
  // time (`listDir`); what the cache saves is reading, hashing and re-encoding.
  async dir(path: string, listing = listDir(path)): Promise<ObjectId> {
    this.#opts.signal?.throwIfAborted();
    this.stats.dirs++;
    const cache = this.#opts.cache;
    // Subdirectories first: their tree ids are part of this directory's signature.
    const trees: ObjectId[] = [];
    for (let p = 0; p < listing.length; p = entryEnd(listing, p)) {
      if (entryKind(modeAt(listing, p)) !== S_IFDIR) continue;
      const name = nameAt(listing, p);
      const bad = badEntryName(name);
      if (bad !== undefined) throw new UnsafePathError(printableName(`${path}/${name}`), bad);
      trees.push(await this.dir(`${path}/${name}`));
    }
    // The signature: every entry's name, mode and stamp (the listing), and every subtree's id.
    // A match means the same names as when the tree was made, so they need no decoding or check.
    const signature = cache === undefined ? "" : hash("sha256", trees.length === 0 ? listing : Buffer.concat([listing, Buffer.from(trees.join(""), "latin1")]), "hex");
    const known = cache?.lookupDir(path, signature);
    const rel = this.#times === undefined ? "" : this.#rel(path);
    if (known !== undefined && this.#opts.sink.has(known)) {
      for (let p = 0; p < listing.length; p = entryEnd(listing, p)) {
        const kind = entryKind(modeAt(listing, p));
        if (kind === S_IFDIR) continue;
        if (kind === S_IFREG) this.stats.files++;
        else if (kind === S_IFLNK) this.stats.symlinks++;
        else {
          this.stats.skipped++;
          continue;
        }
        this.stats.bytes += sizeAt(listing, p);
        if (this.#times !== undefined) this.#time(rel, nameAt(listing, p), mtimeAt(listing, p));
      }
      this.#opts.onProgress?.({ files: this.stats.files + this.stats.symlinks, bytes: this.stats.bytes, path });
      return known;
    }
    const entries: TreeEntry[] = [];
    let subtree = 0;
    let newest = 0;
    for (const c of readListing(listing)) {
      const kind = entryKind(c.mode);
      if (kind === S_IFDIR) {
        entries.push({ name: c.name, kind: "dir", mode: normalizeMode("dir", c.mode), size: 0, id: trees[subtree++]! });
        continue;
      }
      if (kind !== S_IFREG && kind !== S_IFLNK) {
        this.stats.skipped++;
        continue;
      }
      const bad = badEntryName(c.name);
      if (bad !== undefined) throw new UnsafePathError(printableName(`${path}/${c.name}`), bad);
      newest = Math.max(newest, c.mtimeMs, c.ctimeMs);
      if (this.#times !== undefined) this.#time(rel, c.name, c.mtimeMs);
      if (kind === S_IFREG) {
        const { id, chunks, size } = await this.file(`${path}/${c.name}`, c);
        entries.push({ name: c.name, kind: "file", mode: normalizeMode("file", c.mode), size, id, ...(chunks === undefined ? {} : { chunks }) });
      } else entries.push(await this.symlink(path, c.name));
    }
    const treeId = await this.encodeTree(entries);
    cache?.recordDir(path, signature, treeId, newest);
    return treeId;
  }

  /** Every regular file of a folder (not its subfolders) as an entry, stored whole, each looked up in the cache or read. */
  async wholeFiles(userDir: string): Promise<SnapshotUserEntry[]> {
    const user: SnapshotUserEntry[] = [];
    for (const e of readListing(this.listIfPresent(userDir) ?? Buffer.alloc(0))) {
      if (entryKind(e.mode) !== S_IFREG || badEntryName(e.name) !== undefined) continue;
      const ids = await this.file(`${userDir}/${e.name}`, e, false);
      user.push({ name: e.name, id: ids.id, size: ids.size });
    }
    return user;
  }

  /**
   * `wholeFiles` for a folder summed up ahead: one cache list row answers it when nothing in it
   * changed (and the sink has every entry); else it is walked, and the row recorded.
   */
  async wholeFilesFromSum(userDir: string, sum: TreeSum): Promise<SnapshotUserEntry[]> {
    const cache = this.#opts.cache;
    const key = wholeTreeKey(userDir);
    const row = cache?.lookupList?.(key, sum.digest);
    const known = row === undefined ? undefined : decodeFileEntries(row);
    if (known !== undefined && known.every((u) => this.#opts.sink.has(u.id))) {
      addFileEntries(this.stats, known);
      return known;
    }
    const user = await this.wholeFiles(userDir);
    cache?.recordList?.(key, sum.digest, encodeFileEntries(user), sum.newest);
    return user;
  }

  async symlink(dir: string, name: string): Promise<TreeEntry> {
    const target = readlinkSync(osPath(`${dir}/${name}`), { encoding: "buffer" });
    const id = hashBytes(target);
    await this.add(id, target);
    this.stats.symlinks++;
    this.stats.bytes += target.length;
    this.#opts.onProgress?.({ files: this.stats.files + this.stats.symlinks, bytes: this.stats.bytes, path: `${dir}/${name}` });
    return { name, kind: "symlink", mode: 0o777, size: target.length, id };
  }

  /**
   * `chunkable: false` stores the file whole whatever its size (user log entries have no chunk
   * list). `size` is what was read: a file that shrank while being read is stored as read.
   */
  async file(path: string, st: FileStamp, chunkable = true): Promise<CachedIds & { size: number }> {
    const stamp: FileStamp = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
    const cached = this.#opts.cache?.lookup(path, stamp);
    let ids: CachedIds & { size: number };
    if (cached !== undefined && (cached.chunks === undefined || chunkable) && this.#opts.sink.has(cached.chunks ?? cached.id)) {
      ids = { ...cached, size: st.size };
    } else {
      ids = chunkable && st.size >= this.#chunking.threshold ? await this.#chunkedFile(path, st.size) : await this.#wholeFile(path, st.size);
      this.stats.hashedFiles++;
      this.stats.hashedBytes += ids.size;
      // The stamp recorded is the one taken before reading, and racy stamps are never kept, so a
      // change during the read gives the file a newer ctime than the one cached: no re-check here.
      this.#opts.cache?.record(path, stamp, ids.chunks === undefined ? { id: ids.id } : { id: ids.id, chunks: ids.chunks });
    }
    this.stats.files++;
    this.stats.bytes += ids.size;
    this.#opts.onProgress?.({ files: this.stats.files + this.stats.symlinks, bytes: this.stats.bytes, path });
    return ids;
  }

  // Read with the size the walk saw: readFileSync would fstat again, and a file that grew since
  // is stored as it was at the walk, consistent with its stamp.
  async #wholeFile(path: string, expected: number): Promise<CachedIds & { size: number }> {
    // Sinks copy what they keep, so one buffer serves every file (no allocation, no GC per file).
    if (this.#scratch === undefined || this.#scratch.length < expected) {
      this.#scratch = Buffer.allocUnsafe(Math.max(expected, 64 * 1024, 2 * (this.#scratch?.length ?? 0)));
    }
    const data = this.#scratch;
    const fd = openSync(osPath(path), "r");
    let size = 0;
    try {
      for (let n = -1; size < expected && n !== 0; size += n) n = readSync(fd, data, size, expected - size, null);
    } finally {
      closeSync(fd);
    }
    const bytes = data.subarray(0, size);
    const id = hashBytes(bytes);
    await this.add(id, bytes);
    return { id, size };
  }

  async #chunkedFile(path: string, fileSize: number): Promise<CachedIds & { size: number }> {
    const whole = createHash("sha256");
    const chunks: ChunkRef[] = [];
    let size = 0;
    const onWorker = fileSize >= WORKER_MIN_SIZE ? chunkFileOnWorker(path, this.#chunking, READ_BLOCK) : undefined;
    if (onWorker !== undefined) {
      for await (const block of onWorker) {
        whole.update(block.fresh);
        for (const { data, id } of block.chunks) {
          chunks.push({ id, size: data.length });
          size += data.length;
          if (!this.#opts.sink.has(id)) await this.add(id, data);
        }
      }
      return this.#chunkList(whole, size, chunks);
    }
    const fh = await open(osPath(path), "r");
    try {
      const read = async (buf: Buffer, offset: number, length: number) => {
        const { bytesRead } = await fh.read(buf, offset, length, null);
        whole.update(buf.subarray(offset, offset + bytesRead));
        return bytesRead;
      };
      for await (const chunk of chunkFile(read, this.#chunking, READ_BLOCK)) {
        const id = hashBytes(chunk);
        chunks.push({ id, size: chunk.length });
        size += chunk.length;
        if (!this.#opts.sink.has(id)) await this.add(id, chunk);
      }
    } finally {
      await fh.close();
    }
    return this.#chunkList(whole, size, chunks);
  }

  async #chunkList(whole: ReturnType<typeof createHash>, size: number, chunks: ChunkRef[]): Promise<CachedIds & { size: number }> {
    const list = encodeChunkList({ size, chunks });
    const listId = hashBytes(list);
    await this.add(listId, list);
    return { id: whole.digest("hex"), chunks: listId, size };
  }
}

/** Where a folder's whole-tree row is kept in the stat cache: no folder's own row can be there. */
export const wholeTreeKey = (path: string) => `${path}\0`;

/**
 * Stores a directory tree into `sink` (children before parents, so whatever reaches the sink is
 * closed) and returns the id of its tree. Symlinks are stored as links, never followed. With
 * `times`, also stores its files' modification times and returns that object's id.
 */
export async function snapshotDir(dir: string, options: SnapshotOptions): Promise<{ treeId: ObjectId; stats: SnapshotStats; times?: ObjectId }> {
  const s = new Snapshotter(options);
  if (options.times) s.collectTimes(dir);
  const sum = options.treeSums?.get(dir);
  const treeId = sum === undefined || sum instanceof Error ? await s.dir(dir) : await s.tree(dir, sum);
  return options.times ? { treeId, stats: s.stats, times: await s.storeTimes() } : { treeId, stats: s.stats };
}

/** File entries as a stat-cache list row keeps them: [u32 count], then [u16 name length][name][f64 size][id 32] each. */
export function encodeFileEntries(user: readonly SnapshotUserEntry[]): Buffer {
  const names = user.map((u) => Buffer.from(u.name, "utf8"));
  const out = Buffer.allocUnsafe(4 + names.reduce((n, b) => n + 2 + b.length + 8 + 32, 0));
  let p = out.writeUInt32LE(user.length, 0);
  user.forEach((u, k) => {
    p = out.writeUInt16LE(names[k]!.length, p);
    p += names[k]!.copy(out, p);
    p = out.writeDoubleLE(u.size, p);
    p += out.write(u.id, p, 32, "hex");
  });
  return out;
}

/** `encodeFileEntries` read back; `undefined` when the bytes do not hold such a list. */
export function decodeFileEntries(b: Buffer): SnapshotUserEntry[] | undefined {
  if (b.length < 4) return undefined;
  const user: SnapshotUserEntry[] = [];
  let p = 4;
  for (let k = b.readUInt32LE(0); k > 0; k--) {
    if (p + 2 > b.length) return undefined;
    const end = p + 2 + b.readUInt16LE(p);
    if (end + 40 > b.length) return undefined;
    user.push({ name: b.toString("utf8", p + 2, end), size: b.readDoubleLE(end), id: b.toString("hex", end + 8, end + 40) });
    p = end + 40;
  }
  return p === b.length ? user : undefined;
}
