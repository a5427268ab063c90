// `gage remote check` and `gage remote ls` against s3rver, through the built binary.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";

let s3: S3rverHandle;
let project: string;

before(async () => {
  s3 = await startS3rver();
  project = await mkdtemp(join(tmpdir(), "gage-check-s3-"));
});
after(async () => {
  await s3.stop();
  await rm(project, { recursive: true, force: true });
});

function jsonOf(stdout: string): { ok: boolean; steps: { step: string; status: string; error?: { code: string; hint: string | null } }[] } {
  return JSON.parse(stdout);
}

test("remote check passes against s3rver and reports each step", async () => {
  const r = await gage(["remote", "check", s3.url("check")], { env: s3.env, cwd: project });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Checking s3:\/\/gage-test\/check\n +connect +ok\n +write +ok\n +read +ok\n +delete +ok\nRemote .* is ready\n$/);
  assert.equal(r.stderr, "");
});

test("a configured S3 remote: endpoint from the config, secrets redacted by remote ls", async () => {
  await writeFile(
    join(project, "gageconfig.toml"),
    `[repos.team]\nurl = "${s3.url("team")}"\nendpoint = "${s3.endpoint}"\naccess_key_id = "S3RVER"\nsecret_access_key = "S3RVER"\n`,
  );
  const env = { HOME: project, AWS_CONFIG_FILE: s3.env.AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE: s3.env.AWS_SHARED_CREDENTIALS_FILE };
  const check = await gage(["remote", "check", "team"], { env, cwd: project });
  assert.equal(check.code, 0, check.stderr);
  const ls = await gage(["remote", "ls"], { env, cwd: project });
  assert.equal(ls.code, 0);
  assert.match(ls.stdout, /^team +s3 +s3:\/\/gage-test\/team$/m);
  assert.match(ls.stdout, /secret_access_key = \*\*\*/);
  assert.equal((ls.stdout.match(/S3RVER/g) ?? []).length, 1, "only the access key id is shown");
});

test("credentials and region from an AWS profile (AWS_PROFILE, shared files)", async () => {
  const credentials = join(project, "aws-credentials");
  const config = join(project, "aws-config");
  await writeFile(credentials, "[team]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
  await writeFile(config, "[profile team]\nregion = eu-west-1\n");
  const env = {
    HOME: project,
    AWS_PROFILE: "team",
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_CONFIG_FILE: config,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
  };
  const r = await gage(["remote", "check", s3.url("profile")], { env, cwd: project });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const wrong = await gage(["remote", "check", s3.url("profile"), "--json"], { env: { ...env, AWS_PROFILE: "nobody" }, cwd: project });
  assert.equal(wrong.code, 5, wrong.stdout + wrong.stderr);
  assert.equal(jsonOf(wrong.stdout).steps[0]!.error?.code, "AUTH");
});

test("remote check fails with an authentication error for an unknown access key id", async () => {
  const r = await gage(["remote", "check", s3.url("check"), "--json"], { env: { ...s3.env, AWS_ACCESS_KEY_ID: "WRONG" }, cwd: project });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  const result = jsonOf(r.stdout);
  assert.equal(result.ok, false);
  assert.equal(result.steps[0]!.error?.code, "AUTH");
  assert.ok(result.steps[0]!.error?.hint);
  assert.deepEqual(result.steps.map((s) => s.status), ["failed", "skipped", "skipped", "skipped"]);
  const plain = await gage(["remote", "check", s3.url("check")], { env: { ...s3.env, AWS_ACCESS_KEY_ID: "WRONG" }, cwd: project });
  assert.equal(plain.code, 5, plain.stdout + plain.stderr);
  assert.match(plain.stderr, /^gage: /);
});

test("remote check fails, without hanging, when the server is stopped", async () => {
  await s3.stop();
  const r = await gage(["remote", "check", s3.url("check"), "--json"], { env: s3.env, cwd: project, timeoutMs: 30_000 });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.equal(jsonOf(r.stdout).steps[0]!.error?.code, "UNREACHABLE");
});
