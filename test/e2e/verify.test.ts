import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { packKey } from "../../src/objects/index.js";
import { openStorage } from "../../src/remotes/open.js";
import type { Storage } from "../../src/remotes/storage.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { baseEnv, gage, GAGE_BIN } from "../helpers/cli.js";
import { tempDir, unpackFixtureRuns } from "../helpers/fixtures.js";
import { startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { startSshd, type SshdHandle } from "../helpers/sshd.js";
import { SHARED_RUN } from "../sync/story.js";
import { damageObject, indexKeyOf, locate, manifestOf, truncateKey } from "../sync/verify-damage.js";

const tmp = tempDir("gage-verify-cli-");
let s3: S3rverHandle;
let sshd: SshdHandle;
before(async () => {
  [s3, sshd] = await Promise.all([startS3rver(), startSshd()]);
});
after(async () => {
  await Promise.all([s3?.stop(), sshd?.stop()]);
  tmp.cleanup();
});

let cases = 0;
function runsDir(): string {
  const root = join(tmp.path, `case-${++cases}`);
  mkdirSync(root);
  return unpackFixtureRuns(root);
}

const CLEAN = /^Checked 9 runs in .+: 1 head, 0 catalogs, \d+ packs?, [\d,]+ objects; no problems\n$/;

/**
 * The story every backend goes through, on a store pushed by the binary: clean in both modes, then
 * a flipped byte (found only by --read-data, exit 6), then its pack deleted (exit 3), then that
 * pack's index dropped too (the objects are in no index: exit 3).
 */
async function damageStory(url: string, env: Record<string, string | undefined>, storage: () => Promise<Storage>): Promise<void> {
  const runs = runsDir();
  const e = { ...env, GAGE_RUNS: runs };
  let r = await gage(["push", url, "-y"], { env: e });
  assert.equal(r.code, 0, r.stderr);

  r = await gage(["verify", url], { env: e });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, CLEAN);
  r = await gage(["verify", url, "--read-data", "--json"], { env: e });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { status: string; mode: string; counts: { objects: number; readObjects: number }; problems: unknown[] };
  assert.equal(doc.status, "ok");
  assert.equal(doc.mode, "read-data");
  assert.equal(doc.counts.readObjects, doc.counts.objects);
  assert.deepEqual(doc.problems, []);

  const digest = manifestOf(runs, SHARED_RUN).get("hello.py")!;
  const s = await storage();
  const packId = await damageObject(s, digest);
  r = await gage(["verify", url], { env: e });
  assert.equal(r.code, 0, "the structure is sound: only the file's bytes changed");
  r = await gage(["verify", url, "--read-data"], { env: e });
  assert.equal(r.code, 6, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stdout);
  assert.match(lines[0]!, new RegExp(`^damaged: ${packKey(packId)}: 1 object is damaged \\(the first: .+\\) \\((run|\\d+ runs:) [^)]*${SHARED_RUN.slice(0, 8)}[^)]*\\)\\. Restore `));
  assert.match(r.stderr, /; 1 problem \(1 damaged\)\n$/);

  await s.delete(packKey(packId));
  r = await gage(["verify", url], { env: e });
  assert.equal(r.code, 3, r.stderr);
  // One pack holds every run's objects: all nine are affected.
  assert.match(r.stdout, new RegExp(`^missing: ${packKey(packId)} is missing: its index lists \\d+ objects, \\d+ of them reached by runs \\(9 runs: [0-9a-f]{8}, .* and 4 more\\)\\. Restore it from a backup`));

  await s.delete(await indexKeyOf(s, packId));
  r = await gage(["verify", url], { env: e });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /^missing: \d+ objects? that runs reach (is|are) in no pack index \(/);
  await s.close();
}

test("gage verify over a folder remote: clean, a flipped byte, a lost pack, a lost index", async () => {
  const remote = join(tmp.path, "folder-remote");
  await damageStory(remote, {}, () => openStorage(remote));
});

test("gage verify over S3 (s3rver)", async () => {
  await damageStory(s3.url("verify"), s3.env, () => openStorage(s3.url("verify"), { env: s3.env }));
});

