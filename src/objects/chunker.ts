import { createHash } from "node:crypto";

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
// (DESIGN.md §4 says ~1 MiB; the checkpoint-variants target needs finer cuts: see README "Benchmarks").
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

/**
 * The end of the chunk that starts at `start`, looking no further than `limit` (at most
 * `start + maxSize`). Returns `limit` when no content boundary lies before it.
 */
export function findCut(buf: Uint8Array, start: number, limit: number, params: ChunkingParams): number {
  const bits = maskBits(params.avgSize);
  const maskS = topBits(bits + 2);
  const maskL = topBits(bits - 2);
  let i = start + params.minSize;
  if (i >= limit) return limit;
  const normal = Math.min(start + params.avgSize, limit);
  const gear = GEAR;
  let fp = 0;
  for (; i < normal; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & maskS) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & maskL) === 0) return i + 1;
  }
  return limit;
}

/**
 * Cuts `buf[0, end)` into chunks, calling `emit(start, end)` for each, and returns where the
 * unfinished tail starts (`end` when `final`: the tail is then the last chunk).
 */
export function cutBlock(buf: Uint8Array, end: number, final: boolean, params: ChunkingParams, emit: (start: number, end: number) => void): number {
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
