import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  badEntryName,
  compareNames,
  decodeChunkList,
  decodeName,
  decodeSnapshot,
  decodeTree,
  encodeChunkList,
  encodeSnapshot,
  encodeTree,
  hashBytes,
  MemoryObjectStorage,
  normalizeMode,
  ObjectReader,
  PackIndex,
  PackWriter,
  type TreeEntry,
} from "../../src/objects/index.js";
import { decodePackIndex } from "../../src/objects/pack.js";
import { anyBytes, mutated, refusesOrDecodes, refusesOrDecodesAsync, RUNS, SEED } from "./fuzz-helpers.js";

// Every decoder of objects read from a remote, fed arbitrary, structured and damaged bytes: each
// ends in a value or a typed error (FORMAT, UNSAFE_PATH, CORRUPT_OBJECT), never a crash.

const OBJECT_CODES = ["FORMAT", "UNSAFE_PATH"];
const READ_CODES = ["FORMAT", "UNSAFE_PATH", "CORRUPT_OBJECT", "OBJECT_NOT_FOUND"];
const id = (s: string) => hashBytes(Buffer.from(s));

const ENTRIES: TreeEntry[] = [
  { name: "a.txt", kind: "file", mode: 0o644, size: 5, id: id("a") },
  { name: "big.bin", kind: "file", mode: 0o444, size: 300, id: id("big"), chunks: id("list") },
  { name: "link", kind: "symlink", mode: 0o777, size: 6, id: id("target") },
  { name: "sub", kind: "dir", mode: 0o755, size: 0, id: id("tree") },
];
const VALID_TREE = encodeTree({ entries: ENTRIES });
const VALID_LIST = encodeChunkList({ size: 300, chunks: [{ id: id("c1"), size: 200 }, { id: id("c2"), size: 100 }] });
const VALID_SNAPSHOT = encodeSnapshot({
  runId: "882cb503-0000-4000-8000-000000000000",
  files: id("files"),
  meta: id("meta"),
  user: [{ name: "01a216cc-e43c-4fff-bfff-ffffffffffff.json", id: id("u"), size: 40 }],
  parents: [id("p")],
  summary: { operation: "proj:hello", status: "completed", started: 1700000000000000 },
});

const DECODERS = { tree: decodeTree, "chunk list": decodeChunkList, snapshot: decodeSnapshot };
const packr = new Packr({ useRecords: false, variableMapSize: true });

test("trees, chunk lists and snapshots: arbitrary bytes are refused with a typed error", () => {
  for (const decode of Object.values(DECODERS)) {
    fc.assert(fc.property(anyBytes, (bytes) => void refusesOrDecodes(() => decode(bytes), OBJECT_CODES)), { seed: SEED, numRuns: RUNS });
  }
});

test("trees, chunk lists and snapshots: any msgpack value, and near-valid shapes, end typed", () => {
  const field = fc.oneof(fc.anything(), fc.uint8Array({ minLength: 31, maxLength: 33 }), fc.integer(), fc.double(), fc.string());
  const shapes = {
    tree: fc.tuple(fc.constant("gage-tree"), fc.constantFrom(1, 2), fc.array(fc.array(field, { maxLength: 7 }), { maxLength: 6 })),
    "chunk list": fc.tuple(fc.constant("gage-chunks"), fc.constant(1), field, fc.array(fc.tuple(field, field), { maxLength: 6 })),
    snapshot: fc.tuple(fc.constant("gage-snapshot"), fc.constant(1), field, field, field, fc.array(fc.array(field, { maxLength: 4 }), { maxLength: 3 }), fc.array(field, { maxLength: 3 }), fc.array(fc.array(field, { maxLength: 3 }), { maxLength: 3 })),
  };
  for (const [what, decode] of Object.entries(DECODERS)) {
    const value = fc.oneof(fc.anything(), shapes[what as keyof typeof shapes]);
    fc.assert(fc.property(value, (v) => void refusesOrDecodes(() => decode(packr.pack(v)), OBJECT_CODES)), { seed: SEED, numRuns: RUNS });
  }
});

test("trees, chunk lists and snapshots: damaged valid encodings end typed, and what decodes is valid", () => {
  for (const [valid, decode, encode] of [
    [VALID_TREE, decodeTree, encodeTree],
    [VALID_LIST, decodeChunkList, encodeChunkList],
    [VALID_SNAPSHOT, decodeSnapshot, encodeSnapshot],
  ] as const) {
    let decoded = 0;
    fc.assert(
      fc.property(mutated(valid), (bytes) => {
        const out = refusesOrDecodes(() => decode(bytes), OBJECT_CODES);
        // Only the canonical form decodes: what was accepted encodes back to the same bytes.
        if (out !== undefined) decoded++, assert.ok((encode as (v: typeof out) => Buffer)(out).equals(bytes));
      }),
      { seed: SEED, numRuns: RUNS },
    );
    assert.ok(decoded > 0 && decoded < RUNS, `some damaged encodings still decode, most are refused (${decoded} of ${RUNS})`);
  }
});

test("a chunk list can hold no more chunks than its size allows", () => {
  const chunks = Array.from({ length: 1000 }, () => ({ id: id("one"), size: 1 }));
  assert.throws(() => decodeChunkList(encodeChunkList({ size: 1000, chunks })), { code: "FORMAT" });
});

