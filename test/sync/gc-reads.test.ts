import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, test } from "node:test";
import { encodeTree, hashBytes, PackWriter, type Tree } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { planGc } from "../../src/sync/gc.js";
import { encodeHead, type HeadEntry } from "../../src/sync/heads.js";
import { tempDir } from "../helpers/fixtures.js";

const tmp = tempDir("gage-sync-gc-reads-");
after(() => tmp.cleanup());

const RUNS = 12_000;
const PACKS = 6;

const file = (name: string, data: Buffer) => ({ name, kind: "file" as const, mode: 0o444, size: data.length, id: hashBytes(data) });

/**
 * A store of RUNS small runs spread round-robin over PACKS packs (run tree → results/ tree, and a
 * meta tree), listed by one head in random id order, so that no pack's runs come together.
 */
async function manyRunStore(storage: Storage): Promise<void> {
  const writers = Array.from({ length: PACKS }, () => new PackWriter(storage));
  const entries: HeadEntry[] = [];
  for (let i = 0; i < RUNS; i++) {
    const w = writers[i % PACKS]!;
    const add = async (data: Buffer) => {
      await w.add(hashBytes(data), data);
      return data;
    };
    const tree = async (t: Tree) => hashBytes(await add(encodeTree(t)));
    const script = await add(randomBytes(64));
    const metrics = await add(randomBytes(64));
    const id = await add(Buffer.from(`run ${i}`));
    const results = await tree({ entries: [file("metrics.csv", metrics)] });
    const run = await tree({ entries: [{ name: "results", kind: "dir", mode: 0o755, size: 0, id: results }, file("train.py", script)] });
    const meta = await tree({ entries: [file("id", id)] });
    entries.push({ runId: randomUUID(), run: { tree: run, prior: [] }, meta: { tree: meta, prior: [] }, user: {}, summary: { operation: "train", status: "completed" } });
  }
  for (const w of writers) await w.flush();
  const head = encodeHead(entries, Date.now() - 3_600_000);
  await storage.put(head.key, head.bytes);
}

/** `storage` with its reads of each key counted (whole or ranged). */
function counting(storage: Storage): { storage: Storage; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const proxy = new Proxy(storage, {
    get(target, prop) {
      if (prop === "getBytes") {
        return (key: string, range?: { start: number; end?: number }) => {
          reads.set(key, (reads.get(key) ?? 0) + 1);
          return target.getBytes(key, range);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { storage: proxy, reads };
}

test("gc reads each pack once per level of trees, not once per round of objects", async () => {
  const remote = join(tmp.path, "remote");
  const storage = await openStorage(remote);
  try {
    await manyRunStore(storage);
    const { storage: counted, reads } = counting(storage);
    const plan = await planGc({ runsDir: join(tmp.path, "runs"), remote: counted, graceMs: 0 });
    await plan.close();
    assert.equal(plan.result.objects.unreachable, 0);
    assert.ok(plan.result.objects.kept >= RUNS * 6, `every object is reachable (${plan.result.objects.kept})`);
    const packReads = [...reads].filter(([key]) => key.endsWith(".pack"));
    assert.equal(packReads.length, PACKS, "every pack is read");
    // Two levels of trees (run and meta trees, then results/): each pack's trees of one level
    // come in one read, however many runs the pack holds (2,000 here; in id order, 9 reads).
    for (const [key, n] of packReads) assert.ok(n <= 2, `${key} read ${n} times`);
  } finally {
    await storage.close();
  }
});
