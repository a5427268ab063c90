import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ObjectReader, PackWriter, snapshotDir } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { runPaths } from "../../src/runs/layout.js";
import { StoreIncompleteError } from "../../src/sync/errors.js";
import { DEFAULT_GRACE_MS, gc, GARBAGE_PREFIX, planGc } from "../../src/sync/gc.js";
import { encodeHead, timeKeyPart } from "../../src/sync/heads.js";
import { EMPTY_TREE } from "../../src/sync/merge.js";
import { clone, listRemoteRuns, pull, push, type RemoteRun } from "../../src/sync/index.js";
import { freshCases, SHARED_RUN } from "./story.js";

const fresh = freshCases("gage-sync-gc-");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BIG_RUN = "ffcb9078-ed64-41f7-8fc4-9d3328700bf7";

function writeRunFile(path: string, data: string | Buffer): void {
  chmodSync(join(path, ".."), 0o755);
  if (existsSync(path)) chmodSync(path, 0o644);
  writeFileSync(path, data);
}

/** Every key under the remote folder, relative, sorted. */
function keys(remote: string, prefix = ""): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const dir = join(remote, rel);
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = rel === "" ? name : `${rel}/${name}`;
      if (statSync(join(remote, p)).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk("");
  return out.filter((k) => k.startsWith(prefix));
}

/** Each run file under `dir` (not `.gage-sync`, not `.project`) → SHA-256 of its bytes. */
function contents(dir: string, runs?: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      if (rel === "" && (name === ".gage-sync" || name.endsWith(".project") || name.endsWith(".deleted") || (runs && !runs.some((r) => name.startsWith(r))))) continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      if (statSync(join(dir, p)).isDirectory()) walk(p);
      else out.set(p, createHash("sha256").update(readFileSync(join(dir, p))).digest("hex"));
    }
  };
  walk("");
  return out;
}

/** The keys of a pack's index files on the remote folder (none when it is set aside). */
function indexKeys(remote: string, packId: string): string[] {
  return keys(remote, `packs/${packId}.`).filter((k) => k.endsWith(".idx"));
}

/** A pack of random objects that no head reaches, as a push killed before its head leaves. */
async function orphanPack(storage: Storage, objects = 3): Promise<string> {
  const writer = new PackWriter(storage);
  for (let i = 0; i < objects; i++) {
    const data = randomBytes(2000);
    await writer.add(createHash("sha256").update(data).digest("hex"), data);
  }
  const [pack] = await writer.flush();
  return pack!.packId;
}

/** The remote's runs as `gage ls --remote` sees them. */
async function remoteListing(remote: string, runsDir: string): Promise<string[]> {
  return (await listRemoteRuns({ runsDir, remote })).map((r) => `${r.id} ${r.status} ${r.label ?? ""}`);
}

/** Pushes every run, then a changed file of one (its old version unreachable), heads named hours ago. */
async function storeWithGarbage(origin: string, remote: string): Promise<void> {
  await push({ runsDir: origin, remote, now: () => Date.now() - 3 * HOUR });
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('changed')\n");
  await push({ runsDir: origin, remote, now: () => Date.now() - 2 * HOUR });
}