/** A small store: a pack of a few objects (some deflated) and its index. */
async function smallPack() {
  const storage = new MemoryObjectStorage();
  const writer = new PackWriter(storage);
  const objects = [Buffer.from("x".repeat(4000)), Buffer.from("hello"), VALID_TREE, Buffer.from("y".repeat(300) + "z".repeat(300))];
  for (const data of objects) await writer.add(hashBytes(data), data);
  const [pack] = await writer.flush();
  return { packId: pack!.packId, packBytes: storage.objects.get(pack!.packKey)!, indexBytes: storage.objects.get(pack!.indexKey)!, ids: objects.map(hashBytes) };
}

/** The index with its checksum made right again, as a forger would. */
function resealed(index: Buffer): Buffer {
  if (index.length < 32) return index;
  const out = Buffer.from(index);
  createHash("sha256").update(out.subarray(0, out.length - 32)).digest().copy(out, out.length - 32);
  return out;
}

test("pack indexes: damaged ones (their checksums made right) are refused or read as bounded entries", async () => {
  const { packId, indexBytes } = await smallPack();
  fc.assert(
    fc.property(fc.oneof(mutated(indexBytes), mutated(indexBytes).map(resealed), anyBytes.map(resealed)), (bytes) => {
      const entries = refusesOrDecodes(() => decodePackIndex(packId, bytes), ["FORMAT"]);
      for (const e of entries ?? []) assert.ok(Number.isSafeInteger(e.offset) && e.storedLength >= 0 && e.rawLength >= 0);
      refusesOrDecodes(() => new PackIndex().addIndex(packId, bytes), ["FORMAT"]);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test("reading objects through damaged packs and forged indexes ends in the object or a typed error", async () => {
  const { packId, packBytes, indexBytes, ids } = await smallPack();
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.constant(packBytes), mutated(packBytes)), mutated(indexBytes).map(resealed), async (pack, index) => {
      const storage = new MemoryObjectStorage();
      storage.objects.set(`packs/${packId}.pack`, pack);
      storage.objects.set(`packs/${packId}.idx`, index);
      const reader = await refusesOrDecodesAsync(() => ObjectReader.open(storage), ["FORMAT"]);
      if (reader === undefined) return;
      for (const want of ids) {
        const data: Buffer | undefined = await refusesOrDecodesAsync((): Promise<Buffer> => reader.read(want), READ_CODES);
        if (data !== undefined) assert.equal(hashBytes(data), want, "only verified bytes are returned");
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test("reading a chunked file whose tree entry and chunk list are damaged ends in its bytes or a typed error", async () => {
  const chunks = [Buffer.from("a".repeat(200)), Buffer.from("b".repeat(100))];
  const whole = Buffer.concat(chunks);
  const list = encodeChunkList({ size: 300, chunks: chunks.map((c) => ({ id: hashBytes(c), size: c.length })) });
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.constant(list), mutated(list)), fc.oneof(fc.constant(300), fc.nat(), fc.constant(1e15)), async (listBytes, size) => {
      const storage = new MemoryObjectStorage();
      const writer = new PackWriter(storage);
      for (const data of [...chunks, listBytes]) await writer.add(hashBytes(data), data);
      await writer.flush();
      const reader = await ObjectReader.open(storage);
      const read = async () => {
        const parts: Buffer[] = [];
        for await (const part of reader.readFile({ id: hashBytes(whole), size, chunks: hashBytes(listBytes) })) parts.push(part);
        return Buffer.concat(parts);
      };
      const data = await refusesOrDecodesAsync(read, READ_CODES);
      if (data !== undefined) assert.ok(data.equals(whole));
    }),
    { seed: SEED, numRuns: 60 },
  );
});

test("trees: any valid tree decodes to itself, and its damaged bytes decode only to what encodes back to them", () => {
  const sizes = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
  const name = fc.oneof(
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => decodeName(Buffer.from(b))),
    fc.nat(300).map((n) => "n".repeat(n)),
  );
  const entry = fc.record({
    name,
    kind: fc.constantFrom("file", "dir", "symlink") as fc.Arbitrary<TreeEntry["kind"]>,
    ro: fc.boolean(),
    exec: fc.boolean(),
    size: fc.constantFrom(...sizes),
    chunks: fc.boolean(),
    id: fc.string(),
  });
  const tree = fc.array(entry, { maxLength: 40 }).map((raw) => {
    const byName = new Map<string, TreeEntry>();
    for (const r of raw) {
      if (badEntryName(r.name) !== undefined) continue;
      const e: TreeEntry = { name: r.name, kind: r.kind, mode: normalizeMode(r.kind, (r.ro ? 0o444 : 0o644) | (r.exec ? 0o111 : 0)), size: r.kind === "dir" ? 0 : r.size, id: id(r.id) };
      if (r.kind === "file" && r.chunks) e.chunks = id(`${r.id}/list`);
      byName.set(e.name, e);
    }
    return { entries: [...byName.values()].sort((a, b) => compareNames(a.name, b.name)) };
  });
  fc.assert(
    fc.property(tree, (t) => {
      const bytes = encodeTree(t);
      assert.deepEqual(decodeTree(bytes), t);
      fc.assert(
        fc.property(mutated(bytes), (damaged) => {
          const out = refusesOrDecodes(() => decodeTree(damaged), OBJECT_CODES);
          if (out !== undefined) assert.ok(encodeTree(out).equals(damaged));
        }),
        { seed: SEED, numRuns: 20 },
      );
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
