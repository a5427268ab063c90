import type { Readable } from "node:stream";
import type { ObjectStorage } from "./storage.js";

/**
 * An in-memory `ObjectStorage`, for tests and benchmarks of the object store alone. Counts puts
 * and ranged reads so tests can check how many round trips an operation costs.
 */
export class MemoryObjectStorage implements ObjectStorage {
  readonly objects = new Map<string, Buffer>();
  puts = 0;
  gets = 0;

  async getBytes(key: string, range?: { start: number; end?: number }): Promise<Buffer> {
    const data = this.objects.get(key);
    if (data === undefined) throw Object.assign(new Error(`no such key: ${key}`), { code: "NOT_FOUND" });
    this.gets++;
    return range === undefined ? data : data.subarray(range.start, range.end ?? data.length);
  }

  async put(key: string, data: Buffer | Uint8Array | Readable): Promise<void> {
    let bytes: Buffer;
    if (data instanceof Uint8Array) bytes = Buffer.from(data);
    else {
      const parts: Buffer[] = [];
      for await (const part of data) parts.push(Buffer.from(part as Uint8Array));
      bytes = Buffer.concat(parts);
    }
    this.puts++;
    this.objects.set(key, bytes);
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    const data = this.objects.get(key);
    return data === undefined ? undefined : { size: data.length };
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<{ key: string; size: number }> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (options.startAfter === undefined || k > options.startAfter)).sort();
    for (const key of keys) yield { key, size: this.objects.get(key)!.length };
  }
}
