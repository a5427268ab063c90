import { Readable } from "node:stream";

/** A Readable over `data`, whatever form `put` received it in. */
export function toReadable(data: Buffer | Uint8Array | Readable): Readable {
  return data instanceof Readable ? data : Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Re-emits `source`, turning its errors into `mapError(err)` and failing with
 * `mapError(undefined)` when it ends before `expectedBytes` (a connection cut short may end a
 * stream quietly). Destroying the result destroys `source`.
 */
export function guardStream(
  source: Readable,
  mapError: (err: unknown) => Error,
  expectedBytes?: number,
): Readable {
  async function* forward(): AsyncGenerator<Buffer> {
    let seen = 0;
    try {
      for await (const chunk of source) {
        seen += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    } catch (err) {
      throw mapError(err);
    }
    if (expectedBytes !== undefined && seen < expectedBytes) {
      throw mapError(new Error(`stream ended after ${seen} of ${expectedBytes} bytes`));
    }
  }
  return Readable.from(forward(), { objectMode: false });
}
