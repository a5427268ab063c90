import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gage } from "../helpers/cli.js";
import { countingGets } from "../helpers/counting-storage.js";
import { tempDir } from "../helpers/fixtures.js";
import { openStorage } from "../../src/remotes/open.js";
import { decodeCatalog, emptyView, loadAllRuns, readCatalog, refreshView, writeCatalog } from "../../src/sync/heads.js";
import { SegmentTable } from "../../src/sync/segment-table.js";
import { listRemoteRunsCounted } from "../../src/sync/remote-runs.js";
import { gc } from "../../src/sync/gc.js";
import { clone, listRemoteRuns, pull, push, verify, type RemoteRun } from "../../src/sync/index.js";
import { runFiles } from "./two-sides.js";

// A remote of 2,000 runs whose catalog is cut into 50 segments (40 runs each, where a real
// writer makes 2,048): each command fetches the segments of the runs it touches, not the remote.

const RUNS = 2_000;
const PER_SEGMENT = 40;
process.env.GAGE_CATALOG_SEGMENT_RUNS = String(PER_SEGMENT);
const MAKE_TINY_RUNS = fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url));
const tmp = tempDir("gage-catalog2-");
after(() => tmp.cleanup());
const origin = join(tmp.path, "origin");
const remote = join(tmp.path, "remote");
let ids: string[] = [];
let catalogKey = "";

async function table(): Promise<SegmentTable> {
  const storage = await openStorage(remote);
  const doc = decodeCatalog(catalogKey, await storage.getBytes(catalogKey));
  await storage.close();
  return new SegmentTable(doc.segments!);
}

before(async () => {
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", origin, "--runs", String(RUNS), "--ids", join(tmp.path, "ids")]);
  ids = readFileSync(join(tmp.path, "ids"), "utf8").split("\n").filter(Boolean);
  await push({ runsDir: origin, remote });
  // The catalog a push writes every CATALOG_EVERY heads, written here after the one push.
  const storage = await openStorage(remote);
  const view = emptyView();
  await refreshView(storage, view);
  catalogKey = (await writeCatalog(storage, view, Date.now()))!;
  await storage.close();
});

test("a catalog of many runs is a root and segments of a range of run ids each", async () => {
  const storage = await openStorage(remote);
  const root = decodeCatalog(catalogKey, await storage.getBytes(catalogKey));
  assert.equal(root.entries.length, 0, "the root holds no run's entries");
  assert.equal(root.segments!.length, RUNS / PER_SEGMENT);
  assert.equal(root.segments!.reduce((n, s) => n + s.n, 0), RUNS);
  const named = [...root.segments!.map((s) => s.key), root.newest!.key!];
  assert.deepEqual(readdirSync(join(remote, "segments")).sort(), named.map((k) => k.slice("segments/".length)).sort(), "the segments, and the copy of the newest runs");
  const whole = await readCatalog(storage, catalogKey);
  assert.deepEqual(whole.entries.map((e) => e.runId).sort(), [...ids].sort());
  // A view that holds every run writes the same catalog again: every segment is the same object.
  const view = emptyView();
  await refreshView(storage, view);
  await loadAllRuns(view, storage);
  const again = await writeCatalog(storage, view, Date.now() + 1_000);
  assert.deepEqual(decodeCatalog(again!, await storage.getBytes(again!)).segments!.map((s) => s.key), root.segments!.map((s) => s.key));
  await storage.close();
});

