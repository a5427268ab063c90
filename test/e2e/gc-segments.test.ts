import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";

// A folder remote whose catalogs are cut into segments of 20 runs: a dry run counts the segments
// gc would remove, and the gc that follows removes exactly those.

const MAKE_TINY_RUNS = fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url));
const tmp = tempDir("gage-gc-segments-");
after(() => tmp.cleanup());
const runs = join(tmp.path, "runs");
const remote = join(tmp.path, "remote");
const env = { GAGE_RUNS: runs, GAGE_CATALOG_SEGMENT_RUNS: "20" };

interface GcJson {
  dryRun: boolean;
  result: { catalogs: { removed: number; written: boolean }; segments: { removed: number; removedBytes: number } };
}

const segmentFiles = () => new Map(readdirSync(join(remote, "segments")).map((n) => [n, statSync(join(remote, "segments", n)).size]));

async function gcJson(...args: string[]): Promise<GcJson> {
  const r = await gage(["gc", remote, "--json", ...args], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as GcJson;
}

before(async () => {
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", runs, "--runs", "200"]);
  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);
  // The first catalog: ten segments of 20 runs, and the copy of the newest runs.
  assert.equal((await gcJson("--grace", "0", "-y")).result.catalogs.written, true);
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", runs, "--runs", "30", "--start-index", "200", "--seed", "2"]);
  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);
});

test("gc --dry-run counts the segments of the catalogs it would replace; gc then removes exactly those", async () => {
  const before = segmentFiles();
  const dry = await gcJson("--grace", "0", "--dry-run");
  assert.equal(dry.dryRun, true);
  assert.deepEqual(segmentFiles(), before, "a dry run removes nothing");
  assert.equal(dry.result.catalogs.removed, 1);
  // New runs fall into most ranges: those ranges' old segments are named by no catalog left.
  assert.ok(dry.result.segments.removed > 1, `segments counted: ${dry.result.segments.removed}`);

  const done = await gcJson("--grace", "0", "-y");
  const after = segmentFiles();
  const gone = [...before.keys()].filter((n) => !after.has(n));
  assert.equal(gone.length, dry.result.segments.removed, "the dry run counted what gc removed");
  assert.equal(done.result.segments.removed, gone.length);
  const bytes = gone.reduce((n, k) => n + before.get(k)!, 0);
  assert.equal(dry.result.segments.removedBytes, bytes);
  assert.equal(done.result.segments.removedBytes, bytes);
  assert.ok(after.size >= 11, "the new catalog's segments are there");
  const check = await gage(["verify", remote], { env });
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

test("a segment no catalog names is counted and removed once older than the grace period, a young one is kept", async () => {
  const old = join(remote, "segments", "ab".repeat(32));
  const young = join(remote, "segments", "cd".repeat(32));
  // What a catalog writer stopped before its root leaves: one two days ago, one now.
  writeFileSync(old, "x".repeat(100));
  writeFileSync(young, "y".repeat(50));
  const twoDays = new Date(Date.now() - 2 * 86_400_000);
  utimesSync(old, twoDays, twoDays);

  const dry = await gcJson("--dry-run");
  assert.deepEqual(dry.result.segments, { removed: 1, removedBytes: 100 });
  const text = await gage(["gc", remote, "--dry-run"], { env });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Would remove 0 packs \(0 B\), 0 heads, 0 catalogs and 1 catalog segment \(100 B\); [\d,]+ objects kept\n/);

  const r = await gage(["gc", remote, "-y"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Removed 0 packs \(0 B\), 0 heads, 0 catalogs and 1 catalog segment \(100 B\);/);
  const left = segmentFiles();
  assert.ok(!left.has("ab".repeat(32)));
  assert.ok(left.has("cd".repeat(32)));
});
