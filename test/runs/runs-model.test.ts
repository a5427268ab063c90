import assert from "node:assert/strict";
import { chmod, mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RunIdError } from "../../src/runs/errors.js";
import { runPaths } from "../../src/runs/layout.js";
import { runName } from "../../src/runs/name.js";
import { readProjectRef, removeProjectRef, writeProjectRef } from "../../src/runs/project-ref.js";
import { pythonJsonDumps } from "../../src/runs/py-json.js";
import { deriveStatus, listRuns, readRun } from "../../src/runs/run.js";
import { resolveRunsDir } from "../../src/runs/runs-dir.js";
import { appendUserLog, applyUserLog, logIdTimestamp, newLogId, readUserLog } from "../../src/runs/user-log.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

// What Python Gage's `gage ls` shows for the fixtures (fixtures/README.md), newest first.
const FIXTURE_LS = [
  ["8d247ec2-d50e-4ada-bab6-cae8ad850083", "muhoh-luraf", "proj:hello", "staged", undefined],
  ["17847a1d-febc-4c61-ba8f-78ed289ebb71", "divah-lomit", "proj:hello", "completed", undefined],
  ["25950538-8c39-4df4-91be-b31d8388d528", "fikij-bihum", "proj:hello", "completed", "Grüße — 日本語 ✓"],
  ["ffcb9078-ed64-41f7-8fc4-9d3328700bf7", "zuzar-nadum", "proj:bigfile", "completed", "Generated files"],
  ["69696b1b-7b85-46e5-9ebc-6bcdaf57ddc1", "kojon-kosir", "proj:hello", "completed", undefined],
  ["c21299fd-4f2b-401b-aee7-33485158bad3", "samif-nolut", "proj:hello", "completed", "Label v3"],
  ["55e771fb-8eb0-4cfd-88b5-8a25505e078e", "jilol-lalur", "proj:fail", "error", "Expected failure"],
  ["87bd998b-bf53-4585-9afb-cc19b62871d8", "mivut-nokar", "proj:hello", "completed", "Something to share"],
  ["360b9788-5f7e-4028-8eb1-6b97639c09ea", "gimar-nivam", "proj:hello", "completed", undefined],
] as const;
const DELETED_ID = "0dcb788a-e588-4173-9637-74a8deba065a";

