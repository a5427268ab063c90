import { randomBytes } from "node:crypto";
import { close as closeFd, constants, fstat as fstatFd, open as openFd, promises as fs, read as readFd, statSync, type Stats } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { UsageError } from "../../errors.js";
import { NotFoundError, NotRegularFileError, PermissionError, RemoteConflictError, RemoteUrlError, StoreNotFoundError, UnreachableError } from "../errors.js";
import { checkKey, checkRange, clampRange, TEMP_PREFIX } from "../keys.js";
import type { ByteRange, Storage, StorageEntry, StorageStat } from "../storage.js";
import { readAt } from "../streams.js";
import { shortPath } from "../url.js";
import { walkKeys, type FolderEntry } from "../walk.js";

/** Pack files kept open between ranged reads, at most this many while none is in use. */
export const OPEN_PACKS = 16;
/** An open pack unused this long is closed: a long-lived process (serve) holds none while idle. */
const IDLE_CLOSE_MS = 2000;

export interface LocalStorageOptions {
  /** How long a pack kept open may go unread before it is closed (default 2 s). */
  idleCloseMs?: number;
}
/** Keys whose file never changes (a pack's name is its content's hash), so an open one stays right to read. */
const KEPT_OPEN = /^packs\/[^/]+\.pack$/;

/** A pack file kept open; `users` reads are under way on it. */
interface OpenPack {
  key: string;
  file: Promise<{ fd: number; size: number; stamp: string }>;
  users: number;
  lastUse: number;
}