test("gc with no grace removes orphan packs and superseded heads; every run stays whole for clones and pulls", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: () => Date.now() - 3 * HOUR });
  const before = join(root, "before");
  await clone({ runsDir: before, remote });
  writeRunFile(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('changed')\n");
  await push({ runsDir: origin, remote, now: () => Date.now() - 2 * HOUR });
  const storage = await openStorage(remote);
  const orphan = await orphanPack(storage);
  // A pack whose index was never written (a push killed between the two).
  const noIndex = "0".repeat(63) + "1";
  await storage.put(`packs/${noIndex}.pack`, Buffer.from("GAGEPACK"));
  await storage.close();
  const listed = await remoteListing(remote, join(root, "nowhere"));
  assert.equal(keys(remote, "heads/").length, 2);

  const result = await gc({ runsDir: origin, remote, graceMs: 0 });
  assert.equal(result.packs.removed, 2, "the orphan pack and the pack without index");
  assert.ok(!existsSync(join(remote, "packs", `${orphan}.pack`)) && indexKeys(remote, orphan).length === 0);
  assert.ok(!existsSync(join(remote, "packs", `${noIndex}.pack`)));
  assert.equal(result.packs.trimmed, 1, "the first push's pack no longer lists the old hello.py");
  assert.equal(result.heads.removed, 2);
  assert.deepEqual(keys(remote, "heads/"), [], "the new catalog holds every head");
  assert.equal(keys(remote, "catalog/").length, 1);
  assert.deepEqual(keys(remote, GARBAGE_PREFIX), [], "no grace: nothing waits");
  assert.ok(result.objects.kept > 100);
  assert.ok(result.packs.reclaimableBytes > 0, "the old hello.py's bytes stay in a pack still in use");

  assert.deepEqual(await remoteListing(remote, join(root, "nowhere")), listed, "gage ls --remote is unchanged");
  const after = join(root, "after");
  await clone({ runsDir: after, remote });
  assert.deepEqual(contents(after), contents(origin, [...contents(after).keys()].map((p) => p.split("/")[0]!)), "a new clone gets every run byte for byte");
  const pulled = await pull({ runsDir: before, remote });
  assert.deepEqual(pulled.runs.map((r) => r.id), [SHARED_RUN]);
  assert.equal(readFileSync(join(runPaths(before, SHARED_RUN).runDir, "hello.py"), "utf8"), "print('changed')\n");

  const again = await planGc({ runsDir: origin, remote, graceMs: 0 });
  await again.close();
  assert.equal(again.changes, false, "a second gc finds nothing to do");
  assert.equal((await push({ runsDir: origin, remote })).runs.length, 0, "push still sees everything up to date");
});

test("with the default grace period, nothing young is removed; --dry-run removes nothing", async () => {
  const { root, origin, remote } = fresh();
  await storeWithGarbage(origin, remote);
  const storage = await openStorage(remote);
  await orphanPack(storage);
  await storage.close();
  const start = keys(remote);

  const plan = await planGc({ runsDir: origin, remote, graceMs: 0 });
  assert.ok(plan.result.packs.removed >= 1 && plan.result.heads.removed === 2, "a plan says what it would do");
  await plan.close();
  assert.deepEqual(keys(remote), start, "planning (a dry run) changes nothing");

  const result = await gc({ runsDir: origin, remote });
  assert.equal(result.graceMs, DEFAULT_GRACE_MS);
  assert.equal(result.packs.removed + result.packs.setAside + result.packs.trimmed, 0);
  assert.equal(result.heads.removed + result.catalogs.removed, 0);
  const now = keys(remote);
  assert.deepEqual(now.filter((k) => !k.startsWith("catalog/") && !k.startsWith("segments/")), start, "only a catalog (and its segments) is added");
  assert.deepEqual(await remoteListing(remote, join(root, "x")), await remoteListing(remote, join(root, "y")));
});

