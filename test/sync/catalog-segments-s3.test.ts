import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { countingGets } from "../helpers/counting-storage.js";
import { tempDir } from "../helpers/fixtures.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { openStorage } from "../../src/remotes/open.js";
import { CATALOG_PREFIX, decodeCatalog, emptyView, refreshView, writeCatalog } from "../../src/sync/heads.js";
import { SEGMENT_PREFIX } from "../../src/sync/segment-table.js";
import { listRemoteRunsCounted } from "../../src/sync/remote-runs.js";
import { gc } from "../../src/sync/gc.js";
import { clone, pull, push } from "../../src/sync/index.js";
import { runFiles } from "./two-sides.js";

// The segmented catalog on S3 (s3rver): the same reads as on a folder, and gc tells a segment's age
// by its LastModified.

const RUNS = 200;
process.env.GAGE_CATALOG_SEGMENT_RUNS = "20";
const MAKE_TINY_RUNS = fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url));
const tmp = tempDir("gage-catalog2-s3-");
let s3: S3rverHandle;
before(async () => {
  s3 = await startS3rver();
});
after(async () => {
  await s3.stop();
  tmp.cleanup();
});

async function keys(storage: Awaited<ReturnType<typeof openStorage>>, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const { key } of storage.list(prefix)) out.push(key);
  return out;
}

test("on S3: a first page reads the root and one segment, a pull by id one segment, and gc removes the segments no catalog names", async () => {
  const origin = join(tmp.path, "origin");
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", origin, "--runs", String(RUNS), "--ids", join(tmp.path, "ids")]);
  const ids = readFileSync(join(tmp.path, "ids"), "utf8").split("\n").filter(Boolean);
  const open = () => openStorage(s3.url("segments/runs"), { env: s3.env });
  const hourAgo = () => Date.now() - 3_600_000;
  await push({ runsDir: origin, remote: await open(), now: hourAgo });
  const storage = await open();
  const view = emptyView();
  await refreshView(storage, view);
  const first = (await writeCatalog(storage, view, hourAgo()))!;
  assert.equal(decodeCatalog(first, await storage.getBytes(first)).segments!.length, RUNS / 20);

  const fresh = join(tmp.path, "fresh");
  mkdirSync(fresh);
  const reading = countingGets(await open());
  const page = await listRemoteRunsCounted({ runsDir: fresh, remote: reading, first: 20 });
  assert.equal(page.total, RUNS);
  assert.equal(page.runs.length, 20);
  assert.deepEqual(Object.fromEntries(reading.gets), { catalog: 1, segments: 1 });
  await reading.close();

  const puller = join(tmp.path, "puller");
  const pulling = countingGets(await open());
  await pull({ runsDir: puller, remote: pulling, runs: [ids[42]!] });
  assert.equal(pulling.gets.get("segments"), 1);
  await pulling.close();

  // A new run, then gc two days on (a new catalog) and four days on (the old one goes, and the
  // segments only it named).
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", origin, "--runs", "1", "--start-index", String(RUNS), "--seed", "9"]);
  await push({ runsDir: origin, remote: await open(), now: hourAgo });
  const before = (await keys(storage, SEGMENT_PREFIX)).length;
  const t0 = Date.now();
  assert.equal((await gc({ runsDir: origin, remote: storage, now: () => t0 + 2 * 86_400_000 })).catalogs.written, true);
  const result = await gc({ runsDir: origin, remote: storage, now: () => t0 + 4 * 86_400_000 });
  assert.ok(result.segments!.removed >= 1, "S3 gives segment ages (LastModified)");
  const catalogs = await keys(storage, CATALOG_PREFIX);
  assert.equal(catalogs.length, 1);
  const doc = decodeCatalog(catalogs[0]!, await storage.getBytes(catalogs[0]!));
  assert.deepEqual((await keys(storage, SEGMENT_PREFIX)).sort(), [...doc.segments!.map((s) => s.key), doc.newest!.key!].sort());
  assert.ok((await keys(storage, SEGMENT_PREFIX)).length <= before);
  await storage.close();

  const copy = join(tmp.path, "copy");
  await clone({ runsDir: copy, remote: await open() });
  const got = runFiles(copy);
  for (const [path, digest] of runFiles(origin)) assert.equal(got.get(path), digest, path);
});
