import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { UsageError } from "../../src/errors.js";
import { packKey } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { listRuns } from "../../src/runs/run.js";
import { RunNotFoundError } from "../../src/runs/errors.js";
import { gc, push } from "../../src/sync/index.js";
import { parseSubset, verify, type VerifyProblem, type VerifyResult } from "../../src/sync/verify.js";
import { freshCases, SHARED_RUN } from "./story.js";
import { damageObject, fingerprint, flipByte, indexKeyOf, keysUnder, locate, manifestOf, packIds, runsHolding, truncateKey } from "./verify-damage.js";

const fresh = freshCases("gage-sync-verify-");
const BIG_RUN = "ffcb9078-ed64-41f7-8fc4-9d3328700bf7";

/** A runs directory pushed to a folder remote; `split` pushes the shared run alone first (two packs). */
async function pushedStore(split = false): Promise<{ origin: string; remote: string; storage: Storage; runIds: string[] }> {
  const { origin, remote } = fresh();
  const storage = await openStorage(remote);
  if (split) await push({ runsDir: origin, remote: storage, runs: [SHARED_RUN.slice(0, 8)] });
  await push({ runsDir: origin, remote: storage });
  const runIds = (await listRuns(origin)).map((r) => r.id).sort();
  return { origin, remote, storage, runIds };
}

const only = (r: VerifyResult, kind: VerifyProblem["kind"]) => r.problems.filter((p) => p.kind === kind);

test("a sound store verifies clean, in structure and with every object read, and nothing changes", async () => {
  const { origin, storage, runIds } = await pushedStore();
  const before = await fingerprint(storage);
  const stateBefore = readdirSync(join(origin, ".gage-sync")).sort();
  const events: string[] = [];
  const structure = await verify({ runsDir: origin, remote: storage, onProgress: (e) => events.push(e.phase) });
  assert.equal(structure.status, "ok");
  assert.deepEqual(structure.problems, []);
  assert.equal(structure.mode, "structure");
  assert.equal(structure.counts.runs, runIds.length);
  assert.equal(structure.counts.heads, 1);
  assert.ok(structure.counts.objects > 100, `${structure.counts.objects} objects reached`);
  assert.ok(events.includes("structure") && events.includes("index"));

  const data = await verify({ runsDir: origin, remote: storage, readData: true });
  assert.equal(data.status, "ok");
  assert.equal(data.mode, "read-data");
  assert.equal(data.counts.readObjects, data.counts.objects, "every reachable object is read");
  assert.ok(data.counts.readBytes > 200_000);

  assert.deepEqual(await fingerprint(storage), before, "the remote is unchanged");
  assert.deepEqual(readdirSync(join(origin, ".gage-sync")).sort(), stateBefore, "no local state is written");
  await storage.close();
});

test("a flipped byte in a file is found by --read-data, naming exactly the runs that hold the file", async () => {
  const { origin, storage, runIds } = await pushedStore();
  const digest = manifestOf(origin, SHARED_RUN).get("hello.py")!;
  const packId = await damageObject(storage, digest);

  const structure = await verify({ runsDir: origin, remote: storage });
  assert.equal(structure.status, "ok", "structure reads trees and chunk lists, not file bytes");

  const data = await verify({ runsDir: origin, remote: storage, readData: true });
  assert.equal(data.status, "damaged");
  const [p] = data.problems;
  assert.equal(data.problems.length, 1);
  assert.equal(p!.kind, "object-damaged");
  assert.equal(p!.where, packKey(packId));
  assert.deepEqual(p!.objects, [digest]);
  const holders = runsHolding(origin, runIds, digest);
  assert.ok(holders.includes(SHARED_RUN));
  assert.deepEqual(p!.runs, holders);
  assert.match(p!.hint, /backup/);

  // A part of the packs that leaves this one out does not see it; the part that holds it does.
  const mine = await verify({ runsDir: origin, remote: storage, readDataSubset: "100%" });
  assert.equal(mine.status, "damaged");
  assert.deepEqual(mine.subset, { part: "100%", packs: 1, of: 1 });
  const none = parseSubset("1/2").has(packId) ? "2/2" : "1/2";
  const other = await verify({ runsDir: origin, remote: storage, readDataSubset: none });
  assert.equal(other.status, "ok");
  assert.deepEqual(other.subset, { part: none, packs: 0, of: 1 });
  await storage.close();
});

test("subsets n/m split the packs into m disjoint parts that cover them all", async () => {
  const { origin, storage } = await pushedStore(true);
  const packs = await packIds(storage);
  assert.ok(packs.length >= 2, `${packs.length} packs`);
  let read = 0;
  let objects = 0;
  for (const part of ["1/3", "2/3", "3/3"]) {
    const r = await verify({ runsDir: origin, remote: storage, readDataSubset: part });
    assert.equal(r.status, "ok");
    assert.equal(r.subset?.of, packs.length);
    read += r.subset!.packs;
    objects += r.counts.readObjects;
    assert.equal(r.counts.readObjects <= r.counts.objects, true);
  }
  const whole = await verify({ runsDir: origin, remote: storage, readData: true });
  assert.equal(read, packs.length, "each pack is in exactly one part");
  assert.equal(objects, whole.counts.readObjects);
  for (const bad of ["0/3", "4/3", "3", "0%", "101%", "a/b", ""]) assert.throws(() => parseSubset(bad), UsageError, bad);
  await storage.close();
});

