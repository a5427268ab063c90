import type { Readable } from "node:stream";

/**
 * Byte range of a ranged read: `start` inclusive, `end` exclusive (omitted: to the end). A range
 * is clamped to the object: bytes past its end are simply not returned (a range that starts at or
 * past the end reads nothing). `end < start` or a negative `start` is a `UsageError`.
 */
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
 * empty segments, never contain NUL or a backslash, and are treated as opaque UTF-8 strings (unicode
 * allowed). No segment may start with `.gage-tmp-` (the local and SSH backends name their temporary
 * files so). A backend rejects a key outside that form with `UsageError` (src/remotes/keys.ts).
 * On folder-based backends (local, SSH) a key cannot also be a folder of other keys (`a` and
 * `a/b`): the second put throws `RemoteConflictError`. Keep keys uniform (fixed-length names
 * under fixed prefixes) and this never arises.
 *
 * Get `storage` from `openStorage(url)` (src/remotes/open.ts) or `resolveRemote(nameOrUrl)`
 * (src/remotes/config.ts): both add retries (`withRetry`) and a concurrency bound
 * (`withConcurrency`), so callers may issue many calls at once.
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
   * Streams an object's bytes, or the bytes of `range`. The caller must read the stream to its
   * end or destroy it. A transfer that breaks off fails the stream with `UnreachableError`; it
   * never ends quietly short.
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
   * streams are never held in memory whole. When the put fails, the stream is destroyed and the
   * key keeps its old object (or stays absent).
   * @throws RemoteConflictError when the key collides with a folder (local, SSH).
   */
  put(key: string, data: Buffer | Uint8Array | Readable): Promise<void>;

  /** The object's size, or `undefined` when the key does not exist (absence is not an error). */
  stat(key: string): Promise<StorageStat | undefined>;

  /**
   * Every key that starts with `prefix` (a plain string prefix, not a folder), in lexical order
   * of keys (UTF-8 byte order, as S3 lists), paging through the backend's listing until it is
   * complete. `startAfter` skips keys up to and including that key. Keys are read lazily: the
   * listing of a remote with 100,000 keys is never held in memory whole.
   */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<StorageEntry>;

  /**
   * The keys `list` gives, without their sizes: offered by a backend that learns a size by a call
   * per key (a local folder stats each file), for callers that need only the keys (a push lists
   * a few hundred heads and packs). Callers use `listKeys` (src/objects/storage.ts), which falls
   * back on `list`.
   */
  listKeys?(prefix: string, options?: { startAfter?: string }): AsyncIterable<string>;

  /**
   * Whether the storage's root is there (a local or SSH folder). Absent, every listing is empty,
   * which readers must not take for an empty store; a put creates it. Backends without a root
   * that can be absent (S3, where a missing bucket fails every call) leave it out.
   * @throws StoreNotFoundError when the root is a file.
   */
  rootExists?(): Promise<boolean>;

  /**
   * The file that holds `key`, offered by a backend that keeps keys as files on this machine (a
   * local folder): a reader may read an immutable key (a pack) there directly. Nothing is opened
   * or checked: the reader checks that it is a regular file.
   * @throws UsageError for a malformed key.
   */
  filePath?(key: string): string;

  /** Removes a key. Removing a missing key is not an error. */
  delete(key: string): Promise<void>;

  /** Releases connections. The storage is unusable afterwards. */
  close(): Promise<void>;
}
