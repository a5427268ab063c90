import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { baseEnv } from "../helpers/cli.js";

const DEMO = fileURLToPath(new URL("../../scripts/demo.mjs", import.meta.url));

test("the demo (npm run demo) runs the share-and-retrieve story end to end", () => {
  const r = spawnSync(process.execPath, [DEMO], { env: baseEnv(), encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\$ GAGE_RUNS=\$DEMO\/alice-runs gage select --label\nReviewed by Bob\n/);
  assert.match(r.stdout, /Pushed 1 run \(/);
  assert.match(r.stdout, /Cloned 1 run \(/);
  assert.match(r.stdout, /\| [a-z]{5} \| hello:hello .*\| behind/);
  assert.match(r.stdout, /Demo complete/);
});
