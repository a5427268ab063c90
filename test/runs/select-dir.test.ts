import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RunNotFoundError, RunSpecError } from "../../src/runs/errors.js";
import { listRuns, type Run } from "../../src/runs/run.js";
import { selectByNames } from "../../src/runs/select-dir.js";
import { matchRunSpec } from "../../src/runs/select.js";
import { makeRun, RUN_A, RUN_B } from "../helpers/make-runs.js";
import { mkfifoAt, tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

const ids = (rs: readonly Run[]) => rs.map((r) => r.id);

/** The selection a push made from the full listing: live runs by spec, else deleted ones by prefix. */
async function fromFullListing(runsDir: string, specs: string[]): Promise<string[]> {
  const live = await listRuns(runsDir);
  const deleted = await listRuns(runsDir, { deleted: true });
  const chosen = new Set<Run>();
  for (const spec of specs) {
    let matched = matchRunSpec(live, spec);
    if (matched.length === 0) matched = deleted.filter((r) => r.id.startsWith(spec) || r.name.startsWith(spec));
    if (matched.length === 0) throw new RunNotFoundError(spec);
    for (const r of matched) chosen.add(r);
  }
  return ids([...live, ...deleted].filter((r) => chosen.has(r)));
}

describe("runs named by id or name prefix, found from the folder names", () => {
  let dir: ReturnType<typeof tempDir>;
  let runsDir: string;
  before(() => {
    dir = tempDir();
    runsDir = unpackFixtureRuns(dir.path);
  });
  after(() => dir.cleanup());

  test("select what the full listing selects, in its order", async () => {
    const cases = [
      ["87bd998b-bf53-4585-9afb-cc19b62871d8"],
      ["87bd"],
      ["mivut"],
      ["mivut-nokar"],
      ["zuz", "55e7"],
      ["17847"], // an integer past the run count: an id prefix
      ["360"],
      ["0dcb788a"], // a deleted run, named
      ["8d", "87bd", "8d2"], // overlapping prefixes, each run once
      ["c", "f"],
      ["m"], // a name prefix two runs share: both
    ];
    for (const specs of cases) {
      const got = await selectByNames(runsDir, specs, { deletedToo: true });
      assert.ok(got !== undefined, `${specs.join(" ")} is decided by names`);
      assert.deepEqual(ids([...got.live, ...got.deleted]), await fromFullListing(runsDir, specs), specs.join(" "));
    }
  });

  test("indexes and slices need the full listing", async () => {
    for (const specs of [["1"], ["9"], ["2:4"], [":2"], ["87bd", "-2:"]]) {
      assert.equal(await selectByNames(runsDir, specs, { deletedToo: true }), undefined, specs.join(" "));
    }
    assert.equal(await selectByNames(runsDir, []), undefined);
  });

  test("an unknown spec and an empty one fail as before; a deleted run needs deletedToo", async () => {
    await assert.rejects(selectByNames(runsDir, ["87bd", "nope"]), (e: unknown) => e instanceof RunNotFoundError && e.message === "No runs match 'nope'");
    await assert.rejects(selectByNames(runsDir, [" "]), RunSpecError);
    await assert.rejects(selectByNames(runsDir, ["0dcb788a"]), RunNotFoundError);
  });
});

describe("other runs' metadata is never read", () => {
  test("a FIFO, an unknown schema or a stray folder elsewhere does not stop or warn about a named run", async () => {
    const dir = tempDir();
    try {
      const runsDir = dir.path;
      makeRun(runsDir, RUN_A, [["a.txt", "a"]], { label: "mine" });
      makeRun(runsDir, RUN_B, [["b.txt", "b"]]);
      const hostile = "dddddddd-4444-4444-8444-444444444444";
      makeRun(runsDir, hostile, [["d.txt", "d"]]);
      rmSync(join(runsDir, `${hostile}.meta`, "started"));
      mkfifoAt(join(runsDir, `${hostile}.meta`, "started"));
      const future = "eeeeeeee-5555-4555-8555-555555555555";
      makeRun(runsDir, future, [["e.txt", "e"]]);
      writeFileSync(join(runsDir, `${future}.meta`, "__schema__"), "9");
      mkdirSync(join(runsDir, "not-a-run.meta"));
      // The full listing stops at the FIFO: reading it is refused.
      await assert.rejects(listRuns(runsDir), { code: "UNSAFE_PATH" });
      const warnings: string[] = [];
      for (const spec of [RUN_A, "aaaa", "popop"]) {
        const got = await selectByNames(runsDir, [spec], { onWarning: (m) => warnings.push(m), deletedToo: true });
        assert.deepEqual(ids(got!.live), [RUN_A], spec);
        assert.equal(got!.live[0]!.label, "mine");
      }
      assert.equal(warnings.length, 0, warnings.join("\n"));
      // A named run whose own meta is unreadable is skipped with the listing's warning.
      await assert.rejects(selectByNames(runsDir, ["eeee"], { onWarning: (m) => warnings.push(m) }), RunNotFoundError);
      assert.match(warnings.join("\n"), /Skipping run in .*eeeeeeee-5555-4555-8555-555555555555\.meta: Unsupported meta schema "9"/);
    } finally {
      dir.cleanup();
    }
  });
});
