import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Packr } from "msgpackr";
import {
  CorruptObjectError,
  MemoryObjectStorage,
  ObjectReader,
  PackWriter,
  UnsafePathError,
  decodeTree,
  encodeTree,
  hashBytes,
  materializeTree,
  packIndexKey,
  packKey,
  type ObjectId,
} from "../../src/objects/index.js";
import type { MsgValue } from "../../src/objects/msgpack.js";
import { decodePackIndex, encodePackIndex } from "../../src/objects/pack.js";
import { withTempDir } from "../helpers/fixtures.js";
import { SMALL_CHUNKS, storeDir, writeNode, type Node } from "./helpers.js";

function sampleTree(): Extract<Node, { kind: "dir" }> {
  const text = new TextEncoder().encode("loss,acc\n".repeat(300));
  const noise = new Uint8Array(3000).map((_, i) => (i * 2654435761) >>> 24);
  return {
    kind: "dir",
    mode: 0o755,
    children: new Map<string, Node>([
      ["a.csv", { kind: "file", data: text, mode: 0o444 }],
      ["ckpt", { kind: "file", data: noise, mode: 0o644 }],
      ["link", { kind: "symlink", target: "a.csv" }],
      ["sub", { kind: "dir", mode: 0o755, children: new Map([["x", { kind: "file", data: new Uint8Array([9]), mode: 0o755 }]]) }],
    ]),
  };
}

test("a flipped byte in any stored object is detected, naming the object", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  writeNode(tmp.path, sampleTree());
  const { storage, reader } = await storeDir(tmp.path, { chunking: SMALL_CHUNKS });
  const ids = [...reader.index.ids()];
  assert.ok(ids.length > 8);
  for (const id of ids) {
    const loc = reader.index.get(id)!;
    const key = packKey(loc.packId);
    const original = storage.objects.get(key)!;
    for (const at of [loc.offset, loc.offset + Math.floor(loc.storedLength / 2), loc.offset + loc.storedLength - 1]) {
      const bad = Buffer.from(original);
      bad[at]! ^= 0x01;
      storage.objects.set(key, bad);
      await assert.rejects(reader.read(id), (err: unknown) => err instanceof CorruptObjectError && err.id === id && err.message.includes(id));
    }
    storage.objects.set(key, original);
    assert.equal(hashBytes(await reader.read(id)), id);
  }
  });
});

test("an index naming an unknown codec for an object makes its read fail, naming the object", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
    writeNode(tmp.path, sampleTree());
    const { storage, reader } = await storeDir(tmp.path, { chunking: SMALL_CHUNKS });
    const id = [...reader.index.ids()][0]!;
    const packId = reader.index.get(id)!.packId;
    // A well-formed index (its checksum right) that names codec 9 for the object.
    const key = [...storage.objects.keys()].find((k) => k.startsWith(`packs/${packId}.`) && k.endsWith(".idx"))!;
    const entries = decodePackIndex(packId, storage.objects.get(key)!).map((e) => (e.id === id ? { ...e, codec: 9 as 0 } : e));
    const bytes = encodePackIndex(packId, entries);
    storage.objects.delete(key);
    storage.objects.set(packIndexKey(packId, bytes), bytes);
    const reopened = await ObjectReader.open(storage);
    await assert.rejects(reopened.read(id), (err: unknown) => err instanceof CorruptObjectError && err.id === id && err.message.includes("unknown codec 9"));
  });
});

test("a corrupt chunk stops materializing before the file appears", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const src = join(tmp.path, "src");
  mkdirSync(src);
  writeNode(src, sampleTree());
  const { storage, reader, treeId } = await storeDir(src, { chunking: SMALL_CHUNKS });
  const ckpt = (await reader.readTree(treeId)).entries.find((e) => e.name === "ckpt")!;
  const lastChunk = (await reader.readChunkList(ckpt.chunks!)).chunks.at(-1)!;
  const loc = reader.index.get(lastChunk.id)!;
  storage.objects.get(packKey(loc.packId))![loc.offset]! ^= 0xff;
  const dst = join(tmp.path, "dst");
  await assert.rejects(materializeTree(reader, treeId, dst, { fsync: false }), (err: unknown) => err instanceof CorruptObjectError && err.id === lastChunk.id);
  assert.equal(existsSync(join(dst, "ckpt")), false);
  assert.deepEqual(readdirSync(dst).filter((n) => n.startsWith(".gage-tmp-")), []);
  });
});

const rawPackr = new Packr({ useRecords: false });

/** Stores a tree as an attacker would: encoded by hand, past every check of `encodeTree`. */
async function storeHostile(entries: unknown[][], extra: Buffer[] = []): Promise<{ reader: ObjectReader; id: ObjectId }> {
  const storage = new MemoryObjectStorage();
  const writer = new PackWriter(storage);
  for (const data of extra) await writer.add(hashBytes(data), data);
  const bytes = rawPackr.pack(["gage-tree", 1, entries]);
  const id = hashBytes(bytes);
  await writer.add(id, bytes);
  await writer.flush();
  return { reader: await ObjectReader.open(storage), id };
}

