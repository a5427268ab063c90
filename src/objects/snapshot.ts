import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
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
import type { CachedIds, FileStamp, StatCache } from "./stat-cache.js";
import { UnsafePathError } from "./errors.js";

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
  cache?: StatCache;
  chunking?: ChunkingParams;
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
}

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
  // faster than fs.promises (DESIGN.md §7), and no-change snapshots are all walk.
  async dir(path: string): Promise<ObjectId> {
    this.#opts.signal?.throwIfAborted();
    this.stats.dirs++;
    const names = readdirSync(path).sort(compareNames);
    const entries: TreeEntry[] = [];
    for (const name of names) {
      // Names were checked, so plain concatenation is a safe (and much cheaper) join.
      const child = `${path}/${name}`;
      const bad = badEntryName(name);
      if (bad !== undefined) throw new UnsafePathError(child, bad);
      const st = lstatSync(child);
      if (st.isDirectory()) {
        entries.push({ name, kind: "dir", mode: normalizeMode("dir", st.mode), size: 0, id: await this.dir(child) });
      } else if (st.isFile()) {
        entries.push({ name, kind: "file", mode: normalizeMode("file", st.mode), size: st.size, ...(await this.file(child, st)) });
      } else if (st.isSymbolicLink()) {
        entries.push(await this.symlink(name, child));
      } else {
        this.stats.skipped++;
      }
    }
    return this.tree(entries);
  }

  async symlink(name: string, path: string): Promise<TreeEntry> {
    const target = readlinkSync(path, { encoding: "buffer" });
    const id = hashBytes(target);
    await this.add(id, target);
    this.#done(path, target.length);
    this.stats.symlinks++;
    return { name, kind: "symlink", mode: 0o777, size: target.length, id };
  }

  /** `chunkable: false` stores the file whole whatever its size (user log entries have no chunk list). */
  async file(path: string, st: Stats, chunkable = true): Promise<CachedIds> {
    const stamp: FileStamp = { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
    const sink = this.#opts.sink;
    const cached = this.#opts.cache?.lookup(path, stamp);
    let ids: CachedIds;
    if (cached !== undefined && (cached.chunks === undefined || chunkable) && sink.has(cached.chunks ?? cached.id)) {
      ids = cached;
    } else {
      ids = chunkable && st.size >= this.#chunking.threshold ? await this.#chunkedFile(path) : await this.#wholeFile(path);
      this.stats.hashedFiles++;
      this.stats.hashedBytes += st.size;
      const after = lstatSync(path);
      // Changed while being read: what was hashed is consistent with its id, but the cache must not
      // tie that id to the new stamp.
      if (after.size === st.size && after.mtimeMs === st.mtimeMs && after.ctimeMs === st.ctimeMs) this.#opts.cache?.record(path, stamp, ids);
    }
    this.stats.files++;
    this.#done(path, st.size);
    return ids;
  }

  #done(path: string, bytes: number): void {
    this.stats.bytes += bytes;
    this.#opts.onProgress?.({ files: this.stats.files + this.stats.symlinks, bytes: this.stats.bytes, path });
  }

  async #wholeFile(path: string): Promise<CachedIds> {
    const data = readFileSync(path);
    const id = hashBytes(data);
    await this.add(id, data);
    return { id };
  }

  async #chunkedFile(path: string): Promise<CachedIds> {
    const whole = createHash("sha256");
    const chunks: ChunkRef[] = [];
    let size = 0;
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
    const list = encodeChunkList({ size, chunks });
    const listId = hashBytes(list);
    await this.add(listId, list);
    return { id: whole.digest("hex"), chunks: listId };
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
      user.push({ name, id: ids.id, size: st.size });
    }
  }
  const snapshot: Snapshot = { runId, files, meta, user, parents: options.parents ?? [], summary: options.summary ?? {} };
  const bytes = encodeSnapshot(snapshot);
  const snapshotId = hashBytes(bytes);
  await s.add(snapshotId, bytes);
  return { snapshotId, snapshot, stats: s.stats };
}
