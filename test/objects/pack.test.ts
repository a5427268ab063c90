import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { inflateRawSync } from "node:zlib";
import { MemoryObjectStorage, ObjectReader, PackWriter, loadPackIndex, hashBytes, materializeTree, packKey, snapshotDir } from "../../src/objects/index.js";
import { withTempDir } from "../helpers/fixtures.js";

test("an index over more packs than it keeps apart finds every object in its own pack", async () => {
  const storage = new MemoryObjectStorage();
  // Tiny packs, ~60 of them: the loaded index merges its tables, and merges the merged one again.
  const writer = new PackWriter(storage, { packSize: 2000, compress: false });
  const where = new Map<string, string>();
  // Distinct by their first bytes: two short random objects can be equal (1 byte: 1 in 256).
  const objects = Array.from({ length: 600 }, (_, i) => Buffer.concat([Buffer.from(`${i}:`), randomBytes(Math.floor(Math.random() * 300))]));
  // An object in two packs is listed twice; either pack is right for it.
  objects.push(objects[0]!);
  for (const data of objects) await writer.add(hashBytes(data), data);
  for (const pack of await writer.flush()) {
    const bytes = storage.objects.get(pack.packKey)!;
    for (let p = 8; p < bytes.length; ) {
      const id = bytes.toString("hex", p + 1, p + 33);
      const stored = bytes.readUInt32BE(p + 33);
      where.set(id, pack.packId);
      p += 41 + stored;
    }
  }
  const index = await loadPackIndex(storage);
  assert.ok(index.packIds().length > 34, `${index.packIds().length} packs`);
  for (const data of objects) {
    const id = hashBytes(data);
    const loc = index.get(id);
    assert.equal(loc?.packId, where.get(id));
    const stored = storage.objects.get(packKey(loc!.packId))!.subarray(loc!.offset, loc!.offset + loc!.storedLength);
    assert.ok(stored.equals(data));
  }
  assert.equal(index.has(hashBytes(Buffer.from("not stored"))), false);
  assert.equal([...index.ids()].length, objects.length - 1);
});

test("a pack's id commits to its bytes: its record headers, and the stored bytes of deflated records", async () => {
  const text = Buffer.from("a line of text that deflates well\n".repeat(200));
  const random = randomBytes(50_000);
  const write = async (objects: Buffer[]) => {
    const storage = new MemoryObjectStorage();
    const writer = new PackWriter(storage);
    for (const data of objects) await writer.add(hashBytes(data), data);
    const [pack] = await writer.flush();
    return { pack: pack!, bytes: storage.objects.get(pack!.packKey)! };
  };
  const { pack, bytes } = await write([text, random]);
  const expected = createHash("sha256").update(bytes.subarray(0, 8));
  let deflated = 0;
  for (let p = 8; p < bytes.length; ) {
    const stored = bytes.readUInt32BE(p + 33);
    expected.update(bytes.subarray(p, p + 41));
    if (bytes[p] !== 0) {
      deflated++;
      expected.update(bytes.subarray(p + 41, p + 41 + stored));
    }
    p += 41 + stored;
  }
  assert.equal(deflated, 1, "the text is deflated, the random bytes are not");
  assert.equal(pack.packId, expected.digest("hex"));
  assert.equal((await write([text, random])).pack.packId, pack.packId, "same objects, same pack");
  assert.notEqual((await write([random, text])).pack.packId, pack.packId, "another order is another pack");
});

test("a pack keeps its trees, times, chunk lists and small files together at its end, each after what it names", async () => {
  await withTempDir("gage-pack-", async ({ path: dir }) => {
    const src = join(dir, "src");
    mkdirSync(join(src, "results", "deep"), { recursive: true });
    writeFileSync(join(src, "model.bin"), randomBytes(1_500_000));
    writeFileSync(join(src, "id"), "a-run-id\n");
    for (let i = 0; i < 40; i++) writeFileSync(join(src, "results", `r${i}.csv`), `${i},`.repeat(4000 + i));
    for (let i = 0; i < 5; i++) writeFileSync(join(src, "results", "deep", `small${i}`), `${i}`);
    for (const compress of [false, true]) {
      const storage = new MemoryObjectStorage();
      // Packs far smaller than the files: a run spreads over several.
      const writer = new PackWriter(storage, { packSize: 64 * 1024, compress });
      const { treeId: root, times } = await snapshotDir(src, { sink: writer, times: true });
      const packs = await writer.flush();
      assert.ok(packs.length > 3, `${packs.length} packs`);
      const packOf = new Map<string, number>();
      const lastKind: string[] = [];
      packs.forEach((pack, k) => {
        const bytes = storage.objects.get(pack.packKey)!;
        let tail = false;
        for (let p = 8; p < bytes.length; ) {
          const id = bytes.toString("hex", p + 1, p + 33);
          const stored = bytes.readUInt32BE(p + 33);
          const body = bytes.subarray(p + 41, p + 41 + stored);
          const raw = bytes[p] === 1 ? inflateRawSync(body) : body;
          const kind = raw.length <= 256 ? "small" : raw.subarray(2, 7).toString("latin1") === "gage-" ? "tagged" : "data";
          if (kind === "data") assert.equal(tail, false, `pack ${k}: file data after the trees (compress ${compress})`);
          else tail = true;
          packOf.set(id, k);
          lastKind.push(kind);
          p += 41 + stored;
        }
      });
      assert.ok(lastKind.includes("tagged") && lastKind.includes("small") && lastKind.includes("data"));
      // What a tree names is in its pack or an earlier one (written first): an interrupted push leaves no tree naming a missing object.
      const reader = new ObjectReader(storage, await loadPackIndex(storage));
      const walk = async (id: string): Promise<void> => {
        for (const e of (await reader.readTree(id)).entries) {
          for (const named of [e.id, ...(e.chunks ? [e.chunks] : [])]) {
            if (packOf.has(named)) assert.ok(packOf.get(named)! <= packOf.get(id)!, `${e.name} is in a later pack than its tree`);
          }
          if (e.chunks) for (const c of (await reader.readChunkList(e.chunks)).chunks) assert.ok(packOf.get(c.id)! <= packOf.get(e.chunks)!);
          if (e.kind === "dir") await walk(e.id);
        }
      };
      await walk(root);
      assert.ok(times !== undefined && packOf.has(times));
      const out = join(dir, `out-${compress}`);
      await materializeTree(reader, root, out);
      assert.deepEqual(readFileSync(join(out, "model.bin")), readFileSync(join(src, "model.bin")));
      assert.equal(readFileSync(join(out, "results", "deep", "small3"), "utf8"), "3");
    }
  });
});