test("an unused pack is set aside, put back when a late head reaches it, else removed after the grace period", async () => {
  const { root, origin, remote } = fresh();
  await storeWithGarbage(origin, remote);
  const storage = await openStorage(remote);
  // A pack an interrupted push left: a tree and its files, reached by no head (yet).
  const dir = join(root, "late");
  mkdirSync(dir);
  writeFileSync(join(dir, "model.txt"), "weights\n".repeat(100));
  const writer = new PackWriter(storage);
  const { treeId } = await snapshotDir(dir, { sink: writer });
  const [late] = await writer.flush();
  const unused = await orphanPack(storage);
  const t0 = Date.now();

  // Two days on, with a day's grace: both packs are old and unreachable, so they are set aside.
  const first = await gc({ runsDir: origin, remote: storage, now: () => t0 + 2 * DAY });
  assert.equal(first.packs.setAside, 2);
  assert.equal(first.packs.removed, 0);
  assert.equal(first.packs.trimmed, 1);
  assert.equal(first.heads.removed, 0, "no catalog is a day old yet");
  for (const id of [late!.packId, unused]) {
    assert.ok(existsSync(join(remote, "packs", `${id}.pack`)), "the pack file stays");
    assert.deepEqual(indexKeys(remote, id), [], "its index is set aside");
  }
  assert.equal(keys(remote, GARBAGE_PREFIX).length, 3, "two packs and the trimmed one's full index");
  assert.equal((await ObjectReader.open(storage)).has(treeId), false, "readers and pushes no longer see it");

  // A push that had read the index before it was set aside reuses the tree and writes its head.
  const runId = randomUUID();
  const entry = { runId, run: { tree: treeId, prior: [] }, meta: { tree: EMPTY_TREE, prior: [] }, user: {}, summary: { operation: "x:y", status: "completed" } };
  const head = encodeHead([entry], t0 + 2 * DAY + HOUR);
  await storage.put(head.key, head.bytes);

  const second = await gc({ runsDir: origin, remote: storage, now: () => t0 + 4 * DAY });
  assert.equal(second.packs.restored, 1, "the late head's pack is back in use");
  assert.equal(second.packs.removed, 1, "the other one is gone");
  assert.ok(!existsSync(join(remote, "packs", `${unused}.pack`)));
  assert.equal(indexKeys(remote, late!.packId).length, 1);
  const reader = await ObjectReader.open(storage);
  assert.equal((await reader.readTree(treeId)).entries[0]!.name, "model.txt");
  assert.equal(second.heads.removed, 2, "heads that the first gc's catalog holds");
  assert.deepEqual(keys(remote, GARBAGE_PREFIX), [], "set-aside indexes older than the grace period are settled");
  await storage.close();

  const after = join(root, "after");
  await clone({ runsDir: after, remote });
  assert.equal(readFileSync(join(runPaths(after, SHARED_RUN).runDir, "hello.py"), "utf8"), "print('changed')\n");
});

test("a pack that is mostly unreachable is rewritten with only what runs reach", async () => {
  const { root, origin, remote } = fresh();
  const file = join(runPaths(origin, BIG_RUN).runDir, "weights.bin");
  writeRunFile(file, randomBytes(200_000));
  await push({ runsDir: origin, remote, runs: [BIG_RUN], now: () => Date.now() - HOUR });
  writeRunFile(file, randomBytes(200_000));
  await push({ runsDir: origin, remote, runs: [BIG_RUN], now: () => Date.now() - HOUR });
  const result = await gc({ runsDir: origin, remote, graceMs: 0 });
  assert.equal(result.packs.repacked, 1);
  assert.equal(result.packs.written, 1);
  assert.equal(result.packs.removed, 1, "the old pack, once rewritten");
  assert.ok(result.packs.removedBytes > 200_000);
  const after = join(root, "after");
  await clone({ runsDir: after, remote });
  assert.deepEqual(contents(after), contents(origin, [BIG_RUN]));
});

test("gc removes nothing from a store whose runs reach missing objects", async () => {
  const { origin, remote } = fresh();
  await storeWithGarbage(origin, remote);
  const pack = keys(remote, "packs/").find((k) => k.endsWith(".pack"))!;
  rmSync(join(remote, pack));
  const start = keys(remote);
  await assert.rejects(gc({ runsDir: origin, remote, graceMs: 0 }), (err: unknown) => {
    assert.ok(err instanceof StoreIncompleteError);
    assert.equal(err.code, "STORE_INCOMPLETE");
    assert.ok(err.runIds.length > 0);
    return true;
  });
  assert.deepEqual(keys(remote), start);
});

