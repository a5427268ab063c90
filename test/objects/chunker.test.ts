import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chunkFileOnWorker } from "../../src/objects/chunk-pool.js";
import { chunkBuffer, chunkFile, DEFAULT_CHUNKING } from "../../src/objects/chunker.js";
import { tempDir } from "../helpers/fixtures.js";
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
  const base = randomBytes(8 * 1024 * 1024);
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
  const tmp = tempDir("gage-objects-");
  try {
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
    const missing = chunkFileOnWorker(join(tmp.path, "missing"), DEFAULT_CHUNKING, 1024)!;
    await assert.rejects(async () => {
      for await (const _ of missing) assert.fail("no blocks from a missing file");
    }, /ENOENT/);
  } finally {
    tmp.cleanup();
  }
});