test("a truncated pack: its entries lie outside it (damaged, exit 6), naming the runs", async () => {
  const { origin, storage } = await pushedStore();
  const [packId] = await packIds(storage);
  await truncateKey(storage, packKey(packId!), 1000);
  const r = await verify({ runsDir: origin, remote: storage });
  assert.equal(r.status, "damaged");
  const [p] = only(r, "entry-outside-pack");
  assert.equal(p!.severity, "damaged");
  assert.equal(p!.where, packKey(packId!));
  assert.match(p!.message, /truncated/);
  assert.ok(p!.runs.length > 0 && p!.runs.includes(BIG_RUN));
  await storage.close();
});

test("a deleted pack is missing data (exit 3) for every run that needs it; a dropped index too", async () => {
  const { origin, storage, runIds } = await pushedStore(true);
  const { packId: lost } = await locate(storage, manifestOf(origin, SHARED_RUN).get("hello.py")!);
  await storage.delete(packKey(lost));
  const r = await verify({ runsDir: origin, remote: storage });
  assert.equal(r.status, "missing");
  const [p] = only(r, "index-without-pack");
  assert.equal(p!.severity, "missing");
  assert.equal(p!.where, packKey(lost));
  assert.match(p!.message, /is missing: its index lists \d+ objects, \d+ of them reached by runs/);
  assert.ok(p!.runs.includes(SHARED_RUN));
  assert.ok(p!.runs.every((id) => runIds.includes(id)));

  const { origin: o2, storage: s2 } = await pushedStore();
  const [packId] = await packIds(s2);
  await s2.delete(await indexKeyOf(s2, packId!));
  const r2 = await verify({ runsDir: o2, remote: s2 });
  assert.equal(r2.status, "missing");
  const notice = only(r2, "pack-without-index");
  assert.deepEqual(notice.map((n) => [n.severity, n.where]), [["notice", packKey(packId!)]]);
  const [gone] = only(r2, "object-missing");
  assert.equal(gone!.severity, "missing");
  assert.deepEqual(gone!.runs, (await listRuns(o2)).map((x) => x.id).sort(), "every run's trees were in that pack");
  await storage.close();
  await s2.close();
});

test("a damaged pack index is damaged data, and the objects it listed are missing for the runs", async () => {
  const { origin, storage, runIds } = await pushedStore();
  const [packId] = await packIds(storage);
  const indexKey = await indexKeyOf(storage, packId!);
  await flipByte(storage, indexKey, 100);
  const r = await verify({ runsDir: origin, remote: storage, readData: true });
  assert.equal(r.status, "damaged");
  assert.deepEqual(r.problems.map((p) => [p.severity, p.kind, p.where]), [
    ["damaged", "index-damaged", indexKey],
    ["missing", "object-missing", "packs/"],
  ]);
  assert.match(r.problems[0]!.message, /is damaged \(checksum mismatch\): the objects it lists cannot be found$/);
  assert.deepEqual(r.problems[1]!.runs, runIds);
  await storage.close();
});

test("a damaged head is reported (the runs it held are unknown); a damaged catalog too", async () => {
  const { origin, storage } = await pushedStore();
  const [head] = await keysUnder(storage, "heads/");
  await storage.put(head!.key, Buffer.concat([await storage.getBytes(head!.key), Buffer.from("x")]));
  const r = await verify({ runsDir: origin, remote: storage });
  assert.equal(r.status, "damaged");
  assert.deepEqual(r.problems.map((p) => [p.kind, p.where]), [["head-damaged", head!.key]]);
  assert.match(r.problems[0]!.message, /hash/);
  await storage.close();

  const c = await pushedStore();
  await gc({ runsDir: c.origin, remote: c.storage, graceMs: 0 });
  const [catalog] = await keysUnder(c.storage, "catalog/");
  assert.ok(catalog, "gc wrote a catalog");
  assert.equal((await verify({ runsDir: c.origin, remote: c.storage })).status, "ok");
  await truncateKey(c.storage, catalog!.key, 10);
  const rc = await verify({ runsDir: c.origin, remote: c.storage });
  assert.equal(rc.status, "damaged");
  assert.deepEqual(rc.problems.map((p) => p.kind), ["catalog-damaged"]);
  await c.storage.close();
});

test("runs named by spec are the only ones checked; an unknown spec is an error", async () => {
  const { origin, storage } = await pushedStore();
  const one = await verify({ runsDir: origin, remote: storage, runs: [SHARED_RUN.slice(0, 8)], readData: true });
  const all = await verify({ runsDir: origin, remote: storage, readData: true });
  assert.equal(one.counts.runs, 1);
  assert.ok(one.counts.objects < all.counts.objects);
  await assert.rejects(verify({ runsDir: origin, remote: storage, runs: ["ffffffff"] }), RunNotFoundError);
  await assert.rejects(verify({ runsDir: origin, remote: storage, local: true }), UsageError);
  await assert.rejects(verify({ runsDir: origin, remote: storage, readDataSubset: "7/3" }), UsageError);
  assert.ok(!existsSync(join(origin, "ffffffff")));
  await storage.close();
});
