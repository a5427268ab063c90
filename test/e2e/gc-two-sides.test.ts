import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { SHARED_RUN } from "../sync/story.js";
import { runFiles } from "../sync/two-sides.js";

const tmp = tempDir("gage-gc-two-cli-");
after(() => tmp.cleanup());
const OTHER_RUN = "c21299fd-4f2b-401b-aee7-33485158bad3";

function writeRunFile(runsDir: string, runId: string, name: string, data: Buffer): void {
  const dir = join(runsDir, runId);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, name), data);
}

// Issue 13's steps as a second team member takes them: B's kept copy of an index gc trimmed must
// not make B's push skip the bytes gc dropped.
test("gage push after gage gc trimmed an index B kept a copy of: a fresh clone is whole", async () => {
  const root = join(tmp.path, "story");
  mkdirSync(root);
  const a = unpackFixtureRuns(root);
  const remote = join(root, "remote");
  const b = join(root, "b");
  const big = randomBytes(50_000);
  writeRunFile(a, SHARED_RUN, "big.bin", big);
  let r = await gage(["push", remote, "-y"], { env: { GAGE_RUNS: a } });
  assert.equal(r.code, 0, r.stderr);
  r = await gage(["clone", remote, b], { env: { GAGE_RUNS: b } });
  assert.equal(r.code, 0, r.stderr);
  writeRunFile(a, SHARED_RUN, "big.bin", randomBytes(50_000));
  assert.equal((await gage(["push", remote, "-y"], { env: { GAGE_RUNS: a } })).code, 0);
  r = await gage(["gc", remote, "-y", "--grace", "0"], { env: { GAGE_RUNS: a } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /Dropped unreachable objects from the index of 1 pack/);

  writeRunFile(b, OTHER_RUN, "big-again.bin", big);
  r = await gage(["push", "-y"], { env: { GAGE_RUNS: b } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /^Pushed 1 run \([^)]*, [2-9] objects/m, "the bytes gc dropped are uploaded again");

  const c = join(root, "c");
  r = await gage(["clone", remote, c], { env: { GAGE_RUNS: c } });
  assert.equal(r.code, 0, r.stderr);
  // B then takes A's new big.bin: both sides and the fresh clone hold the same files.
  assert.equal((await gage(["pull", "-y"], { env: { GAGE_RUNS: b } })).code, 0);
  const [fromClone, fromB] = [runFiles(c), runFiles(b)];
  const differ = [...new Set([...fromClone.keys(), ...fromB.keys()])].filter((k) => fromClone.get(k) !== fromB.get(k));
  assert.deepEqual(differ, [], "a fresh clone is identical to the pusher's files");
  r = await gage(["gc", remote, "-y", "--grace", "0"], { env: { GAGE_RUNS: a } });
  assert.equal(r.code, 0, r.stderr);
});
