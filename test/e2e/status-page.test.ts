import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { status } from "../../src/sync/status.js";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun } from "../helpers/make-runs.js";

// `gage status` lists every run here and a screenful of the runs only on the remote: a member of
// a team remote of 100,000 runs gets a table of its own runs, not of the remote's.

const tmp = tempDir("gage-status-page-");
after(() => tmp.cleanup());

const REMOTE_RUNS = 25;
const id = (n: number) => `${n.toString(16).padStart(8, "0")}-2222-4222-8222-222222222222`;
const LOCAL = "ffffffff-3333-4333-8333-333333333333";

interface StatusJson {
  runs: { id: string; state: string }[];
  remoteOnly: number;
  remoteOnlyOmitted: number;
}

test("status shows a screenful of remote-only runs and counts the rest; --all lists them, --json counts them", async () => {
  const a = join(tmp.path, "a");
  const b = join(tmp.path, "b");
  const remote = join(tmp.path, "remote");
  for (let n = 1; n <= REMOTE_RUNS; n++) makeRun(a, id(n), [["train.py", `print(${n})\n`]], { started: 1_795_678_950_000_000 + n * 60_000_000 });
  let r = await gage(["push", remote, "-y"], { env: { GAGE_RUNS: a } });
  assert.equal(r.code, 0, r.stderr);
  makeRun(b, LOCAL, [["train.py", "print('here')\n"]]);
  const env = { GAGE_RUNS: b };

  r = await gage(["status", remote], { env });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.filter((l) => / remote-only /.test(l)).length, 20, r.stdout);
  assert.equal(lines.filter((l) => / local-only /.test(l)).length, 1, r.stdout);
  assert.equal(lines.at(-1), "… and 5 more runs only on the remote (--all lists them)");

  r = await gage(["status", remote, "--all"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split("\n").filter((l) => / remote-only /.test(l)).length, REMOTE_RUNS, r.stdout);
  assert.doesNotMatch(r.stdout, /more runs only on the remote/);

  r = await gage(["status", remote, "--json"], { env });
  let json = JSON.parse(r.stdout) as StatusJson;
  assert.deepEqual(json.runs.map((x) => [x.id, x.state]), [[LOCAL, "local-only"]], "rows of this directory's runs only");
  assert.equal(json.remoteOnly, REMOTE_RUNS);
  assert.equal(json.remoteOnlyOmitted, REMOTE_RUNS);

  r = await gage(["status", remote, "--json", "-a"], { env });
  json = JSON.parse(r.stdout) as StatusJson;
  assert.equal(json.runs.length, REMOTE_RUNS + 1);
  assert.equal(json.runs.filter((x) => x.state === "remote-only").length, REMOTE_RUNS);
  assert.equal(json.remoteOnlyOmitted, 0);

  // Runs named are listed, whatever the page.
  r = await gage(["status", remote, id(3), "--json"], { env });
  json = JSON.parse(r.stdout) as StatusJson;
  assert.deepEqual(json.runs.map((x) => [x.id, x.state]), [[id(3), "remote-only"]]);
  assert.deepEqual([json.remoteOnly, json.remoteOnlyOmitted], [1, 0]);

  r = await gage(["status", "--help"], { env });
  assert.match(r.stdout, /-a, --all/);
  assert.match(r.stdout, /count/);
});

test("the library's status gives the first rows of remote-only runs and their count", async () => {
  const b = join(tmp.path, "b");
  const remote = join(tmp.path, "remote");
  const page = await status({ runsDir: b, remote, remoteOnlyRows: 3 });
  assert.equal(page.remoteOnly, REMOTE_RUNS);
  assert.equal(page.remoteOnlyOmitted, REMOTE_RUNS - 3);
  assert.equal(page.runs.filter((x) => x.state === "remote-only").length, 3);
  const all = await status({ runsDir: b, remote, remoteOnlyRows: Infinity });
  assert.equal(all.runs.filter((x) => x.state === "remote-only").length, REMOTE_RUNS);
  // Newest first, this directory's run among them by its time.
  const started = (x: { id: string }) => (x.id === LOCAL ? 1_795_678_950 : 1_795_678_950 + Number.parseInt(x.id.slice(0, 8), 16) * 60);
  assert.deepEqual(all.runs.map(started), all.runs.map(started).sort((p, q) => q - p));
});
