import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { makeCertificates } from "../helpers/certificates.js";
import { gage, GAGE_LAUNCHER } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, RUN_A } from "../helpers/make-runs.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";

// bin/gage, the command `npm link` installs: it runs dist/bundle/gage.cjs with Node, handing
// NODE_EXTRA_CA_CERTS over so that Node does not read it at start; gage trusts the file from its
// first TLS connection (src/cli/deferred-ca-certs.ts). Checked against s3rver over HTTPS with a
// certificate from a private authority (test/helpers/certificates.ts).

const tmp = tempDir("gage-launcher-");
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
let s3: S3rverHandle;
let caFile: string;
let runs: string;

before(async () => {
  const certs = await makeCertificates(tmp.path);
  caFile = certs.ca;
  s3 = await startS3rver({ tls: { keyFile: certs.key, certFile: certs.cert } });
  runs = join(tmp.path, "runs");
  mkdirSync(runs);
  makeRun(runs, RUN_A, [["train.py", "print('a')\n"]]);
});
after(async () => {
  await s3?.stop();
  tmp.cleanup();
});

test("bin/gage runs the command through the links npm makes to it", async () => {
  const bin = join(tmp.path, "bin");
  const lib = join(tmp.path, "lib");
  mkdirSync(bin);
  mkdirSync(lib);
  // npm link: PREFIX/bin/gage -> ../lib/gage (relative) -> the launcher (absolute)
  symlinkSync(GAGE_LAUNCHER, join(lib, "gage"));
  symlinkSync("../lib/gage", join(bin, "gage"));
  for (const command of [GAGE_LAUNCHER, join(bin, "gage")]) {
    const r = await gage(["--version"], { command });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION, command);
  }
  const r = await gage(["--version"], { command: "gage", env: { PATH: `${bin}:${process.env.PATH}` } });
  assert.equal(r.stdout.trim(), VERSION, "found on PATH");
});

test("Node does not read NODE_EXTRA_CA_CERTS when a command run by bin/gage makes no TLS connection", async () => {
  const env = { GAGE_RUNS: runs, NODE_EXTRA_CA_CERTS: join(tmp.path, "no-such-file.pem") };
  // Run by Node directly, the file is read at start: Node warns that it cannot.
  const direct = await gage(["ls"], { env });
  assert.equal(direct.code, 0, direct.stderr);
  assert.match(direct.stderr, /Ignoring extra certs from `.*no-such-file\.pem`/);
  const launched = await gage(["ls"], { env, command: GAGE_LAUNCHER });
  assert.equal(launched.code, 0, launched.stderr);
  assert.equal(launched.stdout, direct.stdout);
  assert.equal(launched.stderr, "", "the file was never read");
});

test("an operation that gage runs sees NODE_EXTRA_CA_CERTS as it was given", async () => {
  const project = join(tmp.path, "project");
  mkdirSync(project);
  writeFileSync(join(project, "gage.toml"), '[env]\nexec = ["sh", "-c", "printf \'%s|%s\' \\"$NODE_EXTRA_CA_CERTS\\" \\"$GAGE_DEFERRED_CA_CERTS\\" > seen.txt"]\n');
  const opRuns = join(tmp.path, "op-runs");
  const r = await gage(["run", "env", "-y"], { cwd: project, command: GAGE_LAUNCHER, env: { GAGE_RUNS: opRuns, NODE_EXTRA_CA_CERTS: caFile } });
  assert.equal(r.code, 0, r.stderr);
  const [id] = readdirSync(opRuns).filter((n) => !n.includes("."));
  assert.equal(readFileSync(join(opRuns, id!, "seen.txt"), "utf8"), `${caFile}|`);
});

test("S3 over HTTPS trusts the authority that NODE_EXTRA_CA_CERTS names, run by bin/gage or by Node", async () => {
  const env = { ...s3.env, GAGE_RUNS: runs };
  // Without the authority the server's certificate is refused: the check below can fail.
  const untrusted = await gage(["push", s3.url("team"), "-y"], { env, command: GAGE_LAUNCHER });
  assert.notEqual(untrusted.code, 0, untrusted.stdout);
  assert.match(untrusted.stderr, /certificate/i);

  const pushed = await gage(["push", s3.url("team"), "-y"], { env: { ...env, NODE_EXTRA_CA_CERTS: caFile }, command: GAGE_LAUNCHER });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stdout + pushed.stderr, /Pushed 1 run/, pushed.stderr);

  const listings: string[] = [];
  for (const command of [GAGE_LAUNCHER, undefined]) {
    const listed = await gage(["ls", "--remote", s3.url("team")], { env: { ...env, NODE_EXTRA_CA_CERTS: caFile }, command });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /\| 1 +\| \w+ +\| proj:hello /);
    listings.push(listed.stdout);
  }
  assert.equal(listings[0], listings[1]);

  // A file that cannot be read is ignored with Node's warning, as Node ignores it.
  const missing = await gage(["ls", "--remote", s3.url("team")], { env: { ...env, NODE_EXTRA_CA_CERTS: join(tmp.path, "gone.pem") }, command: GAGE_LAUNCHER });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /Ignoring extra certs from `.*gone\.pem`, load failed/);
});