describe("runs directory basics", () => {
  test("resolveRunsDir: GAGE_RUNS, then RUNS_HOME, then ~/.gage/runs", () => {
    assert.equal(resolveRunsDir({ GAGE_RUNS: "/a", RUNS_HOME: "/b" }, "/home/u"), "/a");
    assert.equal(resolveRunsDir({ GAGE_RUNS: "", RUNS_HOME: "/b" }, "/home/u"), "/b");
    assert.equal(resolveRunsDir({}, "/home/u"), "/home/u/.gage/runs");
  });

  test("deriveStatus: exit code, then lock, staged, initialized", () => {
    const s = (exitCode: number | undefined, locked = false, staged = false, initialized = false) =>
      deriveStatus({ exitCode, locked, staged, initialized });
    assert.deepEqual(
      [s(0, true, true, true), s(1), s(-15), s(undefined, true, true, true), s(undefined, false, true, true), s(undefined, false, false, true), s(undefined)],
      ["completed", "error", "terminated", "running", "staged", "pending", "unknown"],
    );
  });

  test("runPaths names the four sibling entries, and only for a run id", () => {
    const id = "882cb503-0000-4000-8000-000000000000";
    assert.deepEqual(runPaths("/r", id), {
      id,
      runDir: `/r/${id}`,
      metaDir: `/r/${id}.meta`,
      deletedMetaDir: `/r/${id}.meta.deleted`,
      userDir: `/r/${id}.user`,
      projectFile: `/r/${id}.project`,
    });
    for (const bad of ["abc", "0123abcd/../../NAME", "../882cb503-0000-4000-8000-000000000000", "882CB503-0000-4000-8000-000000000000", ""]) {
      assert.throws(() => runPaths("/r", bad), RunIdError, bad);
    }
  });

  test("runName is the proquint of the first 32 bits", () => {
    assert.equal(runName("882cb503-0000-4000-8000-000000000000"), "mobos-rihag");
    for (const [id, name] of FIXTURE_LS) assert.equal(runName(id), name);
    assert.equal(runName(DELETED_ID), "bular-lofap");
    assert.equal(runName("00000000"), "babab-babab");
    assert.equal(runName("ffffffff"), "zuzuz-zuzuz");
    assert.throws(() => runName("xyz"), TypeError);
  });

  test("newLogId: ms timestamp first, version 4, variant 10xx", () => {
    const id = newLogId(0x01a216cce43c, () => new Uint8Array(10).fill(0xff));
    assert.equal(id, "01a216cc-e43c-4fff-bfff-ffffffffffff");
    assert.equal(logIdTimestamp(id), 0x01a216cce43c);
    const zero = newLogId(1, () => new Uint8Array(10));
    assert.equal(zero, "00000000-0001-4000-8000-000000000000");
    assert.match(newLogId(Date.now()), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("pythonJsonDumps matches Python json.dumps defaults", () => {
    assert.equal(
      pythonJsonDumps({ author: "root", set: { label: "Grüße — 日本語 ✓" }, delete: [] }),
      '{"author": "root", "set": {"label": "Gr\\u00fc\\u00dfe \\u2014 \\u65e5\\u672c\\u8a9e \\u2713"}, "delete": []}',
    );
    assert.equal(pythonJsonDumps(["a\n\"\\", 1, true, null, "\x7f", "😀"]), '["a\\n\\"\\\\", 1, true, null, "\\u007f", "\\ud83d\\ude00"]');
  });
});

describe("fixture runs (written by Python Gage)", () => {
  let dir: ReturnType<typeof tempDir>;
  let runsDir: string;
  before(() => {
    dir = tempDir();
    runsDir = unpackFixtureRuns(dir.path);
  });
  after(() => dir.cleanup());

  test("listRuns: order, name, operation, status and label as Gage shows them", async () => {
    const warnings: string[] = [];
    const runs = await listRuns(runsDir, { onWarning: (m) => warnings.push(m) });
    assert.deepEqual(
      runs.map((r) => [r.id, r.name, r.operation, r.status, r.label]),
      FIXTURE_LS.map((row) => [...row]),
    );
    assert.deepEqual(warnings, []);
    assert.ok(runs.every((r) => !r.deleted));
  });

  test("timestamps are epoch microseconds; the staged run has no started", async () => {
    const staged = await readRun(runsDir, FIXTURE_LS[0][0]);
    assert.equal(staged.timestamps.initialized, 1795678970259633);
    assert.equal(staged.timestamps.staged, 1795678970272623);
    assert.equal(staged.timestamps.started, undefined);
    const done = await readRun(runsDir, FIXTURE_LS[1][0]);
    assert.equal(done.timestamps.stopped, 1795678967219838);
    assert.deepEqual(done.opref, { ns: "proj", name: "hello" });
  });

  test("user attributes: cleared label, comments, last label wins", async () => {
    const cleared = await readRun(runsDir, "17847a1d-febc-4c61-ba8f-78ed289ebb71");
    assert.deepEqual(cleared.attrs, {});
    assert.equal(cleared.label, undefined);
    const commented = await readRun(runsDir, "69696b1b-7b85-46e5-9ebc-6bcdaf57ddc1");
    assert.deepEqual(commented.attrs, {
      "comment:01a216ce-7a92": { msg: "First comment", timestamp: 1795678960274 },
      "comment:01a216ce-7ff0": { msg: "Second comment with **markdown**", timestamp: 1795678961648 },
    });
    const log = await readUserLog(runPaths(runsDir, "c21299fd-4f2b-401b-aee7-33485158bad3").userDir);
    assert.deepEqual(log.map((e) => e.entry.set.label), ["Label v1", "Label v2", "Label v3"]);
    assert.equal(log[0]!.entry.author, "root");
  });

  test("deleted runs are listed only with deleted: true", async () => {
    const deleted = await listRuns(runsDir, { deleted: true });
    assert.deepEqual(
      deleted.map((r) => [r.id, r.name, r.status, r.label, r.deleted]),
      [[DELETED_ID, "bular-lofap", "completed", "Deleted run", true]],
    );
    await assert.rejects(readRun(runsDir, DELETED_ID, { deleted: false }), { code: "RUN_NOT_FOUND" });
    assert.equal((await readRun(runsDir, DELETED_ID)).deleted, true);
  });

  test("project dir from ID.project", async () => {
    for (const [id] of FIXTURE_LS) {
      assert.equal(await readProjectRef(runPaths(runsDir, id).projectFile), "/home/gage/projects/proj");
    }
  });

  test("a label set here is read back, in Gage's file shape, name and mode", async () => {
    const id = "87bd998b-bf53-4585-9afb-cc19b62871d8";
    const { userDir } = runPaths(runsDir, id);
    const before = await readdir(userDir);
    const nowMs = Date.UTC(2026, 10, 26, 9, 0, 0);
    const name = await appendUserLog(userDir, { set: { label: "Just an example ✓" } }, { author: "alice", nowMs });
    assert.match(name, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json$/);
    assert.ok(name > before.sort().at(-1)!, "sorts after the existing entries");
    assert.equal(logIdTimestamp(name), nowMs);
    assert.deepEqual((await readdir(userDir)).sort(), [...before, name].sort(), "no temp file left");
    const text = await readFile(join(userDir, name), "utf8");
    assert.equal(text, '{"author": "alice", "set": {"label": "Just an example \\u2713"}, "delete": []}');
    assert.equal((await stat(join(userDir, name))).mode & 0o777, 0o444);
    const run = await readRun(runsDir, id);
    assert.equal(run.label, "Just an example ✓");
    assert.equal((await listRuns(runsDir))[7]!.label, "Just an example ✓");
  });
});

describe("user log", () => {
  test("names strictly increase within one millisecond and after existing entries", async () => {
    const dir = tempDir();
    try {
      const userDir = join(dir.path, "x.user");
      const names: string[] = [];
      for (let i = 0; i < 5; i++) {
        names.push(await appendUserLog(userDir, { set: { n: i } }, { author: "u", nowMs: 1000 }));
      }
      assert.deepEqual([...names].sort(), names);
      assert.equal(new Set(names.map(logIdTimestamp)).size, 5);
      // An entry from a machine whose clock ran ahead: a later local change still sorts after it.
      const ahead = newLogId(9_000_000_000_000);
      await writeFile(join(userDir, `${ahead}.json`), '{"author": "b", "set": {"label": "theirs"}, "delete": []}');
      const mine = await appendUserLog(userDir, { set: { label: "mine" } }, { author: "u", nowMs: 2000 });
      assert.ok(mine > `${ahead}.json`);
      const entries = await readUserLog(userDir);
      assert.equal(applyUserLog(entries).label, "mine");
      await appendUserLog(userDir, { delete: ["label"] }, { author: "u", nowMs: 3000 });
      assert.equal(applyUserLog(await readUserLog(userDir)).label, undefined);
    } finally {
      dir.cleanup();
    }
  });

  test("missing dir is an empty log; missing author is __unknown__; bad entries throw or warn", async () => {
    const dir = tempDir();
    try {
      assert.deepEqual(await readUserLog(join(dir.path, "none")), []);
      await writeFile(join(dir.path, "01.json"), '{"set": {"a": 1}}');
      await writeFile(join(dir.path, "02.json"), "not json");
      await writeFile(join(dir.path, "03.txt"), "ignored");
      await assert.rejects(readUserLog(dir.path), { code: "RUN_META" });
      const warnings: string[] = [];
      const entries = await readUserLog(dir.path, { onWarning: (m) => warnings.push(m) });
      assert.deepEqual(entries, [{ name: "01.json", entry: { author: "__unknown__", set: { a: 1 }, delete: [] } }]);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /02\.json/);
    } finally {
      dir.cleanup();
    }
  });
});

describe("project ref", () => {
  test("write, read, remove", async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "r.project");
      assert.equal(await readProjectRef(file), undefined);
      await writeProjectRef(file, dir.path);
      assert.equal(await readFile(file, "utf8"), `file:${dir.path}`);
      assert.equal((await stat(file)).mode & 0o777, 0o644);
      assert.equal(await readProjectRef(file), dir.path);
      // Gage writes a path relative to the runs directory when the project contains it.
      await chmod(file, 0o644);
      await writeFile(file, "file:..");
      assert.equal(await readProjectRef(file), join(dir.path, ".."));
      await writeFile(file, "http://x");
      await assert.rejects(readProjectRef(file), { code: "RUN_META" });
      await removeProjectRef(file);
      await removeProjectRef(file);
      assert.equal(await readProjectRef(file), undefined);
    } finally {
      dir.cleanup();
    }
  });
});

