import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { SHARED_RUN } from "../sync/story.js";

const tmp = tempDir("gage-sync-cli-");
after(() => tmp.cleanup());

test("push, clone, label, push back, status and pull through the CLI", async () => {
  const root = join(tmp.path, "story");
  mkdirSync(root);
  const a = unpackFixtureRuns(root);
  const b = join(root, "b");
  const remote = join(root, "remote");
  const envA = { GAGE_RUNS: a };
  const envB = { GAGE_RUNS: b };

  let r = await gage(["push", remote], { env: envA });
  assert.equal(r.code, 2, "no terminal to confirm on: asks for -y");
  assert.match(r.stderr, /-y/);

  r = await gage(["push", remote, "--dry-run"], { env: envA });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Would push 9 runs to /);
  assert.match(r.stdout, /\| miv.* \| proj:hello/);

  r = await gage(["push", remote, "-y"], { env: envA });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Pushed 9 runs \([\d.]+ [kMG]?B, [\d,]+ objects\)\n$/);
  r = await gage(["push", remote, "-y"], { env: envA });
  assert.equal(r.stderr, "Nothing pushed, runs are up-to-date\n");

  const localLs = await gage(["ls", "-s"], { env: envA });
  r = await gage(["ls", "-s", "--remote", remote], { env: { GAGE_RUNS: join(root, "nowhere") } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, localLs.stdout, "the remote lists as the runs pushed");

  r = await gage(["clone", remote, b], {});
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Cloned 9 runs \(/);

  r = await gage(["remote", "default"], { env: envB });
  assert.equal(r.stdout, `${remote}\n`, "clone records the remote as the default");

  r = await gage(["label", SHARED_RUN.slice(0, 8), "--set", "Just an example", "-y"], { env: envB });
  assert.equal(r.code, 0, r.stderr);
  r = await gage(["push", "-y", "--json"], { env: envB });
  assert.equal(r.code, 0, r.stderr);
  const pushed = JSON.parse(r.stdout) as { runs: { id: string; what: string }[]; result: { upToDate: number } };
  assert.deepEqual(pushed.runs.map((x) => [x.id, x.what]), [[SHARED_RUN, "user +1"]]);
  assert.equal(pushed.result.upToDate, 8);

  r = await gage(["status", remote, "--json"], { env: envA });
  const states = (JSON.parse(r.stdout) as { runs: { id: string; state: string }[] }).runs;
  assert.equal(states.find((x) => x.id === SHARED_RUN)!.state, "behind");
  assert.equal(states.filter((x) => x.state === "in sync").length, 8);

  r = await gage(["pull", remote, "-y"], { env: envA });
  assert.equal(r.stderr, "Pulled 1 run (8 runs already up to date)\n");
  r = await gage(["select", SHARED_RUN.slice(0, 8), "--label"], { env: envA });
  assert.equal(r.stdout, "Just an example\n");

  // A true divergence: exit status 4, naming the run and the path; --force settles it.
  for (const [dir, text] of [[a, "A"], [b, "B"]] as const) {
    const file = join(dir, SHARED_RUN, "hello.py");
    chmodSync(file, 0o644);
    writeFileSync(file, `print('${text}')\n`);
  }
  assert.equal((await gage(["push", "-y"], { env: envB })).code, 0);
  r = await gage(["pull", remote, "-y"], { env: envA });
  assert.equal(r.code, 4);
  assert.match(r.stderr, new RegExp(`${SHARED_RUN}: ${SHARED_RUN}/hello.py`));
  r = await gage(["pull", remote, "-y", "--force"], { env: envA });
  assert.equal(r.code, 0, r.stderr);
  r = await gage(["push", remote, "-y"], { env: envA });
  assert.equal(r.code, 0, r.stderr);
  r = await gage(["pull", "-y"], { env: envB });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Pulled 1 run/);
});

test("push with no remote and no default remote is a usage error", async () => {
  const root = join(tmp.path, "nodefault");
  mkdirSync(root);
  const a = unpackFixtureRuns(root);
  const r = await gage(["push", "-y"], { env: { GAGE_RUNS: a } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /gage remote default/);
});
