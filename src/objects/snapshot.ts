import { createHash } from "node:crypto";
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { chunkFileOnWorker } from "./chunk-pool.js";
import { chunkFile, DEFAULT_CHUNKING, type ChunkingParams } from "./chunker.js";
import {
  badEntryName,
  compareNames,
  encodeChunkList,
  encodeSnapshot,
  encodeTree,
  normalizeMode,
  type ChunkRef,
  type Snapshot,
  type SnapshotSummary,
  type TreeEntry,
  type SnapshotUserEntry,
} from "./codec.js";
import { hashBytes, READ_BLOCK, type ObjectId } from "./ids.js";
import type { ObjectSink } from "./pack.js";
import type { CachedIds, FileIdCache, FileStamp } from "./stat-cache.js";
import { UnsafePathError } from "./errors.js";

// Below this size a file is chunked on the calling thread: handing it to the worker costs more
// than hashing it twice here.
const WORKER_MIN_SIZE = 16 * 1024 * 1024;

export interface FileProgress {
  /** Files (and symlinks) done so far. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** The file just done. */
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
}

/** A sink that stores nothing and claims everything: snapshotting with it only computes ids. */
export const idOnlySink: ObjectSink = { has: () => true, add: async () => false };

export function emptyStats(): SnapshotStats {
  return { files: 0, dirs: 0, symlinks: 0, skipped: 0, bytes: 0, hashedFiles: 0, hashedBytes: 0, newObjects: 0, newBytes: 0 };
}

/** Adds the counts of `b` into `a`. */
export function addStats(a: SnapshotStats, b: SnapshotStats): SnapshotStats {
  for (const k of Object.keys(a) as (keyof SnapshotStats)[]) a[k] += b[k];
  return a;
}

class Snapshotter {
  readonly stats = emptyStats();
  readonly #opts: SnapshotOptions;
  readonly #chunking: ChunkingParams;
  #scratch = Buffer.allocUnsafe(64 * 1024);

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

  async tree(entries: TreeEntry[]): Promise<ObjectId> {
    const bytes = encodeTree({ entries });
    const id = hashBytes(bytes);
    await this.add(id, bytes);
    return id;
  }

  // The walk is synchronous: on a warm runs directory a sync readdir/lstat walk is several times
  // faster than fs.promises (DESIGN.md §7), and no-change snapshots are all walk. Every child is
  // lstat'ed every time; what the cache saves is reading, hashing and re-encoding.
  async dir(path: string): Promise<ObjectId> {
    this.#opts.signal?.throwIfAborted();
    this.stats.dirs++;
    const cache = this.#opts.cache;
    const children: { name: string; path: string; st: Stats; tree?: ObjectId }[] = [];
    // The signature: names, kinds, modes and subtree ids as text, every file's stamp as raw
    // doubles (no number-to-string conversions: this runs for every file of a no-change snapshot).
    let text = "";
    const names = readdirSync(path).sort(compareNames);
    const stamps = new Float64Array(names.length * 5);
    let n = 0;
    let newest = 0;
    for (const name of names) {
      // Names are checked, so plain concatenation is a safe (and much cheaper) join.
      const child = `${path}/${name}`;
      const bad = badEntryName(name);
      if (bad !== undefined) throw new UnsafePathError(child, bad);
      const st = lstatSync(child);
      if (st.isDirectory()) {
        const tree = await this.dir(child);
        children.push({ name, path: child, st, tree });
        text += `${name}\0d${st.mode}\0${tree}\0`;
      } else if (st.isFile() || st.isSymbolicLink()) {
        children.push({ name, path: child, st });
        text += `${name}\0f\0`;
        stamps[n++] = st.mode;
        stamps[n++] = st.size;
        stamps[n++] = st.mtimeMs;
        stamps[n++] = st.ctimeMs;
        stamps[n++] = st.ino;
        newest = Math.max(newest, st.mtimeMs, st.ctimeMs);
      } else {
        this.stats.skipped++;
      }
    }
    const signature =
      cache === undefined ? "" : createHash("sha256").update(text).update(new Uint8Array(stamps.buffer, 0, n * 8)).digest("hex");
    const known = cache?.lookupDir(path, signature);
    if (known !== undefined && this.#opts.sink.has(known)) {
      for (const c of children) {
        if (c.tree !== undefined) continue;
        if (c.st.isFile()) this.stats.files++;
        else this.stats.symlinks++;
        this.#done(c.path, c.st.size);
      }
      return known;
    }
    const entries: TreeEntry[] = [];
    for (const { name, path: child, st, tree } of children) {
      if (tree !== undefined) entries.push({ name, kind: "dir", mode: normalizeMode("dir", st.mode), size: 0, id: tree });
      else if (st.isFile()) {
        const { id, chunks, size } = await this.file(child, st);
        entries.push({ name, kind: "file", mode: normalizeMode("file", st.mode), size, id, ...(chunks === undefined ? {} : { chunks }) });
      }
      else entries.push(await this.symlink(name, child));
    }
    const treeId = await this.tree(entries);
    cache?.recordDir(path, signature, treeId, newest);
    return treeId;
  }