test("hostile tree entries are refused before anything is written", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const blob = Buffer.from("pwned");
  const blobId = Buffer.from(hashBytes(blob), "hex");
  const good = ["aaa", 0, 0o644, blob.length, blobId, null];
  for (const name of ["..", ".", "", "a/b", "/etc", "x\0y", "..\\..\\z"]) {
    const { reader, id } = await storeHostile([good, [name, 0, 0o644, blob.length, blobId, null]], [blob]);
    const dst = join(tmp.path, `dst-${readdirSync(tmp.path).length}`);
    await assert.rejects(materializeTree(reader, id, dst, { fsync: false }), UnsafePathError, `name ${JSON.stringify(name)}`);
    assert.equal(existsSync(dst), false, "nothing is created");
  }
  // A hostile subtree is refused before the good top-level file is written.
  const inner = rawPackr.pack(["gage-tree", 1, [["..", 0, 0o644, blob.length, blobId, null]]]);
  const { reader, id } = await storeHostile([good, ["sub", 1, 0o755, 0, Buffer.from(hashBytes(inner), "hex"), null]], [blob, inner]);
  const dst = join(tmp.path, "nested");
  await assert.rejects(materializeTree(reader, id, dst, { fsync: false }), UnsafePathError);
  assert.equal(existsSync(dst), false);
  assert.throws(() => encodeTree({ entries: [{ name: "..", kind: "file", mode: 0o644, size: 0, id: hashBytes(blob) }] }), UnsafePathError);
  });
});

test("materializing never writes through a symlink already on disk", async () => {
  await withTempDir("gage-objects-", async (tmp) => {
  const src = join(tmp.path, "src");
  mkdirSync(src);
  writeNode(src, sampleTree());
  const { reader, treeId } = await storeDir(src, { chunking: SMALL_CHUNKS });
  const outside = join(tmp.path, "outside");
  mkdirSync(outside);
  const dst = join(tmp.path, "dst");
  mkdirSync(dst);
  symlinkSync(outside, join(dst, "sub"));
  writeFileSync(join(dst, "marker"), "keep");
  await assert.rejects(materializeTree(reader, treeId, dst, { fsync: false }), UnsafePathError);
  assert.deepEqual(readdirSync(outside), []);
  assert.deepEqual(readdirSync(dst).sort(), ["marker", "sub"]);
  });
});

test("non-canonical or malformed objects are corrupt, not trusted", async () => {
  const blob = Buffer.from("x");
  const blobId = Buffer.from(hashBytes(blob), "hex");
  // Unsorted entries: each name is fine, the order is not canonical.
  const { reader, id } = await storeHostile([["b", 0, 0o644, 1, blobId, null], ["a", 0, 0o644, 1, blobId, null]], [blob]);
  await assert.rejects(reader.readTree(id), CorruptObjectError);
  const bad = await storeHostile([["a", 0, 0o4755, 1, blobId, null]], [blob]);
  await assert.rejects(bad.reader.readTree(bad.id), CorruptObjectError);
  await assert.rejects(reader.readTree(hashBytes(blob)), CorruptObjectError);
});

test("the canonical writer agrees with a standard msgpack reader at every length boundary", async () => {
  const { encodeValue } = await import("../../src/objects/msgpack.js");
  const { Unpackr } = await import("msgpackr");
  const reader = new Unpackr({ useRecords: false, int64AsType: "number" });
  const values: MsgValue[] = [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 1.5, -0.25, true, false, null];
  for (const n of [0, 15, 16, 31, 32, 255, 256, 65535, 65536]) values.push("x".repeat(n), Buffer.alloc(n, 1));
  for (const n of [15, 16, 65536]) values.push(new Array<number>(n).fill(0));
  for (const v of values) {
    const back = reader.unpack(encodeValue(v));
    assert.deepEqual(back instanceof Uint8Array ? Buffer.from(back) : back, v, `value ${String(v).slice(0, 20)}`);
  }
});

test("a tree with a length or number in a longer form than the writer's is not canonical, and is refused", () => {
  const blobId = hashBytes(Buffer.from("x"));
  const entries = Array.from({ length: 3 }, (_, i) => ({ name: `f${i}`, kind: "file" as const, mode: 0o644, size: 200 + i, id: blobId }));
  const good = encodeTree({ entries });
  assert.deepEqual(decodeTree(good).entries, entries);
  const at = (bytes: Buffer, hex: string) => {
    const k = bytes.indexOf(Buffer.from(hex, "hex"));
    assert.ok(k >= 0, hex);
    return k;
  };
  const forge = (hex: string, longer: string) => {
    const k = at(good, hex);
    return Buffer.concat([good.subarray(0, k), Buffer.from(longer, "hex"), good.subarray(k + hex.length / 2)]);
  };
  const forgeries = {
    // The entry count (3) as array 16, the first name as str 8, its size (200, uint 8) as uint 16,
    // its mode (0o644, uint 16) as uint 32, the version as uint 8.
    count: forge("93a9" + Buffer.from("gage-tree").toString("hex") + "0193", "93a9" + Buffer.from("gage-tree").toString("hex") + "01dc0003"),
    name: forge("96a26630", "96d9026630"),
    size: forge("cd01a4" + "cc" + (200).toString(16), "cd01a4" + "cd00" + (200).toString(16)),
    mode: forge("a26630" + "00cd01a4", "a26630" + "00ce000001a4"),
    version: forge(Buffer.from("gage-tree").toString("hex") + "01", Buffer.from("gage-tree").toString("hex") + "cc01"),
    trailing: Buffer.concat([good, Buffer.from([0xc0])]),
  };
  for (const [what, bytes] of Object.entries(forgeries)) {
    assert.notDeepEqual(bytes, good);
    assert.throws(() => decodeTree(bytes), { code: "FORMAT" }, what);
  }
});
