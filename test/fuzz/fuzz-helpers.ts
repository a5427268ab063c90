import assert from "node:assert/strict";
import fc from "fast-check";
import { GageError } from "../../src/errors.js";

/** Fixed seeds: a failure prints its seed and path, and reproduces with them. */
export const SEED = 0x5eed;

/** Runs per property: a few hundred decodes each, the whole fuzz suite in a few seconds. */
export const RUNS = 300;

/** No decode may grow the process past this, whatever it is fed (every input here is < 64 KiB). */
const MAX_RSS = 1024 * 1024 * 1024;

/**
 * Calls `decode`; it may return, or throw a `GageError` (a typed refusal the CLI maps to an exit
 * status). Anything else, a RangeError, a TypeError or a stack overflow, is a crash and fails.
 * Returns what `decode` returned, or undefined when it refused.
 */
export function refusesOrDecodes<T>(decode: () => T, codes?: readonly string[]): T | undefined {
  let out: T | undefined;
  try {
    out = decode();
  } catch (err) {
    if (!(err instanceof GageError)) throw new Error(`untyped failure: ${(err as Error)?.stack ?? String(err)}`);
    if (codes !== undefined) assert.ok(codes.includes(err.code), `code ${err.code}, expected one of ${codes.join(", ")}: ${err.message}`);
  }
  assert.ok(process.memoryUsage().rss < MAX_RSS, `resident memory ${process.memoryUsage().rss} after a decode`);
  return out;
}

/** `refusesOrDecodes` for an asynchronous decode. */
export async function refusesOrDecodesAsync<T>(decode: () => Promise<T>, codes?: readonly string[]): Promise<T | undefined> {
  let out: T | undefined;
  try {
    out = await decode();
  } catch (err) {
    if (!(err instanceof GageError)) throw new Error(`untyped failure: ${(err as Error)?.stack ?? String(err)}`);
    if (codes !== undefined) assert.ok(codes.includes(err.code), `code ${err.code}, expected one of ${codes.join(", ")}: ${err.message}`);
  }
  assert.ok(process.memoryUsage().rss < MAX_RSS, `resident memory ${process.memoryUsage().rss} after a decode`);
  return out;
}

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "u32"; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  // Lengths, counts and offsets are 32-bit fields: the values that break readers are the large ones.
  fc.record({ kind: fc.constant("u32" as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat()) }),
);

function apply(bytes: Buffer, m: Mutation): Buffer {
  if (bytes.length === 0) return m.kind === "insert" ? Buffer.from(m.bytes) : bytes;
  const at = m.at % bytes.length;
  switch (m.kind) {
    case "flip": {
      const out = Buffer.from(bytes);
      out[at]! ^= 1 << m.bit;
      return out;
    }
    case "truncate":
      return bytes.subarray(0, at);
    case "insert":
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    case "delete":
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
    case "u32": {
      const out = Buffer.from(bytes);
      if (at + 4 <= out.length) out.writeUInt32BE(m.value >>> 0, at);
      return out;
    }
  }
}

/** `valid` changed in one to four places: how damage and tampering look to a decoder. */
export function mutated(valid: Buffer): fc.Arbitrary<Buffer> {
  return fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => ms.reduce(apply, valid));
}

/** Arbitrary bytes, up to 4 KiB. */
export const anyBytes: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a));
