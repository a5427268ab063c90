import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gage } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";
import { makeRun, RUN_A } from "../helpers/make-runs.js";
import { startSshd, type SshdHandle } from "../helpers/sshd.js";

// A path on an SSH server that does not exist is not an empty store either (real sshd).

const tmp = tempDir("gage-mistakes-ssh-");
let sshd: SshdHandle;
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
  tmp.cleanup();
});

test("an SSH path that does not exist, or is a file: exit 3 naming it; a push creates the folder", async () => {
  const runs = join(tmp.path, "runs");
  mkdirSync(runs);
  makeRun(runs, RUN_A, [["train.py", "print('a')\n"]]);
  const env = { ...sshd.env, GAGE_RUNS: runs };
  const missing = sshd.url(join(sshd.root, "no-such-store"));
  for (const args of [["pull", missing, "-y"], ["ls", "--remote", missing], ["status", missing]]) {
    const r = await gage(args, { env });
    assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^gage: No store at ${missing.replace(/[.]/g, "\\.")}: the folder does not exist\n`), args[0]);
  }
  const dest = join(tmp.path, "clone");
  assert.equal((await gage(["clone", missing, dest], { env: sshd.env })).code, 3);
  assert.equal(existsSync(dest), false);

  writeFileSync(join(sshd.root, "a-file"), "x");
  const file = await gage(["pull", sshd.url(join(sshd.root, "a-file")), "-y"], { env });
  assert.equal(file.code, 3, file.stderr);
  assert.match(file.stderr, /: it is a file, not a folder\n/);

  assert.equal((await gage(["push", missing, "-y"], { env })).code, 0);
  const cloned = await gage(["clone", missing, dest], { env: sshd.env });
  assert.equal(cloned.code, 0, cloned.stderr);
  assert.ok(existsSync(join(dest, RUN_A, "train.py")));
});

test("copy --from an SSH folder holding a name that is not UTF-8: exit 2 naming the file, nothing written", async () => {
  const plain = join(sshd.root, "plain");
  mkdirSync(plain);
  // Latin-1 `café.txt`: SFTP (ssh2) decodes names as UTF-8, so this file could not be read back by its name.
  makeRun(plain, RUN_A, [["train.py", "print('a')\n"], [Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]), "latin-1\n"]]);
  // A store on the same server is not stopped by stray names outside the keys it lists.
  const store = join(sshd.root, "store-with-stray");
  const runs = join(tmp.path, "runs-stray");
  mkdirSync(runs);
  makeRun(runs, RUN_A, [["train.py", "print('a')\n"]]);
  assert.equal((await gage(["push", sshd.url(store), "-y"], { env: { ...sshd.env, GAGE_RUNS: runs } })).code, 0);
  writeFileSync(Buffer.from(`${store}/notes-\xe9`, "latin1"), "a stray file\n");
  const listed = await gage(["ls", "--remote", sshd.url(store)], { env: { ...sshd.env, GAGE_RUNS: runs } });
  assert.equal(listed.code, 0, listed.stderr);
  const dest = join(tmp.path, "dest-raw-name");
  mkdirSync(dest);
  const r = await gage(["copy", "--from", sshd.url(plain), "--all", "-y"], { env: { ...sshd.env, GAGE_RUNS: dest } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^gage: '${RUN_A}/caf\uFFFD\\.txt' in ssh://.* has a name that is not valid UTF-8, which SFTP cannot name; nothing was written\n`));
  assert.match(r.stderr, /convmv/);
  assert.deepEqual(readdirSync(dest), []);
});
