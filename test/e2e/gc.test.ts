import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { SHARED_RUN } from "../sync/story.js";

const tmp = tempDir("gage-gc-cli-");
after(() => tmp.cleanup());

test("gage gc: confirmation, dry run, summary, --json, and the remote lists and clones as before", async () => {
  const root = join(tmp.path, "story");
  mkdirSync(root);
  const a = unpackFixtureRuns(root);
  const remote = join(root, "remote");
  const env = { GAGE_RUNS: a };
  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);
  const file = join(a, SHARED_RUN, "hello.py");
  chmodSync(file, 0o644);
  writeFileSync(file, "print('changed')\n");
  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);
  // What a push killed before writing its pack's index leaves, two days ago.
  const orphan = join(remote, "packs", `${"ab".repeat(32)}.pack`);
  writeFileSync(orphan, "GAGEPACK");
  const old = new Date(Date.now() - 2 * 86_400_000);
  utimesSync(orphan, old, old);
  const listed = await gage(["ls", "-s", "--remote", remote], { env });

  let r = await gage(["gc", remote], { env });
  assert.equal(r.code, 2, "no terminal to confirm on: asks for -y");
  assert.match(r.stderr, /-y/);

  r = await gage(["gc", remote, "--dry-run"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Would remove 1 pack \(8 B\), 0 heads, 0 catalogs; [\d,]+ objects kept\n/);
  assert.equal(r.stderr, "Dry run: nothing was removed\n");
  assert.ok(readdirSync(join(remote, "packs")).includes(`${"ab".repeat(32)}.pack`));

  r = await gage(["gc", remote, "--grace", "0", "-y"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Removed 1 pack \(8 B\), 0 heads, 0 catalogs; [\d,]+ objects kept\nWrote a catalog holding every head\nDropped unreachable objects from the index of 1 pack\n/);
  assert.ok(!readdirSync(join(remote, "packs")).includes(`${"ab".repeat(32)}.pack`));

  r = await gage(["gc", remote, "--grace", "0", "-y", "--json"], { env });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { remote: string; dryRun: boolean; result: { packs: { removed: number; kept: number }; objects: { kept: number } } };
  assert.equal(doc.remote, remote);
  assert.equal(doc.dryRun, false);
  assert.equal(doc.result.packs.removed, 0);
  assert.ok(doc.result.objects.kept > 100 && doc.result.packs.kept === 2);

  r = await gage(["gc", remote, "-y"], { env });
  assert.equal(r.stderr, `Nothing to remove from ${remote}; ${doc.result.objects.kept.toLocaleString("en-US")} objects kept\n`);

  assert.deepEqual(await gage(["ls", "-s", "--remote", remote], { env }), listed, "the remote lists as before");
  const b = join(root, "b");
  assert.equal((await gage(["clone", remote, b], {})).code, 0);
  r = await gage(["gc", "--dry-run", "--grace", "2h"], { env: { GAGE_RUNS: b } });
  assert.equal(r.code, 0, "the default remote, set by clone");
  r = await gage(["select", SHARED_RUN.slice(0, 8), "--label"], { env: { GAGE_RUNS: b } });
  assert.equal(r.code, 0);
});

test("gage gc: bad grace, no remote, and a store missing objects", async () => {
  const root = join(tmp.path, "errors");
  mkdirSync(root);
  const a = unpackFixtureRuns(root);
  const remote = join(root, "remote");
  const env = { GAGE_RUNS: a };
  let r = await gage(["gc", remote, "--grace", "1x", "-y"], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Bad duration '1x'/);
  r = await gage(["gc", "-y"], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /default remote/);

  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);
  const pack = readdirSync(join(remote, "packs")).find((n) => n.endsWith(".pack"))!;
  rmSync(join(remote, "packs", pack));
  r = await gage(["gc", remote, "-y", "--grace", "0", "--json"], { env });
  assert.equal(r.code, 3);
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, "STORE_INCOMPLETE");
  assert.match(r.stderr, /missing/);
  assert.ok(readdirSync(join(remote, "packs")).length > 0, "nothing removed");
});
