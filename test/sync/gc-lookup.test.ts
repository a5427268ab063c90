import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, test } from "node:test";
import { decodeName, encodeChunkList, encodeTree, hashBytes, loadPackIndex, ObjectReader, PackIndex, PackWriter, type Tree, type TreeEntry } from "../../src/objects/index.js";
import { encodePackIndex, type PackIndexEntry } from "../../src/objects/pack.js";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { IdSet } from "../../src/sync/gc-entries.js";
import { planGc } from "../../src/sync/gc.js";
import { encodeHead, type HeadEntry } from "../../src/sync/heads.js";
import { tempDir } from "../helpers/fixtures.js";

const tmp = tempDir("gage-sync-gc-lookup-");
after(() => tmp.cleanup());

// More packs than a pack index searches one by one (it merges them past 16): marking finds
// objects through the merged lookup, in every pack.
const PACKS = 24;
const DEPTH = 40;

const file = (name: string, data: Buffer): TreeEntry => ({ name, kind: "file", mode: 0o444, size: data.length, id: hashBytes(data) });
const dir = (name: string, id: string): TreeEntry => ({ name, kind: "dir", mode: 0o755, size: 0, id });

/**
 * A store whose objects are spread over PACKS packs, each object in one pack: runs with a chain
 * of DEPTH folders down to one file, a file stored in chunks, a link, and files shared between
 * runs; and in the same packs, objects no run reaches. Returns what is reachable and what is not.
 */
async function spreadStore(storage: Storage): Promise<{ reachable: Set<string>; garbage: Set<string> }> {
  const writers = Array.from({ length: PACKS }, () => new PackWriter(storage, { packSize: 1 << 30 }));
  let turn = 0;
  const reachable = new Set<string>();
  const garbage = new Set<string>();
  const put = async (data: Buffer, into: Set<string>, pack = turn++ % PACKS) => {
    const id = hashBytes(data);
    if (!reachable.has(id) && !garbage.has(id)) await writers[pack]!.add(id, data);
    into.add(id);
    return id;
  };
  const tree = (t: Tree, into = reachable) => put(encodeTree({ entries: [...t.entries].sort((a, b) => (a.name < b.name ? -1 : 1)) }), into);
  const shared = randomBytes(300);
  const entries: HeadEntry[] = [];
  for (let r = 0; r < 30; r++) {
    const deep = randomBytes(100 + r);
    // The deep file alone in the last pack: nothing else leads there.
    await put(deep, reachable, PACKS - 1);
    let below = await tree({ entries: [file("deep.bin", deep)] });
    for (let d = DEPTH; d > 0; d--) below = await tree({ entries: [dir(`d${d}`, below)] });
    const chunks = [randomBytes(200), randomBytes(150), randomBytes(70)];
    const whole = Buffer.concat(chunks);
    for (const c of chunks) await put(c, reachable);
    const list = await put(encodeChunkList({ size: whole.length, chunks: chunks.map((c) => ({ id: hashBytes(c), size: c.length })) }), reachable);
    const target = Buffer.from(`../target-${r}`);
    await put(target, reachable);
    await put(shared, reachable, 3);
    const own = randomBytes(64);
    await put(own, reachable);
    const run = await tree({
      entries: [
        dir("deep", below),
        { ...file("big.bin", whole), chunks: list },
        { name: "link", kind: "symlink", mode: 0o777, size: target.length, id: hashBytes(target) },
        file("shared.txt", shared),
        file("own.txt", own),
      ],
    });
    const idFile = Buffer.from(`id ${r}`);
    await put(idFile, reachable);
    const meta = await tree({ entries: [file("id", idFile)] });
    entries.push({ runId: randomUUID(), run: { tree: run, prior: [] }, meta: { tree: meta, prior: [] }, user: {}, summary: { operation: "train", status: "completed" } });
    // Unreachable, in the same packs as reachable ones: a file, and a tree naming reachable objects.
    await put(randomBytes(90), garbage);
    await tree({ entries: [file("own.txt", own), dir("deep", below)] }, garbage);
  }
  for (const w of writers) await w.flush();
  const head = encodeHead(entries, Date.now() - 3_600_000);
  await storage.put(head.key, head.bytes);
  return { reachable, garbage };
}

test("gc keeps each object a run reaches through a deep chain, chunks or a link, in any of many packs, and counts each one none reaches", async () => {
  const storage = await openStorage(join(tmp.path, "remote"));
  try {
    const { reachable, garbage } = await spreadStore(storage);
    const dry = await planGc({ runsDir: join(tmp.path, "runs"), remote: storage, graceMs: 0, repackThreshold: 2 });
    await dry.close();
    assert.equal(dry.result.objects.kept, reachable.size);
    assert.equal(dry.result.objects.unreachable, garbage.size);

    const plan = await planGc({ runsDir: join(tmp.path, "runs"), remote: storage, graceMs: 0, repackThreshold: 2 });
    const done = await plan.execute();
    assert.equal(done.objects.kept, reachable.size);
    assert.ok(done.packs.trimmed > 0, "packs holding unreachable objects get a smaller index");
    assert.equal(done.packs.removed, 0, "every pack still holds something a run reaches");
    const index = await loadPackIndex(storage);
    const reader = new ObjectReader(storage, index);
    const read = new Set<string>();
    for await (const { id } of reader.readMany(reachable)) read.add(id);
    assert.equal(read.size, reachable.size, "every reachable object is still listed and reads back whole");
    for (const id of garbage) assert.equal(index.has(id), false, `${id} no run reaches is no longer listed`);
  } finally {
    await storage.close();
  }
});

