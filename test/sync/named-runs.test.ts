import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { listRuns } from "../../src/runs/run.js";
import { RunNotFoundError } from "../../src/runs/errors.js";
import { listRemoteRuns, push } from "../../src/sync/index.js";
import { countedIndexReads } from "../helpers/counted-storage.js";
import { mkfifoAt } from "../helpers/fixtures.js";
import { DELETED_RUN, freshCases, SHARED_RUN } from "./story.js";

const fresh = freshCases("gage-sync-named-");

/** Spoils two runs the tests never name: a FIFO where a timestamp belongs, and a meta schema from the future. */
function spoilOthers(runsDir: string): void {
  const fifoRun = "17847a1d-febc-4c61-ba8f-78ed289ebb71";
  rmSync(join(runsDir, `${fifoRun}.meta`, "started"), { force: true });
  mkfifoAt(join(runsDir, `${fifoRun}.meta`, "started"));
  writeFileSync(join(runsDir, "25950538-8c39-4df4-91be-b31d8388d528.meta", "__schema__"), "9");
}

test("a push of runs named by id, id prefix or name reads only those runs' metadata", async () => {
  const { origin, remote } = fresh();
  spoilOthers(origin);
  // A push of every run stops at the FIFO: its metadata is read once that run moves.
  await assert.rejects(listRuns(origin), { code: "UNSAFE_PATH" });
  const warnings: string[] = [];
  const onWarning = (m: string) => warnings.push(m);
  const pushed = await push({ runsDir: origin, remote, runs: [SHARED_RUN], onWarning });
  assert.deepEqual(pushed.runs.map((r) => [r.id, r.label, r.what]), [[SHARED_RUN, "Something to share", "new"]]);
  const more = await push({ runsDir: origin, remote, runs: ["55e7", "zuzar", SHARED_RUN], onWarning });
  assert.deepEqual(more.runs.map((r) => r.name.slice(0, 5)), ["zuzar", "jilol"], "newest first; the one pushed already is up to date");
  assert.equal(more.upToDate, 1);
  // A deleted run named by its id is pushed; one no spec matches still fails as it did.
  assert.deepEqual((await push({ runsDir: origin, remote, runs: [DELETED_RUN.slice(0, 8)], onWarning })).runs.map((r) => r.id), [DELETED_RUN]);
  await assert.rejects(push({ runsDir: origin, remote, runs: ["nope"] }), (e: unknown) => e instanceof RunNotFoundError && e.message === "No runs match 'nope'");
  assert.deepEqual(warnings, []);
  assert.deepEqual((await listRemoteRuns({ runsDir: origin, remote })).map((r) => r.id).sort(), [DELETED_RUN, "55e771fb-8eb0-4cfd-88b5-8a25505e078e", "ffcb9078-ed64-41f7-8fc4-9d3328700bf7", SHARED_RUN].sort());
});

test("a push naming a spoiled run warns and skips it as a listing does; an index still reads every run", async () => {
  const { origin, remote } = fresh();
  spoilOthers(origin);
  const warnings: string[] = [];
  await assert.rejects(push({ runsDir: origin, remote, runs: ["25950538"], onWarning: (m) => warnings.push(m) }), RunNotFoundError);
  assert.match(warnings.join("\n"), /Skipping run in .*25950538-8c39-4df4-91be-b31d8388d528\.meta: Unsupported meta schema "9"/);
  await assert.rejects(push({ runsDir: origin, remote, runs: ["1"] }), { code: "UNSAFE_PATH" });
});

test("a push naming a run the remote holds checks it against the indexes of the packs its entry hints at", async () => {
  const { origin, remote } = fresh();
  for (const run of [SHARED_RUN, "55e771fb-8eb0-4cfd-88b5-8a25505e078e", "ffcb9078-ed64-41f7-8fc4-9d3328700bf7"]) await push({ runsDir: origin, remote, runs: [run] });
  // Without its caches (kept indexes included), the directory compares the run anew.
  rmSync(join(origin, ".gage-sync"), { recursive: true });
  const { storage, indexReads } = await countedIndexReads(remote);
  const again = await push({ runsDir: origin, remote: storage, runs: ["mivut"] });
  assert.deepEqual([again.runs.length, again.upToDate], [0, 1]);
  assert.equal(indexReads.length, 1, "the index of the run's own pack, not the remote's three");
  await storage.close();
});
