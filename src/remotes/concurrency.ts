import pLimit from "p-limit";
import type { Readable } from "node:stream";
import type { ByteRange, Storage } from "./storage.js";

/**
 * Bounds how many calls of `storage` run at once (each backend has a default that suits it:
 * small for a local disk, large for S3). A `get` holds its slot while opening its stream, not
 * while the caller reads it: holding it longer would deadlock a caller that opens more streams
 * than `n` before reading them. A `put` holds its slot until the object is stored. Listings are
 * not limited.
 */
export function withConcurrency(storage: Storage, n: number): Storage {
  const limit = pLimit(Math.max(1, Math.floor(n)));
  return {
    url: storage.url,
    get: (key: string, range?: ByteRange): Promise<Readable> => limit(() => storage.get(key, range)),
    getBytes: (key: string, range?: ByteRange) => limit(() => storage.getBytes(key, range)),
    put: (key: string, data: Buffer | Uint8Array | Readable) => limit(() => storage.put(key, data)),
    stat: (key: string) => limit(() => storage.stat(key)),
    delete: (key: string) => limit(() => storage.delete(key)),
    list: (prefix: string, options?: { startAfter?: string }) => storage.list(prefix, options),
    ...(storage.listKeys ? { listKeys: storage.listKeys.bind(storage) } : {}),
    ...(storage.rootExists ? { rootExists: storage.rootExists.bind(storage) } : {}),
    ...(storage.filePath ? { filePath: storage.filePath.bind(storage) } : {}),
    close: () => storage.close(),
  } satisfies Storage;
}