test("a fresh directory's first page fetches the root and its copy of the newest runs alone; it keeps a small view", async () => {
  const fresh = join(tmp.path, "fresh-ls");
  mkdirSync(fresh);
  const storage = countingGets(await openStorage(remote));
  const { runs, total } = await listRemoteRunsCounted({ runsDir: fresh, remote: storage, first: 20 });
  assert.equal(total, RUNS);
  assert.equal(runs.length, 20);
  // The same rows, in the same order, as a listing that reads every run.
  const all = (await listRemoteRuns({ runsDir: join(tmp.path, "nowhere"), remote })) as RemoteRun[];
  assert.deepEqual(runs.map((r) => `${r.id} ${r.label}`), all.slice(0, 20).map((r) => `${r.id} ${r.label}`));
  const t = await table();
  const shown = new Set(runs.map((r) => t.find(r.id)!.key));
  assert.ok(shown.size > 1, "the rows are in many segments");
  assert.equal(storage.gets.get("catalog"), 1, "one root");
  assert.equal(storage.gets.get("segments"), 1, "one segment: the root's copy of its newest runs");
  assert.equal(storage.gets.get("heads"), undefined, "no head read: the catalog covers them");
  await storage.close();

  const viewFile = readdirSync(join(fresh, ".gage-sync", "remotes")).find((n) => n.endsWith(".view"))!;
  const viewBytes = statSync(join(fresh, ".gage-sync", "remotes", viewFile)).size;
  const segmentBytes = readdirSync(join(remote, "segments")).reduce((n, k) => n + statSync(join(remote, "segments", k)).size, 0);
  assert.ok(viewBytes * 10 < segmentBytes, `the cached view (${viewBytes} B) is a small part of the catalog (${segmentBytes} B)`);

  // Listed again: the cached root answers, nothing is fetched but the rows' segments.
  const again = countingGets(await openStorage(remote));
  const second = await listRemoteRunsCounted({ runsDir: fresh, remote: again, first: 20 });
  assert.deepEqual(second.runs.map((r) => r.id), runs.map((r) => r.id));
  assert.equal(again.gets.get("catalog"), undefined);
  assert.equal(again.gets.get("segments"), 1);
  // A second page is beyond the root's copy: the rows' own segments are read.
  const third = countingGets(await openStorage(remote));
  const more = await listRemoteRunsCounted({ runsDir: fresh, remote: third, first: 400 });
  assert.deepEqual(more.runs.map((r) => r.id), all.slice(0, 400).map((r) => r.id));
  assert.ok((third.gets.get("segments") ?? 0) > 1);
  await third.close();
  await again.close();

  // As a user runs it: the first page, counted against every run.
  const cli = await gage(["ls", "--remote", remote], { env: { GAGE_RUNS: join(tmp.path, "fresh-cli"), COLUMNS: "200" } });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`Showing 20 of ${RUNS} runs`));
  assert.match(cli.stdout, new RegExp(`\\|\\s*1\\s*\\|\\s*${runs[0]!.name.split("-")[0]}`), "the newest run is the first row");
});

test("one new run pushed from a fresh directory fetches no segment; a pull of one run by id fetches one", async () => {
  const fresh = join(tmp.path, "fresh-push");
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", fresh, "--runs", "1", "--seed", "77", "--ids", join(tmp.path, "new-id")]);
  const storage = countingGets(await openStorage(remote));
  const pushed = await push({ runsDir: fresh, remote: storage });
  assert.equal(pushed.runs.length, 1);
  assert.equal(storage.gets.get("segments"), undefined, "the new run is in no segment");
  assert.equal(storage.gets.get("catalog"), 1);
  await storage.close();

  const puller = join(tmp.path, "fresh-pull");
  const target = ids[1234]!;
  const reading = countingGets(await openStorage(remote));
  const pulled = await pull({ runsDir: puller, remote: reading, runs: [target.slice(0, 13)] });
  assert.deepEqual(pulled.runs.map((r) => r.id), [target]);
  assert.equal(reading.gets.get("segments"), 1, "the segment of the run named alone");
  await reading.close();
  const mine = runFiles(puller);
  for (const [path, digest] of runFiles(origin)) if (path.startsWith(target)) assert.equal(mine.get(path), digest, path);
});

test("a run whose segment was not loaded cannot be read as absent: reading it throws", async () => {
  const storage = await openStorage(remote);
  const view = emptyView();
  await refreshView(storage, view);
  assert.equal(view.runs.size, RUNS + 1);
  assert.ok(view.runs.has(ids[0]!));
  assert.ok([...view.runs.keys()].includes(ids[RUNS - 1]!));
  assert.throws(() => view.runs.get(ids[0]!), /not loaded/);
  assert.throws(() => view.runs.summary(ids[0]!), /not loaded/);
  assert.throws(() => [...view.runs.values()], /not loaded/);
  assert.throws(() => view.runs.stored(), /not loaded/);
  await loadAllRuns(view, storage);
  assert.equal(view.runs.get(ids[0]!)![0]!.runId, ids[0]);
  await storage.close();
});