/** What tells one file at a path from another, or from itself rewritten. */
const fileStamp = (st: Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
const openAsync = promisify(openFd);
const fstatAsync = promisify(fstatFd);
const readAsync = promisify(readFd);
const closePack = (pack: OpenPack): Promise<void> =>
  pack.file.then(
    ({ fd }) => new Promise<void>((resolve) => closeFd(fd, () => resolve())),
    () => undefined,
  );

/**
 * A folder on a local disk, a shared drive or a network mount. A put writes a temporary file in
 * the key's folder, fsyncs it, renames it over the key and fsyncs the folder: rename is atomic on
 * every filesystem we target, and nothing here needs hard links or locks, which SMB and some NFS
 * setups lack. Folders are created on demand and never removed, so a concurrent put never finds
 * its folder gone.
 */
export class LocalStorage implements Storage {
  readonly url: string;
  readonly root: string;
  /** Open packs, least recently used first. */
  readonly #packs = new Map<string, OpenPack>();
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #idleCloseMs: number;

  constructor(root: string, options: LocalStorageOptions = {}) {
    if (!isAbsolute(root)) throw new UsageError(`A local storage root must be an absolute path: '${root}'`);
    this.root = root;
    this.url = root;
    this.#idleCloseMs = options.idleCloseMs ?? IDLE_CLOSE_MS;
  }

  private pathOf(key: string): string {
    return join(this.root, checkKey(key));
  }

  filePath(key: string): string {
    return this.pathOf(key);
  }

  /**
   * Opens `key` for reading `range` (clamped to the file); the caller closes the handle. Opened
   * non-blocking, so a FIFO in a shared folder cannot hang the reader; only a regular file is read.
   */
  private async openRange(key: string, range: ByteRange | undefined): Promise<{ handle: fs.FileHandle; start: number; end: number }> {
    checkRange(range);
    const handle = await fs.open(this.pathOf(key), constants.O_RDONLY | constants.O_NONBLOCK).catch((err) => {
      throw this.mapError(err, key);
    });
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw new NotFoundError(this.url, key);
      if (!stat.isFile()) throw new NotRegularFileError(this.url, key);
      return { handle, ...clampRange(range, stat.size) };
    } catch (err) {
      await handle.close();
      throw this.mapError(err, key);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const { handle, start, end } = await this.openRange(key, range);
    if (end === start) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({ start, end: end - 1 });
  }

  async getBytes(key: string, range?: ByteRange): Promise<Buffer> {
    if (KEPT_OPEN.test(key)) return this.getPackBytes(key, range);
    const { handle, start, end } = await this.openRange(key, range);
    try {
      return await readAt(handle, start, end - start);
    } catch (err) {
      throw this.mapError(err, key);
    } finally {
      await handle.close();
    }
  }

  /**
   * A ranged read of a pack through a file kept open: a clone reads each pack in hundreds of
   * ranges, and an open, a stat and a close for each cost more than the read.
   */
  private async getPackBytes(key: string, range: ByteRange | undefined, again = true): Promise<Buffer> {
    checkRange(range);
    const pack = this.acquirePack(key);
    let read: Buffer | undefined;
    try {
      const { fd, size, stamp } = await pack.file;
      // The file at the key now must be the one held open: a pack replaced or damaged since is
      // read as it is now (one stat, where an open, a stat and a close were).
      const now = statSync(this.pathOf(key), { throwIfNoEntry: false });
      if (now === undefined) throw new NotFoundError(this.url, key);
      if (fileStamp(now) !== stamp && again) {
        // Closed once no read uses it; this read opens the file there now.
        if (this.#packs.get(key) === pack) this.#packs.delete(key);
      } else {
        const { start, end } = clampRange(range, size);
        const out = Buffer.allocUnsafe(end - start);
        let got = 0;
        while (got < out.length) {
          const { bytesRead } = await readAsync(fd, out, got, out.length - got, start + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        read = got === out.length ? out : out.subarray(0, got);
      }
    } catch (err) {
      throw this.mapError(err, key);
    } finally {
      this.releasePack(pack);
    }
    return read ?? this.getPackBytes(key, range, false);
  }

  private acquirePack(key: string): OpenPack {
    let pack = this.#packs.get(key);
    if (pack === undefined) {
      pack = { key, file: this.openPack(key), users: 0, lastUse: 0 };
      const opened = pack;
      // A pack that cannot be opened is not kept: the next read tries again.
      opened.file.catch(() => this.#packs.get(key) === opened && this.#packs.delete(key));
    } else this.#packs.delete(key);
    this.#packs.set(key, pack);
    pack.users++;
    this.evictPacks();
    return pack;
  }

  private releasePack(pack: OpenPack): void {
    pack.users--;
    pack.lastUse = performance.now();
    // Closed by `close` or eviction while in use: the last reader closes it.
    if (pack.users === 0 && this.#packs.get(pack.key) !== pack) void closePack(pack);
    this.evictPacks();
    if (this.#idleTimer === undefined && this.#packs.size > 0) {
      this.#idleTimer = setTimeout(() => this.closeIdlePacks(), this.#idleCloseMs).unref();
    }
  }

  /** Opened non-blocking (a FIFO in a shared folder cannot hang the reader); only a regular file is read. */
  private async openPack(key: string): Promise<{ fd: number; size: number; stamp: string }> {
    const fd = await openAsync(this.pathOf(key), constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const stat = await fstatAsync(fd);
      if (stat.isDirectory()) throw new NotFoundError(this.url, key);
      if (!stat.isFile()) throw new NotRegularFileError(this.url, key);
      return { fd, size: stat.size, stamp: fileStamp(stat) };
    } catch (err) {
      closeFd(fd, () => undefined);
      throw err;
    }
  }

  /** Closes the least recently used packs no read is using, down to `OPEN_PACKS`. */
  private evictPacks(): void {
    for (const pack of this.#packs.values()) {
      if (this.#packs.size <= OPEN_PACKS) return;
      if (pack.users > 0) continue;
      this.#packs.delete(pack.key);
      void closePack(pack);
    }
  }

  private closeIdlePacks(): void {
    this.#idleTimer = undefined;
    const before = performance.now() - this.#idleCloseMs;
    for (const pack of [...this.#packs.values()]) {
      if (pack.users > 0 || pack.lastUse > before) continue;
      this.#packs.delete(pack.key);
      void closePack(pack);
    }
    if (this.#packs.size > 0) this.#idleTimer = setTimeout(() => this.closeIdlePacks(), this.#idleCloseMs).unref();
  }

  async put(key: string, data: Buffer | Uint8Array | Readable): Promise<void> {
    const path = this.pathOf(key);
    const folder = dirname(path);
    const temp = join(folder, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    try {
      const handle = await openNew(temp, folder);
      try {
        // Bytes in one write (`writeFile` would cut a pack into 512 KiB writes); a stream chunk by chunk.
        if (data instanceof Readable) for await (const chunk of data) await writeAll(handle, chunk as Buffer);
        else await writeAll(handle, data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, path);
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      if (data instanceof Readable) data.destroy();
      throw this.mapError(err, key);
    }
    await syncFolder(folder);
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const path = this.pathOf(key);
    let stat: Stats;
    try {
      stat = await fs.stat(path);
    } catch (err) {
      const mapped = this.mapError(err, key);
      if (mapped instanceof NotFoundError || mapped instanceof RemoteConflictError) return undefined;
      throw mapped;
    }
    return stat.isFile() ? { size: stat.size, mtimeMs: stat.mtimeMs } : undefined;
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<StorageEntry> {
    yield* walkKeys((rel) => this.readFolder(rel, true), prefix, options.startAfter);
  }

  async *listKeys(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<string> {
    for await (const { key } of walkKeys((rel) => this.readFolder(rel, false), prefix, options.startAfter)) yield key;
  }

  /** A folder's entries; `sizes`: a file's size (a stat each), else 0. */
  private async readFolder(rel: string, sizes: boolean): Promise<FolderEntry[] | undefined> {
    const folder = join(this.root, rel);
    try {
      const dirents = await fs.readdir(folder, { withFileTypes: true });
      return await Promise.all(
        dirents.map(async (d): Promise<FolderEntry> => {
          if (d.isDirectory()) return { name: d.name, kind: "folder", size: 0 };
          if (!d.isFile()) return { name: d.name, kind: "other", size: 0 };
          if (!sizes) return { name: d.name, kind: "file", size: 0 };
          // a file deleted between readdir and stat is simply not listed
          const stat = await fs.stat(join(folder, d.name)).catch(() => undefined);
          return stat ? { name: d.name, kind: "file", size: stat.size } : { name: d.name, kind: "other", size: 0 };
        }),
      );
    } catch (err) {
      const mapped = this.mapError(err, rel);
      if (mapped instanceof NotFoundError || mapped instanceof RemoteConflictError) return undefined;
      throw mapped;
    }
  }

  async rootExists(): Promise<boolean> {
    let stat: Stats;
    try {
      stat = await fs.stat(this.root);
    } catch (err) {
      const mapped = this.mapError(err, "");
      if (mapped instanceof NotFoundError) return false;
      throw mapped;
    }
    if (!stat.isDirectory()) throw new StoreNotFoundError(this.url, `No store at ${shortPath(this.url)}: it is a file, not a folder`, { hint: "Name a folder for the remote." });
    return true;
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await fs.unlink(path);
    } catch (err) {
      const mapped = this.mapError(err, key);
      // a folder is not an object, so there is nothing to delete
      if (mapped instanceof NotFoundError || mapped instanceof RemoteConflictError) return;
      throw mapped;
    }
  }

  /** Closes the packs kept open (one still being read is closed when its read ends). */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const packs = [...this.#packs.values()];
    this.#packs.clear();
    await Promise.all(packs.filter((p) => p.users === 0).map(closePack));
  }

  private mapError(err: unknown, key: string): unknown {
    const code = (err as NodeJS.ErrnoException)?.code;
    switch (code) {
      case "ENOENT":
        return new NotFoundError(this.url, key, { cause: err });
      case "EACCES":
      case "EPERM":
      case "EROFS":
        return new PermissionError(this.url, `Permission denied for '${key}' in ${this.url}`, { key, cause: err });
      case "ENAMETOOLONG":
        return new RemoteUrlError(this.url, `The path of '${key}' in ${shortPath(this.url)} is too long for this file system`, { key, cause: err, hint: "Use a shorter path for the remote." });
      case "ENOTDIR":
      case "EISDIR":
      case "EEXIST":
      case "ENOTEMPTY":
        return new RemoteConflictError(this.url, `'${key}' collides with a folder or file in ${this.url}`, {
          key,
          cause: err,
        });
      case "EIO":
      case "ESTALE":
      case "ETIMEDOUT":
      case "EHOSTDOWN":
      case "ENOSPC":
      case "EDQUOT":
        return new UnreachableError(this.url, `Cannot write or read '${key}' in ${this.url}: ${code}`, {
          key,
          cause: err,
          retryable: code !== "ENOSPC" && code !== "EDQUOT",
        });
      default:
        return err;
    }
  }
}

/** Writes all of `bytes` at the file's position (a write may take fewer than it was given). */
async function writeAll(handle: fs.FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, at, bytes.length - at);
    // Never expected of a file; without it the loop would not end.
    if (bytesWritten === 0) throw Object.assign(new Error("EIO: a write to the remote's folder wrote nothing"), { code: "EIO" });
    at += bytesWritten;
  }
}

/** Creates `temp` for writing, and its folder first when that is missing (most puts find it there). */
async function openNew(temp: string, folder: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(temp, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await fs.mkdir(folder, { recursive: true });
  return fs.open(temp, "wx", 0o644);
}

/** Makes a rename durable. Some network filesystems cannot fsync a folder; they persist renames anyway. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, constants.O_RDONLY).catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}
