// A label and a comment holding terminal control sequences, written on one machine and pushed to
// a shared remote, must reach other machines' terminals escaped: `\x1b[31m` as text, never as
// a color change; `\r` and NUL never raw.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { appendUserLog } from "../../src/runs/user-log.js";
import { gage } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";

const tmp = tempDir("gage-escaped-");
after(() => tmp.cleanup());

const LABEL = "Red \x1b[31malert\r\0 done";
const COMMENT = "Looks fine\x1b[2J\x1b[H\x07";
const RUN = "360b9788-5f7e-4028-8eb1-6b97639c09ea"; // gimar-nivam
// Raw control characters other than the line breaks every output has.
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

test("a hostile label and comment from a remote print escaped in every listing", async () => {
  const a = unpackFixtureRuns(tmp.path);
  const b = join(tmp.path, "b");
  mkdirSync(b);
  const remote = join(tmp.path, "remote");
  const userDir = join(a, `${RUN}.user`);
  await appendUserLog(userDir, { set: { label: LABEL } }, { author: "mallory", nowMs: Date.UTC(2026, 11, 1) });
  await appendUserLog(userDir, { set: { "comment:01a2aaaa-0000": { msg: COMMENT, timestamp: Date.UTC(2026, 11, 1) } } }, { author: "mallory\x1b[1m", nowMs: Date.UTC(2026, 11, 1) });
  let r = await gage(["push", remote, "-y"], { env: { GAGE_RUNS: a } });
  assert.equal(r.code, 0, r.stderr);

  const envB = { GAGE_RUNS: b, COLUMNS: "100" };
  const outputs: Array<[string, string]> = [];
  const check = async (args: string[], env: Record<string, string> = envB) => {
    const res = await gage(args, { env });
    assert.equal(res.code, 0, `${args.join(" ")}: ${res.stderr}`);
    outputs.push([args.join(" "), res.stdout + res.stderr]);
    return res;
  };

  r = await check(["pull", remote, "--dry-run"]);
  assert.match(r.stdout, /\| gimar \| proj:hello +\| Red \\x1b\[31malert\\r\\x00 done +\|/);
  r = await check(["ls", "-s", "--remote", remote]);
  assert.match(r.stdout, /\| Red \\x1b\[31malert\\r\\x00 done +\|/);
  await check(["pull", remote, "-y"]);
  r = await check(["ls"]);
  assert.match(r.stdout, /\| Red \\x1b\[31malert\\r\\x00 done +\|/);
  r = await check(["show", "gimar"]);
  assert.match(r.stdout, /\n\| Red \\x1b\[31malert\\r\\x00 done +\|\n/);
  assert.match(r.stdout, /\n\| mallory\\x1b\[1m +\d+ \w+ ago \|\n/);
  assert.match(r.stdout, /\n\| Looks fine\\x1b\[2J\\x1b\[H\\x07 +\|\n/);
  r = await check(["comment", "--list", "gimar"]);
  assert.match(r.stdout, /\| author +mallory\\x1b\[1m +\|/);
  r = await check(["status", remote]);
  assert.match(r.stdout, /Red \\x1b\[31malert/);
  // Scripts that read the label get its bytes as they are (stdout is not a terminal here).
  r = await check(["select", "--label", "gimar"]);
  assert.equal(r.stdout, `${LABEL}\n`);
  outputs.pop();

  for (const [cmd, text] of outputs) assert.doesNotMatch(text, RAW_CONTROL, cmd);
});
