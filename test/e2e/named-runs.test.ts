import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { exitCodeFor } from "../../src/cli/exit-codes.js";
import { gage } from "../helpers/cli.js";
import { mkfifoAt, tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

const SHARED = "87bd998b-bf53-4585-9afb-cc19b62871d8"; // mivut-nokar, label "Something to share"

describe("a run named on the command line is read alone", () => {
  let tmp: ReturnType<typeof tempDir>;
  let runsDir: string;
  before(() => {
    tmp = tempDir("gage-e2e-named-");
    runsDir = unpackFixtureRuns(tmp.path);
    // Two runs no test names: a FIFO where a timestamp belongs (reading it is refused) and a
    // meta schema from the future (skipped with a warning by a listing).
    const fifoRun = "17847a1d-febc-4c61-ba8f-78ed289ebb71";
    rmSync(join(runsDir, `${fifoRun}.meta`, "started"));
    mkfifoAt(join(runsDir, `${fifoRun}.meta`, "started"));
    writeFileSync(join(runsDir, "25950538-8c39-4df4-91be-b31d8388d528.meta", "__schema__"), "9");
  });
  after(() => tmp.cleanup());

  const run = (...args: string[]) => gage(args, { env: { GAGE_RUNS: runsDir, COLUMNS: "80" } });

  test("select, show, comment --list and associate by id, id prefix or name", async () => {
    for (const spec of [SHARED, "87bd", "mivut", "mivut-nok"]) {
      const r = await run("select", spec);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${SHARED}\n`, ""], spec);
    }
    const label = await run("select", "--label", "mivut");
    assert.deepEqual([label.code, label.stdout, label.stderr], [0, "Something to share\n", ""]);
    const show = await run("show", "mivut");
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /Something to share/);
    assert.equal(show.stderr, "");
    const comments = await run("comment", "--list", "kojon", "mivut");
    assert.equal(comments.code, 0, comments.stderr);
    assert.equal(comments.stderr, "");
    const project = join(tmp.path, "proj");
    mkdirSync(project);
    const assoc = await run("associate", "mivut", project);
    assert.deepEqual([assoc.code, assoc.stdout], [0, `Associated "${SHARED}" with ${project}\n`]);
    const where = await run("select", "--where", "label~share", "mivut");
    assert.deepEqual([where.code, where.stdout], [0, `${SHARED}\n`]);
  });

  test("label, comment, delete and restore with -y by id or name", async () => {
    const label = await run("label", "--set", "renamed", "mivut", "-y");
    assert.deepEqual([label.code, label.stderr], [0, "Set label for 1 run\n"]);
    assert.equal((await run("select", "--label", SHARED)).stdout, "renamed\n");
    const comment = await run("comment", "-m", "a note", "87bd", "-y");
    assert.deepEqual([comment.code, comment.stderr], [0, "Added comment to run mivut-nokar\n"]);
    const deleted = await run("delete", "mivut-nokar", "-y");
    assert.deepEqual([deleted.code, deleted.stderr], [0, "Deleted 1 run\n"]);
    assert.equal((await run("select", "mivut")).code, exitCodeFor("RUN_NOT_FOUND"));
    const restored = await run("restore", "87bd998b", "-y");
    assert.deepEqual([restored.code, restored.stderr], [0, "Restored 1 run\n"]);
    assert.equal((await run("select", "mivut")).stdout, `${SHARED}\n`);
    const again = await run("label", "--set", "Something to share", SHARED, "-y");
    assert.equal(again.code, 0, again.stderr);
  });

  test("an ambiguous or unknown spec fails as before; an index still lists every run", async () => {
    const ambiguous = await run("select", "m");
    assert.equal(ambiguous.code, exitCodeFor("AMBIGUOUS_RUN"));
    assert.match(ambiguous.stderr, /'m' matches 2 runs:\n.*muhoh-luraf[\s\S]*mivut-nokar/);
    const unknown = await run("select", "nope");
    assert.equal(unknown.code, exitCodeFor("RUN_NOT_FOUND"));
    assert.match(unknown.stderr, /No runs match 'nope'/);
    const filtered = await run("select", "--where", "label=other", "mivut");
    assert.equal(filtered.code, exitCodeFor("RUN_NOT_FOUND"));
    assert.match(filtered.stderr, /No runs match 'mivut'/);
    // An index is a position in the whole listing: every run is read, and the FIFO refused.
    const index = await run("select", "1");
    assert.notEqual(index.code, 0);
    assert.match(index.stderr, /Refusing to read .*17847a1d-febc-4c61-ba8f-78ed289ebb71\.meta\/started/);
  });

  test("push REMOTE RUN sends the run named, past the runs it does not name", async () => {
    const remote = join(tmp.path, "remote");
    const r = await run("push", remote, "mivut", "-y");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Pushed 1 run/);
    assert.doesNotMatch(r.stderr, /Skipping|Warning/i);
  });
});
