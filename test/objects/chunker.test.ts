import assert from "node:assert/strict";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chunkFileOnWorker } from "../../src/objects/chunk-pool.js";
import { chunkBuffer, chunkFile, cutBlock, cutBlockJs, DEFAULT_CHUNKING, findCut, type ChunkingParams } from "../../src/objects/chunker.js";
import { cdcCuts } from "../../src/objects/dir-listing.js";
import { withTempDir } from "../helpers/fixtures.js";
import { hashBytes } from "../../src/objects/index.js";
import { SMALL_CHUNKS } from "./helpers.js";

/** Chunks `data` through `chunkFile`, with reads cut short at the given sizes (as a pipe might). */
async function streamed(data: Uint8Array, reads: number[], blockSize: number): Promise<Buffer[]> {
  let pos = 0;
  let k = 0;
  const read = async (buf: Buffer, offset: number, length: number) => {
    const n = Math.min(length, data.length - pos, reads.length > 0 ? reads[k++ % reads.length]! : length);
    buf.set(data.subarray(pos, pos + n), offset);
    pos += n;
    return n;
  };
  const out: Buffer[] = [];
  for await (const c of chunkFile(read, SMALL_CHUNKS, blockSize)) out.push(c);
  return out;
}

test("streamed chunking cuts where whole-buffer chunking cuts, however the reads fall", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 6000 }),
      fc.array(fc.integer({ min: 1, max: 2000 }), { maxLength: 10 }),
      fc.integer({ min: 1, max: 3000 }),
      async (data, reads, blockSize) => {
        const got = await streamed(data, reads, blockSize);
        const whole = chunkBuffer(data, SMALL_CHUNKS);
        assert.deepEqual(got.map(hashBytes), whole.map(hashBytes));
        assert.equal(Buffer.concat(got).equals(Buffer.from(data)), true);
        for (const c of whole.slice(0, -1)) assert.ok(c.length >= SMALL_CHUNKS.minSize && c.length <= SMALL_CHUNKS.maxSize);
      },
    ),
    { numRuns: 200 },
  );
});

test("a few changed bytes leave most chunks shared", () => {
  // Fixed pseudo-random bytes (AES-CTR of zeros): one random input in many cut 13 of 107 chunks anew.
  const base = createCipheriv("aes-128-ctr", Buffer.alloc(16), Buffer.alloc(16)).update(Buffer.alloc(8 * 1024 * 1024));
  const variant = Buffer.from(base);
  for (const at of [100_000, 3_000_000, 6_500_000]) variant.fill(0x55, at, at + 5000);
  const a = new Set(chunkBuffer(base).map(hashBytes));
  const b = chunkBuffer(variant).map(hashBytes);
  const shared = b.filter((id) => a.has(id)).length;
  assert.ok(b.length >= 16, `8 MiB cut into ${b.length} chunks`);
  assert.ok(shared >= b.length - 6, `${shared} of ${b.length} chunks shared`);
  const sizes = chunkBuffer(base).map((c) => c.length);
  assert.ok(Math.max(...sizes) <= DEFAULT_CHUNKING.maxSize);
});

test("chunking on the worker thread cuts and hashes as the calling thread does", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const data = randomBytes(3 * 1024 * 1024 + 4321);
  const path = join(tmp.path, "f");
  writeFileSync(path, data);
  const expected = chunkBuffer(data, DEFAULT_CHUNKING);
  const fresh: Buffer[] = [];
  const got: { data: Buffer; id: string }[] = [];
  // A block smaller than the largest chunk exercises the carry between blocks.
  const job = chunkFileOnWorker(path, DEFAULT_CHUNKING, 700 * 1024)!;
  for await (const block of job) {
    fresh.push(Buffer.from(block.fresh));
    got.push(...block.chunks.map((c) => ({ data: Buffer.from(c.data), id: c.id })));
  }
  assert.ok(Buffer.concat(fresh).equals(data));
  assert.deepEqual(got.map((c) => c.id), expected.map(hashBytes));
  for (const c of got) assert.equal(hashBytes(c.data), c.id);
  // A slow consumer leaves blocks queued: the worker then hashes the chunks itself.
  const slow: string[] = [];
  for await (const block of chunkFileOnWorker(path, DEFAULT_CHUNKING, 300 * 1024)!) {
    await new Promise((r) => setTimeout(r, 20));
    slow.push(...block.chunks.map((c) => c.id));
  }
  assert.deepEqual(slow, expected.map(hashBytes));
  // Blocks' buffers are handed back and read into again, within a file and from file to file: the
  // same chunks every time, and a view kept past its block reads as empty, never as later bytes.
  for (let round = 0; round < 2; round++) {
    const again: string[] = [];
    let kept: Buffer | undefined;
    for await (const block of chunkFileOnWorker(path, DEFAULT_CHUNKING, 300 * 1024)!) {
      if (kept !== undefined) assert.equal(kept.length, 0);
      kept = block.chunks[0]?.data ?? kept;
      again.push(...block.chunks.map((c) => hashBytes(c.data)));
    }
    assert.deepEqual(again, expected.map(hashBytes));
  }
  const missing = chunkFileOnWorker(join(tmp.path, "missing"), DEFAULT_CHUNKING, 1024)!;
  await assert.rejects(async () => {
    for await (const _ of missing) assert.fail("no blocks from a missing file");
  }, /ENOENT/);
  });
});