/** Calls `hook` before the first `delete` of `key` on `storage` (a push landing while gc works). */
function onDelete(storage: Storage, key: string, hook: () => Promise<void>): Storage {
  let fired = false;
  return {
    url: storage.url,
    get: (k, r) => storage.get(k, r),
    getBytes: (k, r) => storage.getBytes(k, r),
    put: (k, d) => storage.put(k, d),
    stat: (k) => storage.stat(k),
    list: (p, o) => storage.list(p, o),
    delete: async (k) => {
      if (k === key && !fired) {
        fired = true;
        await hook();
      }
      await storage.delete(k);
    },
    close: () => storage.close(),
  };
}

/** A tree only an orphan pack holds, as a push killed before its head leaves it. */
async function orphanTree(storage: Storage, root: string): Promise<{ treeId: string; packId: string }> {
  const dir = join(root, `late-${randomUUID()}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "model.txt"), `weights ${dir}\n`);
  const writer = new PackWriter(storage);
  const { treeId } = await snapshotDir(dir, { sink: writer });
  const [pack] = await writer.flush();
  return { treeId, packId: pack!.packId };
}

function headReaching(treeId: string, nowMs: number): { key: string; bytes: Buffer } {
  const entry = { runId: randomUUID(), run: { tree: treeId, prior: [] }, meta: { tree: EMPTY_TREE, prior: [] }, user: {}, summary: { operation: "x:y", status: "completed" } };
  return encodeHead([entry], nowMs);
}

test("a push whose head lands while gc takes its objects out of use gets them back", async () => {
  const { root, origin, remote } = fresh();
  await storeWithGarbage(origin, remote);
  const storage = await openStorage(remote);
  const { treeId, packId } = await orphanTree(storage, root);
  const t0 = Date.now();
  // The push had found the tree in the index before gc marked; its head lands as gc sets the pack aside.
  const racing = onDelete(storage, indexKeys(remote, packId)[0]!, async () => {
    const head = headReaching(treeId, t0);
    await storage.put(head.key, head.bytes);
  });
  const warnings: string[] = [];
  const result = await gc({ runsDir: origin, remote: racing, now: () => t0 + 2 * DAY, onWarning: (m) => warnings.push(m) });
  assert.equal(result.packs.setAside, 1, "gc set it aside, as planned");
  assert.deepEqual(warnings, []);
  assert.equal(indexKeys(remote, packId).length, 1, "and put its index back on seeing the late head");
  assert.equal((await (await ObjectReader.open(storage)).readTree(treeId)).entries.length, 1);
  const later = await gc({ runsDir: origin, remote: storage, now: () => t0 + 4 * DAY });
  assert.equal(later.packs.removed, 0, "a later gc keeps what the head reaches");
  assert.ok(existsSync(join(remote, "packs", `${packId}.pack`)));
  await storage.close();
});

test("without a grace period a push racing gc can lose objects; gc says so", async () => {
  const { root, origin, remote } = fresh();
  await storeWithGarbage(origin, remote);
  const storage = await openStorage(remote);
  const { treeId, packId } = await orphanTree(storage, root);
  const racing = onDelete(storage, indexKeys(remote, packId)[0]!, async () => {
    const head = headReaching(treeId, Date.now());
    await storage.put(head.key, head.bytes);
  });
  const warnings: string[] = [];
  await gc({ runsDir: origin, remote: racing, graceMs: 0, onWarning: (m) => warnings.push(m) });
  await storage.close();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /heads\//);
});

test("both sides of a run that diverged on the remote are kept", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, runs: [SHARED_RUN], now: () => Date.now() - HOUR });
  const [run] = (await listRemoteRuns({ runsDir: origin, remote })) as RemoteRun[];
  const mine = run!.entries[0]!;
  // Another writer's version that does not descend from this one (a true divergence).
  const copy = join(root, "copy");
  mkdirSync(copy);
  for (const name of readdirSync(runPaths(origin, SHARED_RUN).runDir)) writeFileSync(join(copy, name), readFileSync(join(runPaths(origin, SHARED_RUN).runDir, name)));
  writeFileSync(join(copy, "hello.py"), "print('theirs')\n");
  const storage = await openStorage(remote);
  const writer = new PackWriter(storage);
  const { treeId: theirs } = await snapshotDir(copy, { sink: writer });
  await writer.flush();
  const head = encodeHead([{ ...mine, run: { tree: theirs, prior: [] } }], Date.now() - HOUR);
  await storage.put(head.key, head.bytes);
  await storage.close();

  await gc({ runsDir: origin, remote, graceMs: 0 });
  const [after] = (await listRemoteRuns({ runsDir: join(root, "nowhere"), remote })) as RemoteRun[];
  assert.deepEqual(after!.entries.map((e) => e.run.tree).sort(), [mine.run.tree, theirs].sort(), "the catalog holds both versions");
  const reader = await ObjectReader.open(await openStorage(remote));
  for (const tree of [mine.run.tree, theirs]) {
    for (const e of (await reader.readTree(tree)).entries) assert.ok(reader.has(e.id), `${e.name} of ${tree} is kept`);
  }
  await reader.storage.getBytes(`packs/${reader.index.get(theirs)!.packId}.pack`);
});

test("what a young pack's trees reach stays listed, reachable from a run or not", async () => {
  const { root, origin, remote } = fresh();
  const hello = readFileSync(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"));
  const helloId = createHash("sha256").update(hello).digest("hex");
  await storeWithGarbage(origin, remote);
  // The first push's pack is two days old; then a push writes a tree that reuses the old hello.py.
  const old = new Date(Date.now() - 2 * DAY);
  for (const name of keys(remote, "packs/")) utimesSync(join(remote, name), old, old);
  const dir = join(root, "reuse");
  mkdirSync(dir);
  writeFileSync(join(dir, "hello.py"), hello);
  const storage = await openStorage(remote);
  const writer = new PackWriter(storage, { index: (await ObjectReader.open(storage)).index });
  const { treeId } = await snapshotDir(dir, { sink: writer });
  const [young] = await writer.flush();
  assert.equal(young!.objects, 1, "only the tree is new");

  const result = await gc({ runsDir: origin, remote: storage });
  assert.equal(result.packs.trimmed, 1, "the old pack drops the old tree");
  const reader = await ObjectReader.open(storage);
  assert.ok(reader.has(treeId));
  assert.ok(reader.has(helloId), "but keeps the old hello.py, which the young tree reaches");
  await storage.close();
});

test("a head older than the catalog that it does not hold (a writer's clock was off) keeps what it reaches, and is named", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: () => Date.now() - 3 * HOUR });
  assert.equal((await gc({ runsDir: origin, remote, graceMs: 0 })).catalogs.written, true);
  // A run pushed by a member whose clock is five hours behind: its head sorts before the catalog's.
  const late = join(root, "late");
  execFileSync(process.execPath, [fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url)), "--out", late, "--runs", "1", "--seed", "9"]);
  const packsBefore = new Set(keys(remote, "packs/"));
  assert.equal((await push({ runsDir: late, remote })).runs.length, 1);
  const added = keys(remote, "packs/").filter((k) => !packsBefore.has(k));
  const [pushed] = keys(remote, "heads/");
  assert.ok(added.length >= 2 && pushed !== undefined, "the late push's pack, its index and its head");
  // A head's name is its time and the hash of its bytes: the same head, named by a clock 5 hours behind.
  const head = `heads/${timeKeyPart(Date.now() - 5 * HOUR)}-${pushed.split("-").at(-1)}`;
  renameSync(join(remote, pushed), join(remote, head));

  const warnings: string[] = [];
  const result = await gc({ runsDir: origin, remote, graceMs: 0, onWarning: (m) => warnings.push(m) });
  assert.ok(warnings.some((w) => w.includes(head)), warnings.join("\n"));
  assert.equal(result.packs.removed + result.packs.setAside + result.packs.trimmed, 0, "nothing the late head reaches is taken out of use");
  for (const k of added) assert.ok(existsSync(join(remote, k)), `${k} is kept`);
  assert.ok(existsSync(join(remote, head)), "the head is kept: no catalog holds it");
});
