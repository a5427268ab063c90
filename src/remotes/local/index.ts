import { randomBytes } from "node:crypto";
import { constants, promises as fs, type Stats } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { Readable } from "node:stream";
import { UsageError } from "../../errors.js";
import { NotFoundError, NotRegularFileError, PermissionError, RemoteConflictError, RemoteUrlError, StoreNotFoundError, UnreachableError } from "../errors.js";
import { checkKey, checkRange, clampRange, TEMP_PREFIX } from "../keys.js";
import type { ByteRange, Storage, StorageEntry, StorageStat } from "../storage.js";
import { readAt, toReadable } from "../streams.js";
import { shortPath } from "../url.js";
import { walkKeys, type FolderEntry } from "../walk.js";

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

  constructor(root: string) {
    if (!isAbsolute(root)) throw new UsageError(`A local storage root must be an absolute path: '${root}'`);
    this.root = root;
    this.url = root;
  }

  private pathOf(key: string): string {
    return join(this.root, checkKey(key));
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
    const { handle, start, end } = await this.openRange(key, range);
    try {
      return await readAt(handle, start, end - start);
    } catch (err) {
      throw this.mapError(err, key);
    } finally {
      await handle.close();
    }
  }

  async put(key: string, data: Buffer | Uint8Array | Readable): Promise<void> {
    const path = this.pathOf(key);
    const folder = dirname(path);
    const temp = join(folder, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    try {
      await fs.mkdir(folder, { recursive: true });
      const handle = await fs.open(temp, "wx", 0o644);
      try {
        for await (const chunk of toReadable(data)) await handle.write(chunk as Buffer);
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

  async close(): Promise<void> {}

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

/** Makes a rename durable. Some network filesystems cannot fsync a folder; they persist renames anyway. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, constants.O_RDONLY).catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}