/** FastCDC as first written, one byte per step: the definition the unrolled scan must match. */
function referenceCut(buf: Uint8Array, start: number, limit: number, params: ChunkingParams): number {
  const gear = Array.from({ length: 256 }, (_, i) => createHash("sha256").update(`gage-gear-${i}`).digest().readInt32BE(0));
  const bits = Math.round(Math.log2(params.avgSize));
  const top = (n: number) => (n >= 32 ? -1 : ~(0xffffffff >>> n) | 0);
  let i = start + params.minSize;
  if (i >= limit) return limit;
  const normal = Math.min(start + params.avgSize, limit);
  let fp = 0;
  for (; i < normal; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & top(bits + 2)) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    fp = ((fp << 1) + gear[buf[i]!]!) | 0;
    if ((fp & top(bits - 2)) === 0) return i + 1;
  }
  return limit;
}

test("the unrolled cut search cuts where the byte-at-a-time definition cuts", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 5000 }),
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 2000 }),
      fc.integer({ min: 2, max: 512 }),
      (data, minSize, span, avgSize) => {
        const params = { minSize, avgSize, maxSize: minSize + span, threshold: 0 };
        for (let start = 0; start < data.length; ) {
          const limit = Math.min(data.length, start + params.maxSize);
          const cut = findCut(data, start, limit, params);
          assert.equal(cut, referenceCut(data, start, limit, params));
          start = Math.max(cut, start + 1);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("the default chunking cuts a fixed input where it always has (the cuts are part of the store format)", () => {
  const blocks = Array.from({ length: (3 << 20) / 32 }, (_, i) => createHash("sha256").update(`gage-chunk-golden-${i}`).digest());
  const data = Buffer.concat(blocks);
  // A run of zeros has no content boundary: the maximum size cuts it.
  data.fill(0, 1 << 20, (1 << 20) + 300_000);
  const sizes = chunkBuffer(data, DEFAULT_CHUNKING).map((c) => c.length);
  assert.deepEqual(sizes.slice(0, 16), [67999, 75296, 69649, 109342, 82641, 65636, 81474, 31240, 90507, 76512, 85748, 84803, 73160, 262144, 104901, 67532]);
  assert.equal(createHash("sha256").update(JSON.stringify(sizes)).digest("hex"), "9bac25c4f9fba396a7c95ca43edce5de9961b4faefca5e0ba98327b2881b7c36");
});

test("the addon cuts blocks where the JavaScript cuts them, final or not", () => {
  assert.ok(cdcCuts, "native/build/Release/gage_dir_listing.node is missing: run `npm install` (it needs g++, make and python3)");
  const cuts = (cut: typeof cutBlock, data: Uint8Array, final: boolean, params: ChunkingParams) => {
    const out: [number, number][] = [];
    const tail = cut(data, data.length, final, params, (start, end) => out.push([start, end]));
    return { out, tail };
  };
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 6000 }),
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 1, max: 1500 }),
      fc.boolean(),
      (data, minSize, avgSpan, maxSpan, final) => {
        const params = { minSize, avgSize: Math.max(2, minSize + avgSpan), maxSize: Math.max(2, minSize + avgSpan) + maxSpan, threshold: 0 };
        assert.deepEqual(cuts(cutBlock, data, final, params), cuts(cutBlockJs, data, final, params));
      },
    ),
    { numRuns: 500 },
  );
  // Random bytes at the real sizes, with a zero run only the maximum size cuts.
  const big = randomBytes(5 * 1024 * 1024);
  big.fill(0, 1 << 20, (1 << 20) + 700_000);
  for (const final of [false, true]) assert.deepEqual(cuts(cutBlock, big, final, DEFAULT_CHUNKING), cuts(cutBlockJs, big, final, DEFAULT_CHUNKING));
  // A block shorter than the end it names, or sizes out of order, is refused, not read past.
  assert.throws(() => cdcCuts!(Buffer.alloc(10), 11, true, new Int32Array(256), Uint32Array.of(1, 2, 4, 0, 0), new Uint32Array(20)), RangeError);
  assert.throws(() => cdcCuts!(Buffer.alloc(10), 10, true, new Int32Array(256), Uint32Array.of(4, 2, 8, 0, 0), new Uint32Array(20)), RangeError);
  assert.throws(() => cdcCuts!(Buffer.alloc(10), 10, true, new Int32Array(256), Uint32Array.of(1, 1, 1, 0, 0), new Uint32Array(3)), RangeError);
});
