import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { chunkBlocks, chunkBuffer, DEFAULT_CHUNKING } from "../../src/objects/chunker.js";
import { hashBytes } from "../../src/objects/index.js";
import { SMALL_CHUNKS } from "./helpers.js";

async function collect(blocks: Uint8Array[], params = SMALL_CHUNKS): Promise<Buffer[]> {
  const out: Buffer[] = [];
  async function* gen() {
    yield* blocks;
  }
  for await (const c of chunkBlocks(gen(), params)) out.push(Buffer.from(c));
  return out;
}

test("streamed chunking cuts where whole-buffer chunking cuts, however the stream is split", async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 6000 }), fc.array(fc.integer({ min: 1, max: 2000 }), { maxLength: 10 }), async (data, splits) => {
      const blocks: Uint8Array[] = [];
      let pos = 0;
      for (const s of splits) {
        if (pos >= data.length) break;
        blocks.push(data.slice(pos, pos + s));
        pos += s;
      }
      if (pos < data.length) blocks.push(data.slice(pos));
      const streamed = await collect(blocks);
      const whole = chunkBuffer(data, SMALL_CHUNKS);
      assert.deepEqual(streamed.map(hashBytes), whole.map(hashBytes));
      assert.equal(Buffer.concat(streamed).equals(Buffer.from(data)), true);
      for (const c of whole.slice(0, -1)) assert.ok(c.length >= SMALL_CHUNKS.minSize && c.length <= SMALL_CHUNKS.maxSize);
    }),
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
