import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runPaths } from "../../src/runs/layout.js";
import { statePaths } from "../../src/state/index.js";
import { push } from "../../src/sync/index.js";
import { freshCases, SHARED_RUN } from "./story.js";

const fresh = freshCases("gage-sync-local-state-");
const GONE = "c21299fd-4f2b-401b-aee7-33485158bad3";

test("a push of every run that moves some forgets the histories of runs no longer here", async () => {
  const { origin, remote } = fresh();
  await push({ runsDir: origin, remote });
  assert.ok(existsSync(statePaths.history(origin, GONE)));
  // The run is removed for good (as `gage purge` does), then another run changes.
  for (const name of readdirSync(origin).filter((n) => n.startsWith(GONE))) {
    execFileSync("chmod", ["-R", "u+w", join(origin, name)]);
    execFileSync("rm", ["-rf", join(origin, name)]);
  }
  const dir = runPaths(origin, SHARED_RUN).runDir;
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "new.txt"), "new\n");
  const pushed = await push({ runsDir: origin, remote });
  assert.deepEqual(pushed.runs.map((r) => r.id), [SHARED_RUN]);
  assert.ok(!existsSync(statePaths.history(origin, GONE)), "the purged run's history is gone");
  assert.ok(existsSync(statePaths.history(origin, SHARED_RUN)));
});
