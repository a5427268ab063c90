import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { runPaths } from "../../src/runs/layout.js";
import { statePaths } from "../../src/state/index.js";
import { gc } from "../../src/sync/gc.js";
import { checkEntry, MAX_PACK_HINTS, plainEntry } from "../../src/sync/head-entry.js";
import { reduceEntries } from "../../src/sync/heads.js";
import { pull, push } from "../../src/sync/index.js";
import { verify } from "../../src/sync/verify.js";
import { openStorage } from "../../src/remotes/open.js";
import { countedIndexReads, countIndexReads } from "../helpers/counted-storage.js";
import { startS3rver } from "../helpers/s3rver.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, type RunFiles } from "../helpers/make-runs.js";

// Pack hints (docs/formats.md, Heads): a pull of some runs reads the indexes of the packs their
// entries name, the others only for objects not there; a push from a directory without copies of
// the remote's indexes sends its objects rather than read them all, and the duplicates it leaves
// are harmless to pull, verify and gc.

const tmp = tempDir("gage-sync-pack-hints-");
after(() => tmp.cleanup());

const id = (n: number) => `${n.toString(16).padStart(8, "0")}-1111-4111-8111-111111111111`;

/** A run's files: `count` files whose contents depend on `seed` alone (equal seeds, equal files). */
const filesOf = (seed: string, count: number): RunFiles =>
  Array.from({ length: count }, (_, i) => [`out/f${i}.txt`, text(seed, i)] as [string, string]);
const text = (seed: string, i: number) => `${seed} file ${i}\n`.repeat(2);

/** The pack ids a remote holds. */
function packsOf(remote: string): Set<string> {
  if (!existsSync(join(remote, "packs"))) return new Set();
  return new Set(readdirSync(join(remote, "packs")).filter((n) => n.endsWith(".pack")).map((n) => n.slice(0, 64)));
}

const packOfKey = (key: string) => key.slice("packs/".length, "packs/".length + 64);

/** A new, empty runs directory. */
function emptyDir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

/** Pushes runs made by `make`, returning the packs the push wrote. */
async function pushNew(runsDir: string, remote: string, make: () => void): Promise<string[]> {
  const before = packsOf(remote);
  make();
  await push({ runsDir, remote });
  return [...packsOf(remote)].filter((p) => !before.has(p));
}

const fileText = (runsDir: string, runId: string, rel: string) => readFileSync(join(runPaths(runsDir, runId).runDir, rel), "utf8");

test("a pull of one run reads the indexes of its hinted packs, and others only for objects found in none of them", async () => {
  const root = join(tmp.path, "pull");
  const member = join(root, "member");
  const remote = join(root, "remote");
  const [p1] = await pushNew(member, remote, () => makeRun(member, id(1), filesOf("one", 5)));
  const [p2] = await pushNew(member, remote, () => makeRun(member, id(2), filesOf("two", 5)));
  // A run with the files of run 2: its push finds them in p2, and names p2 among its packs.
  const [p3] = await pushNew(member, remote, () => makeRun(member, id(3), filesOf("two", 5)));
  // Two runs of 150 files each, read on worker threads: the workers find the first five in p2.
  const [p4] = await pushNew(member, remote, () => {
    makeRun(member, id(4), filesOf("two", 150));
    makeRun(member, id(5), filesOf("two", 150).map(([p, t]) => [`more/${String(p)}`, t] as [string, string]));
  });
  assert.ok(p1 && p2 && p3 && p4, "each push wrote one pack");

  let attempt = 0;
  const readsOfPull = async (runId: string) => {
    const fresh = emptyDir(join(root, `fresh-${runId.slice(0, 8)}-${attempt++}`));
    const { storage, indexReads } = await countedIndexReads(remote);
    await pull({ runsDir: fresh, remote: storage, runs: [runId] });
    assert.equal(fileText(fresh, runId, "out/f3.txt"), fileText(member, runId, "out/f3.txt"));
    return new Set(indexReads.map(packOfKey));
  };
  // Every run's meta shares `__schema__`, `proc/exit` and `opref` with run 1's: in p1.
  assert.deepEqual(await readsOfPull(id(1)), new Set([p1]), "run 1: its own pack's index only");
  assert.deepEqual(await readsOfPull(id(2)), new Set([p1, p2]));
  assert.deepEqual(await readsOfPull(id(3)), new Set([p1, p2, p3]), "run 3: its pack and those its push found its files in");
  assert.deepEqual(await readsOfPull(id(4)), new Set([p1, p2, p4]), "objects found by workers are hinted too");

  // A run named by a full id the remote lacks is not found, as by any other spec.
  await assert.rejects(pull({ runsDir: emptyDir(join(root, "none")), remote, runs: [id(99)] }), { code: "RUN_NOT_FOUND" });

  // gc rewrites p1 (a file of run 1 changed: part of p1 is unreachable) into a new pack; run 1's
  // hints name a pack that is gone, and the objects it needs are elsewhere: every index is read.
  const changed = join(runPaths(member, id(1)).runDir, "out", "f0.txt");
  chmodSync(changed, 0o644);
  writeFileSync(changed, "changed\n");
  await push({ runsDir: member, remote });
  await gc({ runsDir: member, remote, graceMs: 0, repackThreshold: 0.0001 });
  assert.ok(!packsOf(remote).has(p1), "gc rewrote p1");
  const after = await readsOfPull(id(1));
  assert.ok(after.size >= packsOf(remote).size, `every index is read once the hints fall short (${after.size} of ${packsOf(remote).size})`);
  assert.equal(fileText(join(root, `fresh-${id(1).slice(0, 8)}-${attempt - 1}`), id(1), "out/f0.txt"), "changed\n");
});

