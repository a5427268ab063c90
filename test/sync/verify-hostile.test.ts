import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, test } from "node:test";
import { encodeTree, hashBytes, PackWriter, type TreeEntry } from "../../src/objects/index.js";
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
