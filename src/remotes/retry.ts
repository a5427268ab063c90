import { setTimeout as sleep } from "node:timers/promises";
import { Readable } from "node:stream";
import { GageError } from "../errors.js";
import type { ByteRange, Storage, StorageEntry, StorageStat } from "./storage.js";

export interface RetryOptions {
  /** Tries in all, the first included (default 4). */
  attempts?: number;
  /** Wait before the first retry; each later wait is three times longer (default 200 ms). */
  baseDelayMs?: number;
}

function isRetryable(err: unknown): boolean {
  return err instanceof GageError && err.retryable;
}

/**
 * Retries the calls of `storage` that fail with a retryable error (`UnreachableError`:
 * connection refused or reset, timeouts, throttling, server errors), with exponential backoff
 * and jitter. The default budget (4 tries, about 2.6 s of waiting) lets a stopped server fail
 * fast. A put of a stream is not retried (the stream cannot be replayed); a listing resumes after
 * the last key it yielded; a stream from `get` is retried only while opening.
 */
export function withRetry(storage: Storage, options: RetryOptions = {}): Storage {
  const attempts = options.attempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 200;

  /** Waits before the next try, or rethrows `err` when it is final. */
  async function backOff(err: unknown, attempt: number): Promise<void> {
    if (attempt >= attempts || !isRetryable(err)) throw err;
    const delay = baseDelayMs * 3 ** (attempt - 1);
    await sleep(delay / 2 + Math.random() * (delay / 2));
  }

  async function retry<T>(op: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        await backOff(err, attempt);
      }
    }
  }

  /** A listing (of anything with a key) that resumes after the last key it yielded. */
  async function* resumed<T>(list: (startAfter: string | undefined) => AsyncIterable<T>, keyOf: (item: T) => string, from: string | undefined): AsyncIterable<T> {
    let startAfter = from;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const item of list(startAfter)) {
          startAfter = keyOf(item);
          yield item;
        }
        return;
      } catch (err) {
        await backOff(err, attempt);
      }
    }
  }

  const listKeys = storage.listKeys?.bind(storage);
  const rootExists = storage.rootExists?.bind(storage);
  return {
    url: storage.url,
    get: (key: string, range?: ByteRange) => retry(() => storage.get(key, range)),
    getBytes: (key: string, range?: ByteRange) => retry(() => storage.getBytes(key, range)),
    put: (key: string, data: Buffer | Uint8Array | Readable) =>
      data instanceof Readable ? storage.put(key, data) : retry(() => storage.put(key, data)),
    stat: (key: string): Promise<StorageStat | undefined> => retry(() => storage.stat(key)),
    delete: (key: string) => retry(() => storage.delete(key)),
    close: () => storage.close(),
    list: (prefix: string, listOptions: { startAfter?: string } = {}): AsyncIterable<StorageEntry> =>
      resumed((startAfter) => storage.list(prefix, startAfter === undefined ? {} : { startAfter }), (entry) => entry.key, listOptions.startAfter),
    ...(listKeys
      ? {
          listKeys: (prefix: string, listOptions: { startAfter?: string } = {}): AsyncIterable<string> =>
            resumed((startAfter) => listKeys(prefix, startAfter === undefined ? {} : { startAfter }), (key) => key, listOptions.startAfter),
        }
      : {}),
    ...(rootExists ? { rootExists: () => retry(rootExists) } : {}),
    ...(storage.filePath ? { filePath: storage.filePath.bind(storage) } : {}),
  } satisfies Storage;
}