test("a push from a fresh directory sends what it would pay more to look up; pull, verify and gc keep both copies", async () => {
  const root = join(tmp.path, "push");
  const member = join(root, "member");
  const remote = join(root, "remote");
  for (let n = 1; n <= 4; n++) await pushNew(member, remote, () => makeRun(member, id(n), filesOf(`run ${n}`, 30)));
  const memberPacks = packsOf(remote);

  // A fresh directory pushes a new run whose files the remote holds already (those of run 1).
  const fresh = join(root, "fresh");
  makeRun(fresh, id(9), filesOf("run 1", 30));
  const { storage, indexReads } = await countedIndexReads(remote);
  const result = await push({ runsDir: fresh, remote: storage });
  assert.deepEqual(indexReads, [], "no index is read: the run is smaller than the indexes");
  assert.ok(result.objects >= 30, `its files are sent again (${result.objects} objects)`);
  const [dup] = [...packsOf(remote)].filter((p) => !memberPacks.has(p));
  assert.ok(dup !== undefined);

  // Both copies: pull and verify take either one.
  const check = async (label: string) => {
    const reader = emptyDir(join(root, `reader-${label}`));
    await pull({ runsDir: reader, remote });
    for (const runId of [id(1), id(9)]) assert.equal(fileText(reader, runId, "out/f7.txt"), text("run 1", 7), `${label}: ${runId}`);
    const verified = await verify({ runsDir: reader, remote });
    assert.equal(verified.status, "ok", `${label}: ${JSON.stringify(verified.problems.slice(0, 3))}`);
  };
  await check("duplicates");

  // The member's pack of run 1 is rewritten by gc (one of its files changed); the objects it shares
  // with the fresh push's pack are not copied again, and nothing is lost.
  const changed = join(runPaths(member, id(1)).runDir, "out", "f0.txt");
  chmodSync(changed, 0o644);
  writeFileSync(changed, "changed\n");
  await push({ runsDir: member, remote });
  const collected = await gc({ runsDir: member, remote, graceMs: 0, repackThreshold: 0.0001 });
  assert.ok(collected.objects.unreachable > 0, "gc took out the changed file's old version");
  assert.ok(packsOf(remote).has(dup), "the fresh push's pack stays: every object in it is reached");
  const reader = emptyDir(join(root, "reader-after-gc"));
  await pull({ runsDir: reader, remote });
  assert.equal(fileText(reader, id(1), "out/f0.txt"), "changed\n");
  assert.equal(fileText(reader, id(1), "out/f7.txt"), text("run 1", 7));
  assert.equal(fileText(reader, id(9), "out/f0.txt"), text("run 1", 0));
  const verified = await verify({ runsDir: reader, remote });
  assert.equal(verified.status, "ok", JSON.stringify(verified.problems.slice(0, 3)));
  assert.equal((await gc({ runsDir: member, remote, graceMs: 0 })).objects.unreachable, 0, "a second gc finds nothing more to take");
});

