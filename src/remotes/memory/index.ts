import { Readable } from "node:stream";
import { NotFoundError } from "../errors.js";
import { checkKey, checkRange, clampRange, compareKeys } from "../keys.js";
import type { ByteRange, Storage, StorageEntry, StorageStat } from "../storage.js";
import { readAll, toReadable } from "../streams.js";

/**
 * Objects in a Map: the reference backend for the conformance suite and a fast fake for tests
 * of the rooms above. A put buffers the whole stream, so it is unfit for large data.
 */
export class MemoryStorage implements Storage {
  readonly url: string;
  private readonly objects = new Map<string, { data: Buffer; mtimeMs: number }>();

  constructor(name = "default") {
    this.url = `memory://${name}`;
  }

  private object(key: string): { data: Buffer; mtimeMs: number } {
    const found = this.objects.get(checkKey(key));
    if (!found) throw new NotFoundError(this.url, key);
    return found;
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    return Readable.from([await this.getBytes(key, range)]);
  }

  async getBytes(key: string, range?: ByteRange): Promise<Buffer> {
    checkRange(range);
    const { data } = this.object(key);
    const { start, end } = clampRange(range, data.length);
    return Buffer.from(data.subarray(start, end));
  }

  async put(key: string, data: Buffer | Uint8Array | Readable): Promise<void> {
    checkKey(key);
    const bytes = await readAll(toReadable(data));
    this.objects.set(key, { data: bytes, mtimeMs: Date.now() });
  }

  async stat(key: string): Promise<StorageStat | undefined> {
    const found = this.objects.get(checkKey(key));
    return found && { size: found.data.length, mtimeMs: found.mtimeMs };
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<StorageEntry> {
    const { startAfter } = options;
    const keys = [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix) && (startAfter === undefined || compareKeys(k, startAfter) > 0))
      .sort(compareKeys);
    for (const key of keys) {
      const found = this.objects.get(key);
      if (found) yield { key, size: found.data.length };
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(checkKey(key));
  }

  async close(): Promise<void> {}
}