describe("broken runs are skipped with a warning", () => {
  test("unknown schema, unreadable opref, missing runs dir", async () => {
    const dir = tempDir();
    try {
      const runsDir = unpackFixtureRuns(dir.path);
      const schemaRun = runPaths(runsDir, "c21299fd-4f2b-401b-aee7-33485158bad3");
      await chmod(schemaRun.metaDir, 0o755);
      await chmod(join(schemaRun.metaDir, "__schema__"), 0o644);
      await writeFile(join(schemaRun.metaDir, "__schema__"), "2");
      const noOpref = runPaths(runsDir, "360b9788-5f7e-4028-8eb1-6b97639c09ea");
      await chmod(noOpref.metaDir, 0o755);
      await rename(join(noOpref.metaDir, "opref"), join(noOpref.metaDir, "opref.bak"));
      await mkdir(join(runsDir, "junk.meta"));
      const warnings: string[] = [];
      const runs = await listRuns(runsDir, { onWarning: (m) => warnings.push(m) });
      assert.equal(runs.length, 7);
      assert.equal(warnings.length, 3);
      assert.ok(warnings.some((w) => w.includes(schemaRun.metaDir)));
      assert.ok(warnings.some((w) => w.includes(noOpref.metaDir)));
      await assert.rejects(readRun(runsDir, schemaRun.id), { code: "RUN_META" });
      await assert.rejects(listRuns(join(dir.path, "missing")), { code: "RUNS_DIR" });
    } finally {
      dir.cleanup();
    }
  });
});