test("the runs a root lists are found among many ids at once as one by one", async () => {
  const t = await table();
  // Listed ids, ids between them, an id past the last, an upper-case copy and a non-UUID.
  const asked = [...ids.filter((_, i) => i % 3 === 0), "00000000-0000-4000-8000-000000000000", "ffffffff-ffff-4fff-8fff-ffffffffffff", ids[1]!.toUpperCase(), "not-a-run"];
  for (const id of ids.slice(0, 50)) asked.push(id.slice(0, 35) + (id.endsWith("0") ? "1" : "0"));
  const listed = t.listed(asked);
  assert.deepEqual([...listed].sort(), asked.filter((id) => t.find(id) !== undefined).sort());
  assert.equal(listed.size, Math.ceil(RUNS / 3));
  // A few ids (searched one by one, not by a walk of the tables) give what the walk gave for them.
  const few = asked.filter((_, i) => i % 40 === 0 || i >= asked.length - 40);
  assert.ok(few.length * 32 < RUNS);
  assert.deepEqual([...t.listed(few)].sort(), few.filter((id) => listed.has(id)).sort());
});

test("gc and verify over a store of segments keep every object; every run pulls back whole", async () => {
  const before = readdirSync(join(remote, "segments")).length;
  const result = await verify({ runsDir: origin, remote });
  assert.deepEqual(result.problems, []);
  // gc writes a catalog (a head is newer than the last one): the range of the run pushed since is
  // a new segment, the others are the same ones; the old catalog and its segment go.
  const done = await gc({ runsDir: origin, remote, graceMs: 0 });
  assert.equal(done.catalogs.written, true);
  assert.ok(done.segments!.removed >= 1 && done.segments!.removed <= 2, "the changed range's segment (and the copy of the newest runs)");
  assert.ok(readdirSync(join(remote, "segments")).length <= before);
  const after = await verify({ runsDir: origin, remote });
  assert.deepEqual(after.problems, []);
  const referenced = new Set<string>();
  const storage = await openStorage(remote);
  for (const k of readdirSync(join(remote, "catalog"))) {
    const doc = decodeCatalog(`catalog/${k}`, await storage.getBytes(`catalog/${k}`));
    for (const s of doc.segments ?? []) referenced.add(s.key);
    if (doc.newest?.key !== undefined) referenced.add(doc.newest.key);
  }
  await storage.close();
  assert.deepEqual(new Set(readdirSync(join(remote, "segments")).map((k) => `segments/${k}`)), referenced, "gc removed exactly the segments no kept catalog names");
  const again = join(tmp.path, "after-gc");
  await clone({ runsDir: again, remote });
  const expected = runFiles(origin);
  const got = runFiles(again);
  for (const [path, digest] of expected) assert.equal(got.get(path), digest, path);
});

test("a store written by release 0.1.0 (a catalog of format 1) is read, and its next catalog is of format 2", async () => {
  const root = join(tmp.path, "legacy");
  mkdirSync(root);
  execFileSync("tar", ["-xzf", fileURLToPath(new URL("../fixtures/store-v0.1.0.tar.gz", import.meta.url)), "-C", root]);
  const store = join(root, "store");
  const storage = await openStorage(store);
  const [legacy] = readdirSync(join(store, "catalog"));
  assert.equal(decodeCatalog(`catalog/${legacy}`, await storage.getBytes(`catalog/${legacy}`)).segments, undefined, "the fixture's catalog is of format 1");
  const view = emptyView();
  await refreshView(storage, view);
  const key = (await writeCatalog(storage, view, Date.now()))!;
  assert.ok(decodeCatalog(key, await storage.getBytes(key)).segments!.length > 0);
  await storage.close();
  const b = join(root, "b");
  chmodSync(root, 0o755);
  await clone({ runsDir: b, remote: store });
  assert.deepEqual(runFiles(b), runFiles(join(root, "runs")));
});
