import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, test } from "node:test";
import { randomBytes } from "node:crypto";
import { encodeChunkList, encodeTree, hashBytes, PackWriter, type TreeEntry } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { encodeHead } from "../../src/sync/heads.js";
import { EMPTY_TREE } from "../../src/sync/merge.js";
import { verify } from "../../src/sync/verify.js";
import { tempDir } from "../helpers/fixtures.js";

// Stores written by hand, as a hostile writer with access to a shared folder could: verify must
// finish in bounded work and report what is wrong, not trust what trees declare.

const tmp = tempDir("gage-verify-hostile-");
after(() => tmp.cleanup());
let n = 0;

async function storeWith(objects: Buffer[], root: Buffer): Promise<{ storage: Storage; runId: string; runsDir: string }> {
  const storage = await openStorage(join(tmp.path, `store-${++n}`));
  const writer = new PackWriter(storage, { compress: false });
  for (const data of [...objects, root]) await writer.add(hashBytes(data), data);
  await writer.flush();
  const runId = randomUUID();
  const entry = { runId, run: { tree: hashBytes(root), prior: [] }, meta: { tree: EMPTY_TREE, prior: [] }, user: {}, summary: { operation: "x:y", status: "completed" } };
  const head = encodeHead([entry], Date.now());
  await storage.put(head.key, head.bytes);
  return { storage, runId, runsDir: join(tmp.path, "no-runs") };
}

const file = (name: string, data: Buffer, size = data.length): TreeEntry => ({ name, kind: "file", mode: 0o644, size, id: hashBytes(data) });
const dir = (name: string, tree: Buffer): TreeEntry => ({ name, kind: "dir", mode: 0o755, size: 0, id: hashBytes(tree) });

test("32 entries pointing at one subtree, six levels deep (a billion paths), verify in a few reads", async () => {
  const leaf = Buffer.from("x");
  const objects: Buffer[] = [leaf];
  let tree = encodeTree({ entries: [file("f", leaf)] });
  for (let level = 0; level < 6; level++) {
    objects.push(tree);
    const sub = tree;
    tree = encodeTree({ entries: Array.from({ length: 32 }, (_, i) => dir(`d${String(i).padStart(2, "0")}`, sub)) });
  }
  const { storage, runsDir } = await storeWith(objects, tree);
  const r = await verify({ runsDir, remote: storage, readData: true });
  assert.equal(r.status, "ok");
  assert.equal(r.counts.objects, 8, "each tree is read once, however many paths lead to it");
  await storage.close();
});

test("a tree declaring 10^15 bytes for a 1-byte file is damaged, naming the run", async () => {
  const leaf = Buffer.from("y");
  const root = encodeTree({ entries: [file("big.bin", leaf, 10 ** 15)] });
  const { storage, runId, runsDir } = await storeWith([leaf], root);
  const r = await verify({ runsDir, remote: storage });
  assert.equal(r.status, "damaged");
  assert.deepEqual(r.problems.map((p) => [p.kind, p.runs, p.objects]), [["size-mismatch", [runId], [hashBytes(leaf)]]]);
  assert.match(r.problems[0]!.message, /: 1 object is not the size the trees say \(the first: 1 byte, its tree says 1000000000000000\)$/);
  await storage.close();
});

test("a tree naming an object no pack holds is missing data, and its siblings are still checked", async () => {
  const here = Buffer.from("here");
  const gone = Buffer.from("never stored");
  const sub = encodeTree({ entries: [file("lost.txt", gone)] });
  const root = encodeTree({ entries: [file("a.txt", here), dir("sub", sub)] });
  const { storage, runId, runsDir } = await storeWith([here, sub], root);
  const r = await verify({ runsDir, remote: storage, readData: true });
  assert.equal(r.status, "missing");
  assert.deepEqual(r.problems.map((p) => [p.kind, p.runs, p.objects]), [["object-missing", [runId], [hashBytes(gone)]]]);
  assert.equal(r.counts.objects, 4);
  assert.equal(r.counts.readObjects, 3, "what is there is read");
  await storage.close();
});

test("--read-data checks a chunked file whole: chunks each sound, in an order that is not the file the tree records, is damaged", async () => {
  const [one, two] = [randomBytes(40_000), randomBytes(30_000)];
  const chunks = (...parts: Buffer[]) => encodeChunkList({ size: 70_000, chunks: parts.map((c) => ({ id: hashBytes(c), size: c.length })) });
  const chunked = (name: string, list: Buffer, whole: Buffer): TreeEntry => ({ name, kind: "file", mode: 0o644, size: whole.length, id: hashBytes(whole), chunks: hashBytes(list) });
  const sound = chunks(one, two);
  const swapped = chunks(two, one);
  // Both lists are well formed and name sound chunks of the right sizes; the second's bytes in
  // order (two, one) are not the file its tree records (one, two).
  const root = encodeTree({ entries: [chunked("a.bin", sound, Buffer.concat([one, two])), chunked("b.bin", swapped, Buffer.concat([one, two]))] });
  const { storage, runId, runsDir } = await storeWith([one, two, sound, swapped], root);
  assert.equal((await verify({ runsDir, remote: storage })).status, "ok", "the structure alone cannot tell");
  for (const part of [undefined, "1/1"]) {
    const r = await verify({ runsDir, remote: storage, readData: true, ...(part === undefined ? {} : { readDataSubset: part }) });
    assert.equal(r.status, "damaged", part ?? "every pack");
    assert.deepEqual(r.problems.map((p) => [p.kind, p.runs, p.objects]), [["object-damaged", [runId], [hashBytes(swapped)]]]);
    assert.match(r.problems[0]!.message, /1 object is damaged \(the first: the file its chunks make hashes to [0-9a-f]{64}, its tree records [0-9a-f]{64}\)/);
  }
  await storage.close();
});