  async symlink(name: string, path: string): Promise<TreeEntry> {
    const target = readlinkSync(path, { encoding: "buffer" });
    const id = hashBytes(target);
    await this.add(id, target);
    this.#done(path, target.length);
    this.stats.symlinks++;
    return { name, kind: "symlink", mode: 0o777, size: target.length, id };
  }

  /**
   * `chunkable: false` stores the file whole whatever its size (user log entries have no chunk
   * list). `size` is what was read: a file that shrank while being read is stored as read.
   */
  async file(path: string, st: Stats, chunkable = true): Promise<CachedIds & { size: number }> {
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
    this.#done(path, ids.size);
    return ids;
  }

  #done(path: string, bytes: number): void {
    this.stats.bytes += bytes;
    this.#opts.onProgress?.({ files: this.stats.files + this.stats.symlinks, bytes: this.stats.bytes, path });
  }

  // Read with the size the walk saw: readFileSync would fstat again, and a file that grew since
  // is stored as it was at the walk, consistent with its stamp.
  async #wholeFile(path: string, expected: number): Promise<CachedIds & { size: number }> {
    // Sinks copy what they keep, so one buffer serves every file (no allocation, no GC per file).
    if (this.#scratch.length < expected) this.#scratch = Buffer.allocUnsafe(Math.max(expected, 2 * this.#scratch.length));
    const data = this.#scratch;
    const fd = openSync(path, "r");
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
    const fh = await open(path, "r");
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

/**
 * Stores a directory tree into `sink` (children before parents, so whatever reaches the sink is
 * closed) and returns the id of its tree. Symlinks are stored as links, never followed.
 */
export async function snapshotDir(dir: string, options: SnapshotOptions): Promise<{ treeId: ObjectId; stats: SnapshotStats }> {
  const s = new Snapshotter(options);
  const treeId = await s.dir(dir);
  return { treeId, stats: s.stats };
}

export interface SnapshotRunOptions extends SnapshotOptions {
  parents?: ObjectId[];
  summary?: SnapshotSummary;
  /** The meta directory to store (default `ID.meta`; e.g. `ID.meta.deleted` for a deleted run). */
  metaDir?: string;
}

export interface SnapshotRunResult {
  snapshotId: ObjectId;
  snapshot: Snapshot;
  stats: SnapshotStats;
}

function exists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/**
 * Stores one run: `ID/` (an empty tree when absent), the meta directory, and every `ID.user/` log
 * file, then the snapshot itself. `ID.project` is never read.
 */
export async function snapshotRun(runsDir: string, runId: string, options: SnapshotRunOptions): Promise<SnapshotRunResult> {
  const bad = badEntryName(runId);
  if (bad !== undefined) throw new UnsafePathError(runId, bad);
  const s = new Snapshotter(options);
  const runDir = join(runsDir, runId);
  const files = exists(runDir) ? await s.dir(runDir) : await s.tree([]);
  const meta = await s.dir(options.metaDir ?? `${runDir}.meta`);
  const user: SnapshotUserEntry[] = [];
  const userDir = `${runDir}.user`;
  if (exists(userDir)) {
    for (const name of readdirSync(userDir).sort(compareNames)) {
      const path = join(userDir, name);
      const st = lstatSync(path);
      if (!st.isFile() || badEntryName(name) !== undefined) continue;
      const ids = await s.file(path, st, false);
      user.push({ name, id: ids.id, size: ids.size });
    }
  }
  const snapshot: Snapshot = { runId, files, meta, user, parents: options.parents ?? [], summary: options.summary ?? {} };
  const bytes = encodeSnapshot(snapshot);
  const snapshotId = hashBytes(bytes);
  await s.add(snapshotId, bytes);
  return { snapshotId, snapshot, stats: s.stats };
}
