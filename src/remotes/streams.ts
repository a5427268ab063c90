import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";

/** A Readable over `data`, whatever form `put` received it in. */
export function toReadable(data: Buffer | Uint8Array | Readable): Readable {
  return data instanceof Readable ? data : Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/**
 * Bytes `[start, start + length)` of an open file, read into one buffer (a read stream took a read
 * per 64 KiB and a copy); shorter when the file ends first.
 */
export async function readAt(handle: FileHandle, start: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(out, got, length - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? out : out.subarray(0, got);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A stream that ended short or whose bytes do not match their digest: the transfer broke. */
export class BrokenTransferError extends Error {
  override name = "BrokenTransferError";
}

export interface GuardOptions {
  /** Fail when the source ends before this many bytes (a cut connection may end a stream quietly). */
  expectedBytes?: number;
  /** Pass on at most this many bytes, then stop reading the source. */
  limitBytes?: number;
  /** Fail at the end unless the bytes have this MD5 (lower-case hex). */
  md5?: string;
}

/**
 * Re-emits `source`, turning its errors into `mapError(err)` and checking its length and
 * digest as `options` ask (failing with `mapError` of a `BrokenTransferError`). Destroying the result
 * destroys `source`.
 */
export function guardStream(source: Readable, mapError: (err: unknown) => Error, options: GuardOptions = {}): Readable {
  const { expectedBytes, limitBytes, md5 } = options;
  async function* forward(): AsyncGenerator<Buffer> {
    let seen = 0;
    const hash = md5 === undefined ? undefined : createHash("md5");
    try {
      for await (const data of source) {
        let chunk = data as Buffer;
        if (limitBytes !== undefined && seen + chunk.length > limitBytes) chunk = chunk.subarray(0, limitBytes - seen);
        seen += chunk.length;
        hash?.update(chunk);
        if (chunk.length > 0) yield chunk;
        if (limitBytes !== undefined && seen >= limitBytes) break;
      }
    } catch (err) {
      throw mapError(err);
    }
    const wanted = expectedBytes === undefined ? undefined : Math.min(expectedBytes, limitBytes ?? Infinity);
    if (wanted !== undefined && seen < wanted) {
      throw mapError(new BrokenTransferError(`the stream ended after ${seen} of ${wanted} bytes`));
    }
    if (hash && hash.digest("hex") !== md5) {
      throw mapError(new BrokenTransferError("the object changed while it was read (its MD5 differs from its ETag)"));
    }
  }
  return Readable.from(forward(), { objectMode: false });
}
