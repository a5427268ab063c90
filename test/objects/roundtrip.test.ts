import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { addStats, badEntryName, emptyStats, materializeTree, snapshotDir, PackWriter, hashBytes, type SnapshotStats } from "../../src/objects/index.js";
import { tempDir, withTempDir } from "../helpers/fixtures.js";
import { describe, describeDir, SMALL_CHUNKS, storeDir, writeNode, type Node } from "./helpers.js";

const nameArb = fc
  .oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }))
  .filter((n) => badEntryName(n) === undefined && !n.startsWith(".gage-tmp-"));

// Sizes straddle the chunking threshold (512) and the maximum chunk (1024).
const dataArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 400, maxLength: 3000 }),
  fc.integer({ min: 0, max: 5000 }).map((n) => new Uint8Array(n).fill(7)),
);

const fileArb = fc.record({ kind: fc.constant("file" as const), data: dataArb, mode: fc.constantFrom(0o644, 0o755, 0o444, 0o555) });
const linkArb = fc.record({ kind: fc.constant("symlink" as const), target: fc.constantFrom("../up", "/etc/passwd", "sub/x", "ünï") });

const treeArb = fc.letrec<{ dir: Extract<Node, { kind: "dir" }>; node: Node }>((tie) => ({
  dir: fc.record({
    kind: fc.constant("dir" as const),
    mode: fc.constantFrom(0o755, 0o555),
    children: fc.uniqueArray(fc.tuple(nameArb, tie("node")), { maxLength: 5, selector: ([n]) => n }).map((pairs) => new Map(pairs)),
  }),
  node: fc.oneof({ depthSize: "small", withCrossShrink: true }, fileArb, linkArb, tie("dir")),
})).dir;

test("random trees round-trip through snapshot, packs, reader and materialize", async () => {
  const tmp = tempDir("gage-objects-");
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(treeArb, async (tree) => {
        const src = join(tmp.path, `src${n}`);
        const dst = join(tmp.path, `dst${n}`);
        const again = join(tmp.path, `again${n++}`);
        mkdirSync(src);
        writeNode(src, tree);
        const { reader, treeId } = await storeDir(src, { chunking: SMALL_CHUNKS, packSize: 2048 });
        const stats = await materializeTree(reader, treeId, dst, { fsync: false });
        // The roots' own modes may differ (src was made by mkdirSync); everything below must not.
        const got = describeDir(dst);
        assert.deepEqual(got, { ...describeDir(src), mode: got.mode });
        // Same content, other place, other machine: same ids.
        const copy = await snapshotDir(dst, { sink: new PackWriter(reader.storage), chunking: SMALL_CHUNKS });
        assert.equal(copy.treeId, treeId);
        // Materializing again over an identical copy writes nothing.
        const second = await materializeTree(reader, treeId, dst, { fsync: false });
        assert.equal(second.written, 0);
        assert.equal(second.unchanged, stats.files + stats.symlinks);
        mkdirSync(again);
        await materializeTree(reader, treeId, again, { fsync: false });
        assert.deepEqual(describe(join(again)), describe(dst));
      }),
      { numRuns: 40 },
    );
  } finally {
    tmp.cleanup();
  }
});

test("a file's id is the SHA-256 of its bytes, chunked or not", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const big = new Uint8Array(20000).map((_, i) => (i * 31 + (i >> 7)) & 0xff);
  writeNode(tmp.path, {
    kind: "dir",
    mode: 0o755,
    children: new Map<string, Node>([
      ["big", { kind: "file", data: big, mode: 0o644 }],
      ["small", { kind: "file", data: new Uint8Array([1, 2, 3]), mode: 0o644 }],
    ]),
  });
  const { reader, treeId } = await storeDir(tmp.path, { chunking: SMALL_CHUNKS });
  const tree = await reader.readTree(treeId);
  const [bigEntry, smallEntry] = tree.entries;
  assert.equal(bigEntry!.id, hashBytes(big));
  assert.ok(bigEntry!.chunks !== undefined, "a file above the threshold is chunked");
  assert.ok((await reader.readChunkList(bigEntry!.chunks!)).chunks.length > 10);
  assert.equal(smallEntry!.id, hashBytes(new Uint8Array([1, 2, 3])));
  assert.equal(smallEntry!.chunks, undefined);
  });
});

test("a large file chunked on the worker thread round-trips", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const src = join(tmp.path, "src");
  mkdirSync(src);
  const big = randomBytes(17 * 1024 * 1024);
  writeNode(src, { kind: "dir", mode: 0o755, children: new Map<string, Node>([["model.ckpt", { kind: "file", data: big, mode: 0o444 }]]) });
  const { reader, treeId, packs } = await storeDir(src, { packSize: 8 * 1024 * 1024 });
  assert.ok(packs.length >= 2, "large data spreads over several packs");
  const entry = (await reader.readTree(treeId)).entries[0]!;
  assert.equal(entry.id, hashBytes(big));
  const dst = join(tmp.path, "dst");
  await materializeTree(reader, treeId, dst, { fsync: false });
  assert.equal(hashBytes(readFileSync(join(dst, "model.ckpt"))), entry.id);
  });
});

test("addStats adds every count a snapshot keeps", () => {
  const keys = Object.keys(emptyStats()) as (keyof SnapshotStats)[];
  const some = Object.fromEntries(keys.map((k, i) => [k, i + 1])) as unknown as SnapshotStats;
  const sum = addStats(addStats(emptyStats(), some), some);
  assert.deepEqual(sum, Object.fromEntries(keys.map((k, i) => [k, 2 * (i + 1)])));
});