test("pack hints are read as hints: malformed or oversized lists are left out, a merge keeps the winner's", () => {
  const tree = (c: string) => c.repeat(64);
  const base = { runId: id(1), run: { tree: tree("a"), prior: [] }, meta: { tree: tree("b"), prior: [] }, user: {}, summary: { operation: "train", status: "completed" } };
  const pack = (n: number) => Buffer.alloc(32, n);
  const hex = (n: number) => pack(n).toString("hex");
  assert.deepEqual(checkEntry("heads/x", { ...base, packs: [pack(1), pack(2), pack(1)] }).packs, [hex(1), hex(2)]);
  for (const packs of [[], "x", [hex(1)], [Buffer.alloc(31)], Array.from({ length: MAX_PACK_HINTS + 1 }, (_, i) => pack(i)), [pack(1), 7], { 0: pack(1) }]) {
    assert.equal(checkEntry("heads/x", { ...base, packs }).packs, undefined, JSON.stringify(packs));
  }
  // Written as binaries, read back as written.
  const entry = checkEntry("heads/x", { ...base, packs: [pack(3)] });
  assert.deepEqual(checkEntry("heads/x", plainEntry(entry)), entry);
  // A fast-forward: the newer version (its run tree descends from the older's) brings its hints.
  const newer = { ...entry, run: { tree: tree("c"), prior: [tree("a")] }, packs: [hex(4)] };
  assert.deepEqual(reduceEntries([entry, newer])[0]!.packs, [hex(3), hex(4)], "meta kept from the older entry, run from the newer");
  const newerBoth = { ...newer, meta: { tree: tree("d"), prior: [tree("b")] } };
  assert.deepEqual(reduceEntries([entry, newerBoth])[0]!.packs, [hex(4)]);
  assert.equal(reduceEntries([{ ...entry, packs: undefined }, newer])[0]!.packs, undefined, "a winner without hints: none");
});

test("over S3 (s3rver): a pull of one run reads its hinted indexes, a small push from a fresh directory none", async () => {
  const s3 = await startS3rver();
  try {
    const open = () => openStorage(s3.url("team/runs"), { env: s3.env });
    const root = join(tmp.path, "s3");
    const member = join(root, "member");
    for (let n = 1; n <= 4; n++) {
      makeRun(member, id(n), filesOf(`s3 run ${n}`, 30));
      await push({ runsDir: member, remote: await open() });
    }
    const fresh = emptyDir(join(root, "fresh"));
    const reading = countIndexReads(await open());
    await pull({ runsDir: fresh, remote: reading.storage, runs: [id(3)] });
    assert.equal(fileText(fresh, id(3), "out/f9.txt"), text("s3 run 3", 9));
    // Run 3's own pack, and run 1's (the meta files every run shares): 2 of 4.
    assert.equal(new Set(reading.indexReads.map(packOfKey)).size, 2, reading.indexReads.join("\n"));
    const other = join(root, "other");
    makeRun(other, id(9), filesOf("s3 run 9", 3));
    const pushing = countIndexReads(await open());
    await push({ runsDir: other, remote: pushing.storage });
    assert.deepEqual(pushing.indexReads, []);
    const back = emptyDir(join(root, "back"));
    await pull({ runsDir: back, remote: await open() });
    assert.equal(fileText(back, id(9), "out/f2.txt"), text("s3 run 9", 2));
  } finally {
    await s3.stop();
  }
});

test("a member's small push reads none of its kept index copies and sends its objects; a larger one still finds what the remote holds", async () => {
  const root = join(tmp.path, "member-small");
  const member = join(root, "member");
  const remote = join(root, "remote");
  for (let n = 1; n <= 4; n++) await pushNew(member, remote, () => makeRun(member, id(n), filesOf(`run ${n}`, 400)));
  const keptFile = statePaths.remote(member, remote, "packs");
  const kept = statSync(keptFile).size;
  const keysBefore = readdirSync(join(remote, "packs")).filter((n) => n.endsWith(".idx") || n.includes("index")).length;

  // A run far smaller than a sixteenth of the kept copies, whose files the remote holds already.
  makeRun(member, id(19), filesOf("new", 3));
  const fresh = await push({ runsDir: member, remote });
  makeRun(member, id(20), filesOf("run 1", 3));
  const small = await push({ runsDir: member, remote });
  assert.ok(small.bytes < kept / 16, `the run (${small.bytes} B) is small beside the copies (${kept} B)`);
  assert.equal(small.objects, fresh.objects, "its files are sent again, as a run of new files is");
  assert.ok(statSync(keptFile).size > kept, "the new pack's index is kept beside the others");

  // A run of the size of the copies: they are read, and the files the remote holds are not sent.
  makeRun(member, id(21), filesOf("run 2", 400));
  const large = await push({ runsDir: member, remote });
  assert.ok(large.objects < 10, `only its trees and meta are sent (${large.objects} objects)`);
  assert.ok(readdirSync(join(remote, "packs")).length > keysBefore);

  const reader = emptyDir(join(root, "reader"));
  await pull({ runsDir: reader, remote });
  assert.equal(fileText(reader, id(20), "out/f2.txt"), text("run 1", 2));
  assert.equal(fileText(reader, id(21), "out/f399.txt"), text("run 2", 399));
  assert.equal((await verify({ runsDir: reader, remote })).status, "ok");
});
