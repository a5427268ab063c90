import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, RUN_A } from "../helpers/make-runs.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";

// S3 mistakes on a real S3 server (s3rver): a bucket that does not exist, and credentials that
// a `[repos.NAME]` table sets wrongly. Each is one message naming what to fix.

const tmp = tempDir("gage-mistakes-s3-");
let s3: S3rverHandle;
let runs: string;
before(async () => {
  s3 = await startS3rver();
  runs = join(tmp.path, "runs");
  mkdirSync(runs);
  makeRun(runs, RUN_A, [["train.py", "print('a')\n"]]);
});
after(async () => {
  await s3?.stop();
  tmp.cleanup();
});

test("a missing bucket is exit 3 with a hint to create it, for every command", async () => {
  const url = "s3://no-such-bucket/team";
  for (const args of [["push", url, "-y"], ["pull", url, "-y"], ["ls", "--remote", url], ["status", url], ["clone", url, join(tmp.path, "clone")]]) {
    const r = await gage(args, { env: { ...s3.env, GAGE_RUNS: runs } });
    assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`);
    const [first, hint] = r.stderr.trimEnd().split("\n");
    assert.equal(first, "gage: Bucket 'no-such-bucket' does not exist at this endpoint", args[0]);
    assert.match(hint!, /Create the bucket first \(e\.g\. 'aws s3 mb s3:\/\/no-such-bucket'\)/);
  }
  assert.equal(existsSync(join(tmp.path, "clone")), false, "the failed clone left no folder");
});

test("wrong credentials from a [repos.NAME] table: the hint names that table's keys and its file", async () => {
  const project = join(tmp.path, "project");
  mkdirSync(project);
  const config = join(project, "gageconfig.toml");
  writeFileSync(
    config,
    `[repos.team]\nurl = "${s3.url("team")}"\nendpoint = "${s3.endpoint}"\naccess_key_id = "WRONGKEY"\nsecret_access_key = "wrong-secret"\n`,
  );
  const env = { GAGE_RUNS: runs, AWS_CONFIG_FILE: s3.env.AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE: s3.env.AWS_SHARED_CREDENTIALS_FILE, AWS_REGION: "us-east-1" };
  const r = await gage(["push", "team", "-y"], { cwd: project, env });
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /^gage: S3 refused the credentials for s3:\/\/gage-test\/team \(InvalidAccessKeyId\)\n/);
  assert.match(r.stderr, new RegExp(`Check access_key_id and secret_access_key in \\[repos\\.team\\] of ${config.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
  assert.doesNotMatch(r.stderr, /wrong-secret/, "the secret is never printed");

  // The same wrong keys from the environment: the hint names the environment variables.
  const fromEnv = await gage(["push", s3.url("team"), "-y"], { env: { ...s3.env, GAGE_RUNS: runs, AWS_ACCESS_KEY_ID: "WRONGKEY" } });
  assert.equal(fromEnv.code, 5, fromEnv.stderr);
  assert.match(fromEnv.stderr, /Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
});

test("copy --to S3 of a file whose name is not UTF-8 stops before writing, naming it (S3 keys are UTF-8)", async () => {
  const source = join(tmp.path, "raw-names");
  makeRun(source, RUN_A, [["train.py", "print(1)\n"], [Buffer.from([0x63, 0x61, 0x66, 0xe9]), "latin-1\n"]]);
  const url = s3.url("plain");
  const r = await gage(["copy", "--to", url, "--all", "-y"], { env: { ...s3.env, GAGE_RUNS: source } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^gage: A file name is not valid UTF-8 and cannot be kept in ${url.replace(/[/.]/g, "\\$&")} \\(its keys are UTF-8\\): '${RUN_A}/caf\\\\xe9'; nothing was written\n`));
  const listed = await gage(["copy", "--from", url, "--all", "--dry-run"], { env: { ...s3.env, GAGE_RUNS: join(tmp.path, "elsewhere") } });
  assert.match(listed.stderr, /Nothing copied/, "no key was written under the prefix");
});
