import { createHash } from "node:crypto";
import { cdcCuts } from "./dir-listing.js";

/**
 * Content-defined chunking (FastCDC with normalized chunking). The parameters and the gear table
 * are part of the store format: the same file must cut into the same chunks on every machine.
 */
export interface ChunkingParams {
  minSize: number;
  /** The "normal" size: a harder cut condition before it, an easier one after it. */
  avgSize: number;
  maxSize: number;
  /** Files of at least this many bytes are chunked; smaller ones are stored whole. */
  threshold: number;
}

// Much smaller than restic's ~1 MiB so checkpoints that differ in scattered places share more
// (docs/design.md §4 says ~1 MiB; the checkpoint-variants target needs finer cuts: docs/performance.md).
export const DEFAULT_CHUNKING: ChunkingParams = Object.freeze({
  minSize: 16 * 1024,
  avgSize: 64 * 1024,
  maxSize: 256 * 1024,
  threshold: 1024 * 1024,
});

const GEAR = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) table[i] = createHash("sha256").update(`gage-gear-${i}`).digest().readInt32BE(0);
  return table;
})();

function topBits(n: number): number {
  return n >= 32 ? -1 : ~(0xffffffff >>> n) | 0;
}

function maskBits(avgSize: number): number {
  return Math.round(Math.log2(avgSize));
}

/** Where `scan` left the fingerprint when it found no cut (a scan's second return value). */
let scanFp = 0;

/**
 * Rolls the gear fingerprint over `buf[i, end)` from `fp` and returns the position after the first
 * byte where `(fp & mask) === 0`, or -1 (then `scanFp` holds the fingerprint). Unrolled by 8: the
 * byte-at-a-time loop is much slower (docs/performance.md), with the same cuts.
 */
function scan(buf: Uint8Array, i: number, end: number, fp: number, mask: number): number {
  const gear = GEAR;
  for (const end8 = end - 7; i < end8; i += 8) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & mask) === 0) return i + 1;
    fp = ((fp << 1) + gear[buf[i + 1]!]!) | 0;
    if ((fp & mask) === 0) return i + 2;
    fp = ((fp << 1) + gear[buf[i + 2]!]!) | 0;
    if ((fp & mask) === 0) return i + 3;
    fp = ((fp << 1) + gear[buf[i + 3]!]!) | 0;
    if ((fp & mask) === 0) return i + 4;
    fp = ((fp << 1) + gear[buf[i + 4]!]!) | 0;
    if ((fp & mask) === 0) return i + 5;
    fp = ((fp << 1) + gear[buf[i + 5]!]!) | 0;
    if ((fp & mask) === 0) return i + 6;
    fp = ((fp << 1) + gear[buf[i + 6]!]!) | 0;
    if ((fp & mask) === 0) return i + 7;
    fp = ((fp << 1) + gear[buf[i + 7]!]!) | 0;
    if ((fp & mask) === 0) return i + 8;
  }
  for (; i < end; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & mask) === 0) return i + 1;
  }
  scanFp = fp;
  return -1;
}

/**
 * The end of the chunk that starts at `start`, looking no further than `limit` (at most
 * `start + maxSize`). Returns `limit` when no content boundary lies before it.
 */
export function findCut(buf: Uint8Array, start: number, limit: number, params: ChunkingParams): number {
  const bits = maskBits(params.avgSize);
  const i = start + params.minSize;
  if (i >= limit) return limit;
  // The harder condition holds up to the normal size (never before the minimum).
  const normal = Math.min(Math.max(start + params.avgSize, i), limit);
  const early = scan(buf, i, normal, 0, topBits(bits + 2));
  if (early >= 0) return early;
  const late = scan(buf, normal, limit, scanFp, topBits(bits - 2));
  return late >= 0 ? late : limit;
}

/** The addon's form of `params`: sizes, then the early and late masks. */
const nativeParams = new WeakMap<ChunkingParams, Uint32Array>();

function paramsFor(params: ChunkingParams): Uint32Array {
  let p = nativeParams.get(params);
  if (p === undefined) {
    const bits = maskBits(params.avgSize);
    p = Uint32Array.of(params.minSize, params.avgSize, params.maxSize, topBits(bits + 2), topBits(bits - 2));
    nativeParams.set(params, p);
  }
  return p;
}

/**
 * Cuts `buf[0, end)` into chunks, calling `emit(start, end)` for each, and returns where the
 * unfinished tail starts (`end` when `final`: the tail is then the last chunk). The addon's loop
 * (native/cdc.c) when it is built, else `cutBlockJs`: the same cuts.
 */
export function cutBlock(buf: Uint8Array, end: number, final: boolean, params: ChunkingParams, emit: (start: number, end: number) => void): number {
  if (cdcCuts === undefined) return cutBlockJs(buf, end, final, params, emit);
  // Every chunk but a final tail holds at least minSize bytes (at least one).
  const cuts = new Uint32Array(Math.floor(end / Math.max(params.minSize, 1)) + 2);
  const n = cdcCuts(buf, end, final, GEAR, paramsFor(params), cuts);
  let pos = 0;
  for (let k = 0; k < n; k++) {
    emit(pos, cuts[k]!);
    pos = cuts[k]!;
  }
  return pos;
}

/** `cutBlock` in JavaScript: the definition the addon follows. */
export function cutBlockJs(buf: Uint8Array, end: number, final: boolean, params: ChunkingParams, emit: (start: number, end: number) => void): number {
  let pos = 0;
  const take = (cut: number) => {
    emit(pos, cut);
    pos = cut;
  };
  while (end - pos >= params.maxSize) take(findCut(buf, pos, pos + params.maxSize, params));
  // Cuts that need no more data than is here are final too: a cut depends only on bytes before it.
  for (let cut = findCut(buf, pos, end, params); cut !== end; cut = findCut(buf, pos, end, params)) take(cut);
  if (final && pos < end) take(end);
  return pos;
}

/**
 * Reads a file's bytes into fresh buffers (chunks may outlive a block: a pack being filled keeps
 * them) and cuts them into chunks. The unfinished tail of one block is copied to the front of the
 * next buffer, so each byte is copied about once per chunk tail, not once per block.
 */
export async function* chunkFile(
  read: (buf: Buffer, offset: number, length: number) => Promise<number>,
  params: ChunkingParams = DEFAULT_CHUNKING,
  blockSize = 4 * 1024 * 1024,
): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  for (;;) {
    const buf = Buffer.allocUnsafe(carry.length + blockSize);
    carry.copy(buf, 0);
    const n = await read(buf, carry.length, blockSize);
    if (n === 0) break;
    const end = carry.length + n;
    const cuts: Buffer[] = [];
    const pos = cutBlock(buf, end, false, params, (start, cut) => cuts.push(buf.subarray(start, cut)));
    yield* cuts;
    carry = buf.subarray(pos, end);
  }
  if (carry.length > 0) yield carry;
}

/** The chunk boundaries of a whole buffer (for tests and small inputs). */
export function chunkBuffer(data: Uint8Array, params: ChunkingParams = DEFAULT_CHUNKING): Buffer[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const out: Buffer[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const cut = findCut(buf, pos, Math.min(buf.length, pos + params.maxSize), params);
    out.push(buf.subarray(pos, cut));
    pos = cut;
  }
  return out;
}
