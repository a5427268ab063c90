import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { countingGets } from "../helpers/counting-storage.js";
import { tempDir } from "../helpers/fixtures.js";
import { openStorage } from "../../src/remotes/open.js";
import { nameRange, runName } from "../../src/runs/name.js";
import { emptyView, refreshView, writeCatalog } from "../../src/sync/heads.js";
import { idTable, SegmentTable } from "../../src/sync/segment-table.js";
import { listRemoteRuns, planPull } from "../../src/sync/index.js";

// A remote of 600 runs in 30 catalog segments: a pull of runs named by name or id prefix fetches
// the segments of the runs the names may match, and selects what a selection from every run does.

const RUNS = 600;
process.env.GAGE_CATALOG_SEGMENT_RUNS = "20";
const MAKE_TINY_RUNS = fileURLToPath(new URL("../../bench/make-tiny-runs.mjs", import.meta.url));
const tmp = tempDir("gage-named-remote-");
after(() => tmp.cleanup());
const origin = join(tmp.path, "origin");
const remote = join(tmp.path, "remote");
let ids: string[] = [];

before(async () => {
  execFileSync(process.execPath, [MAKE_TINY_RUNS, "--out", origin, "--runs", String(RUNS), "--ids", join(tmp.path, "ids")]);
  ids = readFileSync(join(tmp.path, "ids"), "utf8").split("\n").filter(Boolean);
  const { push } = await import("../../src/sync/index.js");
  await push({ runsDir: origin, remote });
  const storage = await openStorage(remote);
  const view = emptyView();
  await refreshView(storage, view);
  await writeCatalog(storage, view, Date.now());
  await storage.close();
});

let dirs = 0;
/** The runs a pull from a fresh directory would write, and the segments it fetched to know. */
async function planned(specs: string[], where?: string): Promise<{ ids: string[]; segments: number }> {
  const runsDir = join(tmp.path, `fresh-${++dirs}`);
  mkdirSync(runsDir);
  const storage = countingGets(await openStorage(remote));
  const plan = await planPull({ runsDir, remote: storage, runs: specs, ...(where === undefined ? {} : { where }) });
  await plan.close();
  return { ids: plan.runs.map((r) => r.id), segments: storage.gets.get("segments") ?? 0 };
}

/** What a selection from every run of the remote gives (the listing reads every segment). */
async function fromEveryRun(specs: string[], where?: string): Promise<string[]> {
  const runs = await listRemoteRuns({ runsDir: join(tmp.path, "lister"), remote, runs: specs, ...(where === undefined ? {} : { where }) });
  return runs.map((r) => r.id);
}

test("a name prefix is a range of ids: exactly the ids whose names start with it", () => {
  for (const id of ids.slice(0, 50)) {
    const name = runName(id);
    for (let len = 0; len <= name.length; len++) {
      const r = nameRange(name.slice(0, len))!;
      const top = Number.parseInt(id.slice(0, 8), 16);
      assert.ok(top >= r.lo && top <= r.hi, `${id} ${name.slice(0, len)}`);
    }
  }
  const inRange = (id: string, prefix: string) => {
    const r = nameRange(prefix);
    const top = Number.parseInt(id.slice(0, 8), 16);
    return r !== undefined && top >= r.lo && top <= r.hi;
  };
  for (const prefix of ["b", "ba", "bad", "bado", "badop", "badop-", "badop-z", "zuzuz-zuzuz"]) {
    assert.deepEqual(ids.filter((id) => inRange(id, prefix)), ids.filter((id) => runName(id).startsWith(prefix)), prefix);
  }
  for (const nothing of ["x", "a", "bb", "badopz", "badop-zuzuzu", "1"]) assert.equal(nameRange(nothing), undefined, nothing);
});

test("id prefixes of any length are found in the segments' tables", () => {
  const sorted = [...ids].sort();
  const refs = [];
  for (let i = 0; i < sorted.length; i += 20) {
    const part = sorted.slice(i, i + 20);
    refs.push({ key: `segments/${String(i).padStart(64, "0")}`, n: part.length, ids: idTable(part) });
  }
  const table = new SegmentTable(refs);
  const someId = sorted[250]!;
  for (const prefix of [someId.slice(0, 1), someId.slice(0, 2), someId.slice(0, 3), someId.slice(0, 9), someId.slice(0, 8), someId, "0", "f", "-", "x1", `${someId.slice(0, 3)}-`]) {
    assert.deepEqual(table.withPrefix(prefix), sorted.filter((id) => id.startsWith(prefix)), prefix);
  }
});

test("a pull of runs named by name, name prefix or id prefix fetches their segments, not the remote's", async () => {
  const target = ids[321]!;
  const name = runName(target);
  const cases: string[][] = [[name], [name.slice(0, 5)], [target.slice(0, 6), runName(ids[7]!)], [name.slice(0, 2)], [target.slice(0, 2)]];
  for (const specs of cases) {
    const got = await planned(specs);
    assert.deepEqual([...got.ids].sort(), [...(await fromEveryRun(specs))].sort(), specs.join(" "));
    assert.ok(got.ids.length > 0);
    assert.ok(got.segments < RUNS / 20, `${specs.join(" ")}: ${got.segments} segments`);
  }
  const one = await planned([name]);
  assert.deepEqual(one, { ids: [target], segments: 1 });
});

test("a where filter tests only the runs named; an index or an unknown name reads as before", async () => {
  const target = ids[42]!;
  const withWhere = await planned([runName(target).slice(0, 3)], "status=completed");
  assert.deepEqual([...withWhere.ids].sort(), [...(await fromEveryRun([runName(target).slice(0, 3)], "status=completed"))].sort());
  assert.ok(withWhere.segments < RUNS / 20);
  const index = await planned(["3"]);
  assert.deepEqual(index.ids, await fromEveryRun(["3"]));
  assert.equal(index.segments, RUNS / 20, "an index is a position among every run");
  await assert.rejects(planned(["zuzuz-zuzuz"]), { code: "RUN_NOT_FOUND" });
});
