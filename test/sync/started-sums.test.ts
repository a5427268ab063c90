import assert from "node:assert/strict";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { nativeListing } from "../../src/objects/index.js";
import { runPaths } from "../../src/runs/layout.js";
import { planPush, push, startRunSums, status, type SyncOptions } from "../../src/sync/index.js";
import { makeRun } from "../helpers/make-runs.js";
import { freshCases, SHARED_RUN } from "./story.js";

// The `gage` command starts summing up every run's folders before it loads (src/cli/bin.ts); a
// push, pull or status of that runs directory takes those sums (sync/started-sums.ts). These
// tests check which sums a plan takes, and that what it takes hides nothing from the next one.

const fresh = freshCases("gage-sync-started-sums-");

/** A clock past the racy window of every file the fixture made: in-sync rows may be kept. */
const settled = () => Date.now() + 10_000;

/** Sums started for `dir` now; none without the native addon (the plans then sum up their own). */
function start(dir: string) {
  const started = startRunSums(dir, { threads: 2, nowMs: settled() });
  assert.equal(started === undefined, !nativeListing);
  return started;
}

async function moving(opts: SyncOptions): Promise<string[]> {
  const plan = await planPush(opts);
  await plan.close();
  return plan.runs.map((r) => r.id).sort();
}

test("a push takes the sums started for its runs directory: it compares the runs as they were then, and the next push sends what changed since", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const started = start(origin);
  if (started === undefined) return;
  assert.ok(started.runIds.includes(SHARED_RUN));
  await started.sums;
  writeFileSync(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('changed after the sums were taken')\n", { mode: 0o644 });

  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled, startedSums: started }), []);
  const compared = await status({ runsDir: origin, remote, now: settled, startedSums: started });
  assert.equal(compared.runs.find((r) => r.id === SHARED_RUN)?.state, "in sync");
  // Sums of its own find the change: nothing the started sums missed is lost.
  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled }), [SHARED_RUN]);
  await push({ runsDir: origin, remote, now: settled });
  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled }), []);
});

test("sums started for another runs directory are not taken", async () => {
  const { root, origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const copy = join(root, "copy");
  cpSync(origin, copy, { recursive: true });
  const elsewhere = start(copy);
  if (elsewhere === undefined) return;
  await elsewhere.sums;
  writeFileSync(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('changed here')\n", { mode: 0o644 });
  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled, startedSums: elsewhere }), [SHARED_RUN]);
});

test("a run made after the sums started is summed up by the plan and pushed; the next push finds it in sync", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const started = start(origin);
  if (started === undefined) return;
  const late = "5f1d3c2a-9b8e-4c7d-8a6f-0e1d2c3b4a59";
  makeRun(origin, late, [["train.py", "print('late')\n"]]);
  assert.equal(started.runIds.includes(late), false);
  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled, startedSums: started }), [late]);
  await push({ runsDir: origin, remote, now: settled, startedSums: started });
  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled }), []);
});

test("a push of one named run sums that run alone: it does not wait for sums started for every run", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote, now: settled });
  const started = start(origin);
  if (started === undefined) return;
  assert.ok(started.runIds.length > 2, "the fixture holds more than two runs");
  await started.sums;
  writeFileSync(join(runPaths(origin, SHARED_RUN).runDir, "hello.py"), "print('changed after the sums were taken')\n", { mode: 0o644 });
  // Its own sums see the change that the started ones, taken before it, do not.
  assert.deepEqual(await moving({ runsDir: origin, remote, now: settled, runs: [SHARED_RUN], startedSums: started }), [SHARED_RUN]);
});
