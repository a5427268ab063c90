import assert from "node:assert/strict";
import { test } from "node:test";
import { gage } from "./helpers/cli.js";

test("gage --help lists usage and exits 0", async () => {
  const r = await gage(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: gage/);
});

test("an unknown command fails with a usage error", async () => {
  const r = await gage(["no-such-command"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: /);
});
