import { UsageError } from "../errors.js";
import type { ByteRange } from "./storage.js";

/**
 * Names the local and SFTP backends give their temporary files; a key segment may not start
 * with it, so a temporary file is never mistaken for an object.
 */
export const TEMP_PREFIX = ".gage-tmp-";

/** Throws `UsageError` unless `key` has the form the `Storage` contract allows. */
export function checkKey(key: string): string {
  if (typeof key !== "string" || key === "") throw new UsageError("A storage key may not be empty");
  if (key.startsWith("/")) throw new UsageError(`A storage key may not start with '/': '${key}'`);
  if (key.includes("\0") || key.includes("\\")) {
    throw new UsageError(`A storage key may not contain NUL or '\\': '${key}'`);
  }
  for (const segment of key.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new UsageError(`A storage key may not have empty, '.' or '..' segments: '${key}'`);
    }
    if (segment.startsWith(TEMP_PREFIX)) {
      throw new UsageError(`A storage key segment may not start with '${TEMP_PREFIX}': '${key}'`);
    }
  }
  return key;
}

/** Throws `UsageError` unless `range` is well formed. */
export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) throw new UsageError(`Bad range start: ${start}`);
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new UsageError(`Bad range end: ${end} (start ${start})`);
  }
}

/** The byte interval `[start, end)` of `range` within an object of `size` bytes, clamped. */
export function clampRange(range: ByteRange | undefined, size: number): { start: number; end: number } {
  const start = Math.min(range?.start ?? 0, size);
  const end = Math.max(start, Math.min(range?.end ?? size, size));
  return { start, end };
}

/** Orders keys as S3 does: by their UTF-8 bytes (code point order), not UTF-16 units. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
