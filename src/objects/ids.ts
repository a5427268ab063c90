import { createHash, hash as hashOnce } from "node:crypto";
import { open } from "node:fs/promises";
import { FormatError } from "./errors.js";
import { osPath } from "./names.js";

/** A SHA-256 digest as 64 lower-case hex digits: the id of every object. */
export type ObjectId = string;

const ID_RE = /^[0-9a-f]{64}$/;

export function isObjectId(s: unknown): s is ObjectId {
  return typeof s === "string" && ID_RE.test(s);
}

/** Accepts only the canonical form (lower-case hex, 64 digits); throws `FormatError` otherwise. */
export function parseObjectId(s: unknown, what = "object id"): ObjectId {
  if (!isObjectId(s)) throw new FormatError(what, `expected 64 lower-case hex digits, got ${JSON.stringify(s)}`);
  return s;
}

// One call, no Hash object: the per-call cost was a visible part of hashing many small files and chunks.
export function hashBytes(data: Uint8Array): ObjectId {
  return hashOnce("sha256", data, "hex");
}

export function idToBytes(id: ObjectId): Buffer {
  return Buffer.from(id, "hex");
}

/**
 * Writes the id's 32 bytes into `out` from `at` (a buffer the caller reuses: no buffer per
 * lookup); false when `id` is not 64 hex digits.
 */
export function writeIdBytes(id: ObjectId, out: Buffer, at = 0): boolean {
  return id.length === 64 && out.write(id, at, 32, "hex") === 32;
}

export function idFromBytes(bytes: Uint8Array, what = "object id"): ObjectId {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new FormatError(what, "expected 32 bytes");
  return Buffer.from(bytes.buffer, bytes.byteOffset, 32).toString("hex");
}

/** Read size for streaming: large enough to amortize syscalls, small enough to bound memory. */
export const READ_BLOCK = 4 * 1024 * 1024;

/** The SHA-256 of a file's bytes (what `sha256sum` prints), read in bounded blocks. */
export async function hashFile(path: string): Promise<ObjectId> {
  const hash = createHash("sha256");
  const fh = await open(osPath(path), "r");
  try {
    const buf = Buffer.allocUnsafe(READ_BLOCK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}
