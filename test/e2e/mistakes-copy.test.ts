import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, RUN_A } from "../helpers/make-runs.js";

const tmp = tempDir("gage-mistakes-copy-");
after(() => tmp.cleanup());
let n = 0;
const fresh = () => {
  const root = join(tmp.path, `case-${++n}`);
  mkdirSync(root);
  return root;
};

test("copy --from a folder whose run ids are not UUIDs: one line naming them, exit 3, nothing written", async () => {
  const root = fresh();
  const source = join(root, "source");
  const dest = join(root, "dest");
  mkdirSync(dest);
  for (const id of ["run1", "0123abcd", "0123abcd-zz"]) makeRun(source, id, [["train.py", "print(1)\n"]]);
  const r = await gage(["copy", "--from", source, "--all", "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(r.code, 3, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at |unexpected error/);
  assert.match(r.stderr, new RegExp(`gage: No runs to copy in ${source}: .*(0123abcd|run1).* (is not a run id|are not run ids) \\(a run id is a UUID\\)\n`));
  assert.deepEqual(readdirSync(dest), []);

  // Beside a real run, the others are named in a warning each and the real one is copied.
  makeRun(source, RUN_A, [["train.py", "print(2)\n"]]);
  const mixed = await gage(["copy", "--from", source, "--all", "-y"], { env: { GAGE_RUNS: dest } });
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.match(mixed.stderr, /Copied 1 run/);
  assert.ok(existsSync(join(dest, RUN_A, "train.py")));
  assert.equal(readdirSync(dest).filter((name) => !name.startsWith(RUN_A)).length, 0, "only the real run came");
});
