import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { MemoryObjectStorage, PackWriter, loadPackIndex, hashBytes, packKey } from "../../src/objects/index.js";

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
