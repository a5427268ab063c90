import type { Readable } from "node:stream";

/** Byte range of a ranged read: `start` inclusive, `end` exclusive (omitted: to the end). */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface StorageStat {
  size: number;
  /** Last modification, where the backend knows it (ms since the epoch). */
  mtimeMs?: number;
}

export interface StorageEntry {
  /** The full key, as given to `put`. */
  key: string;
  size: number;
}

/**
 * A flat key space of immutable-by-convention blobs: what every backend (local directory, S3,
 * SSH) implements, and all that sync and the object store need of a remote.
 *
 * Keys are relative, `/`-separated, never start with `/`, never contain `.` or `..` segments or
 * empty segments, and are treated as opaque UTF-8 strings (unicode allowed). A backend rejects a
 * key outside that form with `UsageError`.
 *
 * Errors: every method throws a subclass of `RemoteError` (src/remotes/errors.ts):
 * `NotFoundError` for a missing key, `PermissionError`, `UnreachableError` (retryable),
 * `AuthError`, `HostKeyError`, `RemoteConflictError`. Each carries the storage URL (secrets
 * redacted) and a hint.
 */
export interface Storage {
  /** Where this storage is, for messages: secrets redacted. */
  readonly url: string;

  /**
   * Streams an object's bytes, or the bytes of `range`.
   * @throws NotFoundError when the key does not exist.
   */
  get(key: string, range?: ByteRange): Promise<Readable>;

  /**
   * Reads a whole (small) object into memory.
   * @throws NotFoundError when the key does not exist.
   */
  getBytes(key: string, range?: ByteRange): Promise<Buffer>;

  /**
   * Writes an object atomically: a reader sees either the old object or the complete new one,
   * never a partial one. Overwrites an existing key. A stream is consumed to its end; large
   * streams are never held in memory whole.
   */
  put(key: string, data: Buffer | Uint8Array | Readable): Promise<void>;

  /** The object's size, or `undefined` when the key does not exist (absence is not an error). */
  stat(key: string): Promise<StorageStat | undefined>;

  /**
   * Every key that starts with `prefix` (a plain string prefix, not a folder), in lexical order
   * of keys, paging through the backend's listing until it is complete. `startAfter` skips keys
   * up to and including that key.
   */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<StorageEntry>;

  /** Removes a key. Removing a missing key is not an error. */
  delete(key: string): Promise<void>;

  /** Releases connections. The storage is unusable afterwards. */
  close(): Promise<void>;
}