test("gc follows a tree it must decode the slow way (a name that is not UTF-8), and refuses a tree with an unsafe name", async () => {
  const storage = await openStorage(join(tmp.path, "remote-names"));
  try {
    const writer = new PackWriter(storage);
    const put = async (data: Buffer) => {
      await writer.add(hashBytes(data), data);
      return hashBytes(data);
    };
    const hidden = randomBytes(80);
    await put(hidden);
    const inner = await put(encodeTree({ entries: [file("hidden.bin", hidden)] }));
    // Its bytes hold the name as bin, not str: not what the fast walk reads.
    const raw = await put(encodeTree({ entries: [dir(decodeName(Buffer.from([0x72, 0xff, 0x77])), inner)] }));
    const idFile = Buffer.from("id");
    await put(idFile);
    const meta = await put(encodeTree({ entries: [file("id", idFile)] }));
    // A tree naming `..`: made by hand (encodeTree refuses it), stored under its own hash.
    const safe = encodeTree({ entries: [file("xx", idFile)] });
    const at = safe.indexOf(Buffer.from("xx"));
    const unsafe = Buffer.concat([safe.subarray(0, at), Buffer.from(".."), safe.subarray(at + 2)]);
    const bad = await put(unsafe);
    await writer.flush();
    const head = (run: string) => encodeHead([{ runId: randomUUID(), run: { tree: run, prior: [] }, meta: { tree: meta, prior: [] }, user: {}, summary: { operation: "train", status: "completed" } }], Date.now() - 3_600_000);
    const good = head(raw);
    await storage.put(good.key, good.bytes);
    const plan = await planGc({ runsDir: join(tmp.path, "runs-names"), remote: storage, graceMs: 0 });
    await plan.close();
    assert.equal(plan.result.objects.kept, 5, "both trees, the file below the bin-named folder, the meta tree and its file");
    const hostile = head(bad);
    await storage.put(hostile.key, hostile.bytes);
    await assert.rejects(planGc({ runsDir: join(tmp.path, "runs-names"), remote: storage, graceMs: 0 }), (err: Error) => err.name === "UnsafePathError");
  } finally {
    await storage.close();
  }
});

const entry = (id: string, offset: number): PackIndexEntry => ({ id, offset, storedLength: 10, rawLength: 10, codec: 0 });

test("a pack index finds every id in the pack that lists it, before and after its tables are merged, and no id it lacks", () => {
  const index = new PackIndex();
  const where = new Map<string, { pack: string; offset: number }>();
  // Ids sharing their first 4 bytes (the prefix searched on) and the last bytes differing.
  const prefix = randomBytes(4).toString("hex");
  for (let k = 0; k < 40; k++) {
    const pack = hashBytes(Buffer.from(`pack ${k}`));
    const entries: PackIndexEntry[] = [];
    for (let i = 0; i < 50; i++) {
      const id = i % 5 === 0 ? prefix + randomBytes(28).toString("hex") : randomBytes(32).toString("hex");
      entries.push(entry(id, 8 + i * 100));
      where.set(id, { pack, offset: 8 + i * 100 });
    }
    index.addIndex(pack, encodePackIndex(pack, entries));
  }
  const absent = [prefix + randomBytes(28).toString("hex"), randomBytes(32).toString("hex")];
  // Enough lookups to merge the 40 tables (twice as many table searches as ids), checked each time.
  for (let round = 0; round < 3; round++) {
    for (const [id, w] of where) {
      const loc = index.get(id);
      assert.equal(loc?.packId, w.pack, id);
      assert.equal(loc.offset, w.offset);
      const bytes = Buffer.concat([randomBytes(3), Buffer.from(id, "hex")]);
      assert.equal(index.getAt(bytes, 3)?.offset, w.offset);
    }
    for (const id of absent) assert.equal(index.has(id), false);
  }
  assert.equal(index.has("not an id"), false);
  // A worker's copy (exportTables) answers the same.
  const copy = PackIndex.fromTables(index.exportTables());
  for (const id of where.keys()) assert.ok(copy.has(id));
  for (const id of absent) assert.equal(copy.has(id), false);
});

test("an id set holds ids given as hex or as bytes, however many share a prefix", () => {
  const set = new IdSet();
  const other = new IdSet();
  const ids: string[] = [];
  for (let i = 0; i < 5000; i++) ids.push((i % 2 === 0 ? "00000000" : "") + randomBytes(i % 2 === 0 ? 28 : 32).toString("hex"));
  ids.forEach((id, i) => {
    if (i % 3 === 0) set.add(id);
    else assert.equal(set.addAt(Buffer.from(id, "hex"), 0), true);
    if (i % 2 === 0) other.add(id);
  });
  assert.equal(set.size, ids.length);
  assert.equal(set.addAt(Buffer.from(ids[7]!, "hex"), 0), false, "added once");
  for (const id of ids) assert.ok(set.has(id) && set.hasAt(Buffer.from(id, "hex"), 0), id);
  assert.equal(set.has(randomBytes(32).toString("hex")), false);
  assert.equal(set.countNotIn(other), ids.length / 2);
});
