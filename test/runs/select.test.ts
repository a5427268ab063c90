import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AmbiguousRunError, NothingSelectedError, RunNotFoundError, RunSpecError } from "../../src/runs/errors.js";
import { listRuns, type Run } from "../../src/runs/run.js";
import { parseWhere, selectOneRun, selectRuns } from "../../src/runs/select.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

describe("run specs on the fixture runs", () => {
  let dir: ReturnType<typeof tempDir>;
  let runs: Run[];
  const names = (rs: Run[]) => rs.map((r) => r.name.slice(0, 5));
  before(async () => {
    dir = tempDir();
    runs = await listRuns(unpackFixtureRuns(dir.path));
  });
  after(() => dir.cleanup());

  test("index, slices, prefixes", () => {
    assert.deepEqual(names(selectRuns(runs, ["1"])), ["muhoh"]);
    assert.deepEqual(names(selectRuns(runs, ["9"])), ["gimar"]);
    assert.deepEqual(names(selectRuns(runs, ["2:4"])), ["divah", "fikij", "zuzar"]);
    assert.deepEqual(names(selectRuns(runs, [":2"])), ["muhoh", "divah"]);
    assert.deepEqual(names(selectRuns(runs, ["8:"])), ["mivut", "gimar"]);
    assert.deepEqual(names(selectRuns(runs, ["-2:"])), ["mivut", "gimar"]);
    assert.deepEqual(names(selectRuns(runs, ["zuz", "55e7"])), ["zuzar", "jilol"]);
    assert.deepEqual(names(selectRuns(runs, ["3", "1", "3"])), ["muhoh", "fikij"], "list order, once each");
    assert.equal(selectRuns(runs, []).length, 9);
  });

  test("an integer that is no valid index is an id prefix", () => {
    assert.deepEqual(names(selectRuns(runs, ["17847"])), ["divah"]);
    assert.deepEqual(names(selectRuns(runs, ["360"])), ["gimar"]);
    assert.throws(() => selectRuns(runs, ["10"]), RunNotFoundError);
  });

  test("selectOneRun: default newest, errors typed", () => {
    assert.equal(selectOneRun(runs).name, "muhoh-luraf");
    assert.equal(selectOneRun(runs, "mivut-nokar").id, "87bd998b-bf53-4585-9afb-cc19b62871d8");
    assert.throws(() => selectOneRun(runs, "nope"), (e: unknown) => e instanceof RunNotFoundError && e.message === "No runs match 'nope'");
    assert.throws(
      () => selectOneRun(runs, "1:3"),
      (e: unknown) => e instanceof AmbiguousRunError && e.matches.length === 3 && e.message.includes("divah-lomit"),
    );
    assert.throws(() => selectOneRun(runs, " "), RunSpecError);
    assert.throws(() => selectOneRun([]), NothingSelectedError);
  });

  test("where: bare words as Gage, NAME=VALUE terms", () => {
    assert.deepEqual(names(runs.filter(parseWhere("fail"))), ["jilol"]);
    assert.deepEqual(names(runs.filter(parseWhere("staged"))), ["muhoh"]);
    assert.deepEqual(names(runs.filter(parseWhere("Label"))), ["samif"]);
    assert.deepEqual(names(runs.filter(parseWhere("operation=proj:bigfile"))), ["zuzar"]);
    assert.deepEqual(names(runs.filter(parseWhere("op=hello status!=completed"))), ["muhoh"]);
    assert.deepEqual(names(runs.filter(parseWhere('label="Something to share"'))), ["mivut"]);
    assert.deepEqual(names(runs.filter(parseWhere("label~日本"))), ["fikij"]);
    assert.deepEqual(names(runs.filter(parseWhere("comment:01a216ce-7a92~First"))), ["kojon"]);
    assert.throws(() => parseWhere("  "), { code: "USAGE" });
  });
});