test("gage verify over SSH (sshd)", async () => {
  const path = join(sshd.root, "store");
  await damageStory(sshd.url(path), sshd.env, () => openStorage(sshd.url(path), { env: sshd.env }));
});

test("gage verify: a truncated pack is exit 6; subsets; --local; bad arguments are exit 2", async () => {
  const runs = runsDir();
  const remote = join(tmp.path, "folder-2");
  const env = { GAGE_RUNS: runs };
  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);

  let r = await gage(["verify", remote, "--read-data-subset", "1/1"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /; read [\d,]+ objects \(.+\), part 1\/1: 1 of 1 pack; no problems\n$/);
  r = await gage(["verify", remote, "--read-data-subset", "1/0"], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^gage: Bad --read-data-subset '1\/0'\nGive n\/m/);
  r = await gage(["verify", remote, "zzzz"], { env });
  assert.equal(r.code, 3, "an unknown run");
  assert.match(r.stderr, /No runs match 'zzzz'/);

  const s = await openStorage(remote);
  const { packId } = await locate(s, manifestOf(runs, SHARED_RUN).get("hello.py")!);
  await truncateKey(s, packKey(packId), 2000);
  await s.close();
  r = await gage(["verify", remote], { env });
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stdout, new RegExp(`^damaged: ${packKey(packId)} is truncated or its index is wrong: \\d+ objects its index lists lie outside it`));

  r = await gage(["verify", "--local"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Checked 9 runs in .+: \d+ files \(.+\) against their manifests; no problems\n$/);
  const file = join(runs, SHARED_RUN, "hello.py");
  chmodSync(join(runs, SHARED_RUN), 0o755);
  chmodSync(file, 0o644);
  writeFileSync(file, "print('changed')\n");
  r = await gage(["verify", "--local", "--json"], { env });
  assert.equal(r.code, 6);
  const doc = JSON.parse(r.stdout) as { problems: { kind: string; runs: string[]; where: string }[] };
  assert.deepEqual(doc.problems.map((p) => [p.kind, p.runs, p.where]), [["file-damaged", [SHARED_RUN], `${SHARED_RUN}/hello.py`]]);
  r = await gage(["verify", "--local", SHARED_RUN.slice(0, 8)], { env });
  assert.equal(r.code, 6);
  assert.equal(r.stdout, `damaged: ${SHARED_RUN}: 1 file differs from its manifest: hello.py (run ${SHARED_RUN.slice(0, 8)}). Restore them from a copy ('gage clone REMOTE NEWDIR' gets the remote's), and push this run only once they match its manifest again.\n`);
  r = await gage(["verify", "--local", remote], { env });
  assert.equal(r.code, 3, "with --local every argument is a run");
  r = await gage(["verify", "--local", "--read-data"], { env });
  assert.equal(r.code, 2);
  r = await gage(["verify"], { env: { GAGE_RUNS: runsDir() } });
  assert.equal(r.code, 2, "no remote and no default remote");
  assert.match(r.stderr, /No remote given/);
});

test("gage verify on a terminal shows progress on stderr; piped or --json it shows none", async () => {
  const runs = runsDir();
  const remote = join(tmp.path, "folder-tty");
  const env = { GAGE_RUNS: runs };
  assert.equal((await gage(["push", remote, "-y"], { env })).code, 0);
  // `script` (util-linux, in every Debian) runs the command on a real pseudo-terminal.
  const command = `"${process.execPath}" "${GAGE_BIN}" verify "${remote}" --read-data`;
  const { stdout } = await promisify(execFile)("script", ["-qec", command, "/dev/null"], { env: baseEnv({ ...env, TERM: "xterm" }) });
  assert.match(stdout, /Checking trees…/);
  assert.match(stdout, /[\d,]+\/[\d,]+ objects \| /, "the bar counts objects");
  assert.match(stdout, /Checked 9 runs in .+; no problems/);
  const piped = await gage(["verify", remote, "--read-data"], { env });
  assert.doesNotMatch(piped.stderr, /\r|\x1b/, "no control sequences when stderr is not a terminal");
});
